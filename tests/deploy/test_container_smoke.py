"""The container image, built and run for real with podman (scripts/container-smoke.py):
migrate in a container, then the app with --read-only --cap-drop=ALL as its non-root user
against a throwaway PostgreSQL; /readyz, GET /, /list; UID != 0; SIGTERM -> exit 0 in < 10 s.

Locally a missing podman/debootstrap/PostgreSQL skips with the reason; under CI=true it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.support.tools import unavailable

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts/container-smoke.sh"  # what `make smoke` runs
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
LOCAL_BASE = "localhost/shipshape-base:py3.11-bookworm"

pytestmark = pytest.mark.slow


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO / "deploy/containers/containers.conf"))
    return env


def passwordless_sudo() -> bool:
    if shutil.which("sudo") is None:
        return False
    return subprocess.run(["sudo", "-n", "true"], capture_output=True, check=False).returncode == 0


def podman() -> list[str]:
    """Rootful podman, as the smoke script runs it: as root, or through passwordless sudo (a
    hosted runner's user), with this repository's containers.conf."""
    if os.geteuid() == 0:
        return ["podman"]
    return ["sudo", "-n", "env", f"CONTAINERS_CONF={podman_env()['CONTAINERS_CONF']}", "podman"]


@pytest.fixture(scope="module")
def prerequisites() -> None:
    if shutil.which("podman") is None:
        unavailable("podman not installed (apt-get install -y podman buildah uidmap)")
    if os.geteuid() != 0 and not passwordless_sudo():
        unavailable("rootful podman and debootstrap: run as root or with passwordless sudo")
    if not (PG_BIN / "initdb").exists():
        unavailable(f"PostgreSQL 15 binaries not found in {PG_BIN}")
    if not os.environ.get("BASE_IMAGE"):
        exists = subprocess.run(
            [*podman(), "image", "exists", LOCAL_BASE], env=podman_env(), check=False
        )
        if exists.returncode != 0 and shutil.which("debootstrap") is None:
            unavailable("debootstrap not installed (needed once to build the offline base image)")


@pytest.fixture(scope="module")
def report(prerequisites: None) -> dict:
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    path = artifacts / "container-smoke.json"
    path.unlink(missing_ok=True)
    result = subprocess.run(
        ["bash", str(SCRIPT), "--report", str(path)],
        capture_output=True,
        text=True,
        env=podman_env(),
        timeout=1800,
        check=False,
    )
    sys.stderr.write(result.stderr[-8000:])
    assert path.exists(), f"no report; exit {result.returncode}\n{result.stderr[-8000:]}"
    data = json.loads(path.read_text())
    assert result.returncode == 0, f"{data.get('error')}\n{result.stderr[-8000:]}"
    return data


def test_smoke_passed(report: dict) -> None:
    assert report["result"] == "passed"


def test_image_size_and_build_time_recorded(report: dict) -> None:
    assert report["image_size_mb"] < 200, "image size budget (docs/container.md)"
    assert report["build_seconds"] > 0


def test_version_is_the_release_version_the_image_was_built_for(report: dict) -> None:
    """GET /version (what the release gate compares) reports the build arg VERSION, not the
    package version from pyproject.toml."""
    package = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert report["build_version"] != package, "the smoke build must use a distinct version"
    assert report["served_version"] == report["build_version"]
    assert report["image_version_label"] == report["build_version"]


def test_runs_as_the_non_root_user(report: dict) -> None:
    uids = report["process"]["uids"]
    assert uids
    assert 0 not in uids
    assert set(uids) == {10001}


def test_sigterm_exits_zero_within_ten_seconds(report: dict) -> None:
    assert report["exit_code"] == 0
    assert report["stop_seconds"] < 10
    # Turned not-ready while still serving (the drain window) before exiting.
    assert report["draining_livez_status"] == 200


@pytest.mark.parametrize(
    "override", [None, "compose.mariadb.yaml"], ids=["default", "with_override"]
)
def test_the_image_accepts_the_compose_configuration(report: dict, override: str | None) -> None:
    """compose.yaml's app environment + its dev secret files, validated by the real app."""
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    env = dict(compose["services"]["app"]["environment"])
    if override:
        env.update(yaml.safe_load((REPO / override).read_text())["services"]["app"]["environment"])
    env = {k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}
    args = [f"--env={k}={v}" for k, v in env.items()]
    secrets = REPO / "deploy/containers/dev-secrets"
    result = subprocess.run(
        [
            *podman(),
            "run",
            "--rm",
            "--read-only",
            "--cap-drop=ALL",
            "--network=none",
            "--user=10001:10001",
            f"--volume={secrets}:/run/secrets:ro",
            *args,
            report["image"],
            "check-config",
        ],
        capture_output=True,
        text=True,
        env=podman_env(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = json.loads(result.stdout)
    assert config["admin_token"] != (secrets / "admin_token").read_text()
    assert config["admin_token"] is not None, "SHIPSHAPE_ADMIN_TOKEN_FILE was not read"
    assert config["database_password"] is not None, "SHIPSHAPE_DATABASE_PASSWORD_FILE not read"
    assert (secrets / "db_password").read_text() not in result.stdout
    assert config["trusted_proxies"] == env["SHIPSHAPE_TRUSTED_PROXIES"].split(",")
    assert config["database_url"] == env["DATABASE_URL"]
