"""compose.yaml (+ the MariaDB override): valid against the Compose specification, and the
invariants the stack relies on, checked on the stack as `docker compose` loads it: compose-go
(the loader docker compose uses; tests/support/compose.py) interpolates, resolves and merges the
files, so the override's effect is Compose's own merge, not a re-implementation. A few checks
read the raw files for how something is written. No engine runs here; the image itself is
exercised by test_container_smoke.py."""

from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support import compose as compose_go
from tests.support.tools import require_tool

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose.yaml"
MARIADB = REPO / "compose.mariadb.yaml"
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.I)
APP_UID = "10001"


def find_tool(name: str) -> str:
    return require_tool(name, "uv sync installs it into .venv")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


# Interpolation as a user without any overrides in their environment gets it.
DEFAULT_ENV: dict[str, str] = {}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return compose_go.load(COMPOSE, env=DEFAULT_ENV)


@pytest.fixture(scope="module")
def mariadb_stack() -> dict[str, Any]:
    return compose_go.load(COMPOSE, MARIADB, env=DEFAULT_ENV)


def secret_sources(service: dict[str, Any]) -> set[str]:
    return {s["source"] if isinstance(s, dict) else s for s in service.get("secrets") or []}


def long_running(service: dict[str, Any]) -> bool:
    return str(service.get("restart", "no")) != "no"


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


# ----------------------------------------------------------------------------- schema


@pytest.mark.parametrize("path", [COMPOSE, MARIADB], ids=lambda p: p.name)
def test_valid_against_the_compose_specification(path: Path) -> None:
    tool = find_tool("check-jsonschema")
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_does_catch_mistakes(tmp_path: Path) -> None:
    """Guard against a validator that passes anything (podman-compose `config` does)."""
    tool = find_tool("check-jsonschema")
    broken = load(COMPOSE)
    broken["services"]["app"]["restart_policy"] = "always"  # not a Compose key
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0


# ----------------------------------------------------------------------------- invariants


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"proxy", "app", "migrate", "db"}


@pytest.mark.parametrize("variant", ["default", "with_mariadb_override"])
def test_only_the_proxy_publishes_a_port(
    variant: str, compose: dict[str, Any], mariadb_stack: dict[str, Any]
) -> None:
    stack = compose if variant == "default" else mariadb_stack
    publishing = {name for name, svc in stack["services"].items() if svc.get("ports")}
    assert publishing == {"proxy"}
    for name, svc in stack["services"].items():
        assert svc.get("network_mode") != "host", f"{name} must not use the host network"


def test_the_published_port_is_loopback_by_default(compose: dict[str, Any]) -> None:
    (raw,) = load(COMPOSE)["services"]["proxy"]["ports"]
    assert isinstance(raw, dict), "long syntax, so that the bind address is explicit"
    (port,) = compose["services"]["proxy"]["ports"]
    assert port["host_ip"] == "127.0.0.1", port
    assert str(port["target"]) == compose["services"]["proxy"]["environment"]["LISTEN_PORT"]


def test_the_bind_address_is_a_setting(compose: dict[str, Any]) -> None:
    """The variable in the port's host_ip really is what docker compose substitutes."""
    (name,) = re.findall(r"\$\{(\w+):-127\.0\.0\.1\}", COMPOSE.read_text())
    (port,) = compose_go.load(COMPOSE, env={name: "0.0.0.0"})["services"]["proxy"]["ports"]
    assert port["host_ip"] == "0.0.0.0"


@pytest.mark.parametrize("variant", ["default", "with_mariadb_override"])
def test_every_long_running_service_has_a_health_check(
    variant: str, compose: dict[str, Any], mariadb_stack: dict[str, Any]
) -> None:
    stack = compose if variant == "default" else mariadb_stack
    for name, svc in stack["services"].items():
        if not long_running(svc):
            continue
        check = svc.get("healthcheck") or {}
        assert not check.get("disable"), name
        test = check.get("test")
        assert isinstance(test, list), (name, test)
        assert test[0] in ("CMD", "CMD-SHELL"), (name, test)
        for key in ("interval", "timeout", "retries"):
            assert key in check, f"{name}: healthcheck.{key}"


def test_restart_policies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["restart"] == "no", "a one-shot job must not loop"
    for name in ("proxy", "app", "db"):
        assert services[name]["restart"] in ("always", "unless-stopped", "on-failure"), name


def test_app_waits_for_a_healthy_db_and_completed_migrations(
    compose: dict[str, Any], mariadb_stack: dict[str, Any]
) -> None:
    for stack in (compose, mariadb_stack):
        app = stack["services"]["app"]
        assert app["depends_on"]["db"]["condition"] == "service_healthy"
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        migrate = stack["services"]["migrate"]
        assert migrate["command"] == ["migrate"]
        assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
        assert stack["services"]["proxy"]["depends_on"]["app"]["condition"] == "service_healthy"


def test_app_and_migrate_run_the_same_image(compose: dict[str, Any]) -> None:
    app, migrate = compose["services"]["app"], compose["services"]["migrate"]
    assert app["image"] == migrate["image"]
    assert app["build"] == migrate["build"]
    assert app["build"]["dockerfile"] == "Dockerfile"
    assert env_of(app) == env_of(migrate), "migrations must target the app's database"
    assert app["command"] == ["serve"]


@pytest.mark.parametrize("variant", ["default", "with_mariadb_override"])
def test_no_secret_value_inline(
    variant: str, compose: dict[str, Any], mariadb_stack: dict[str, Any]
) -> None:
    stack = compose if variant == "default" else mariadb_stack
    declared = stack["secrets"]
    for secret, spec in declared.items():
        assert set(spec) <= {"file", "name"}, f"secret {secret} must come from a file"
        assert "file" in spec, f"secret {secret} must come from a file"
    for path in (COMPOSE, MARIADB):
        for name, svc in load(path).get("services", {}).items():
            assert "env_file" not in svc, f"{path.name}: {name}: env_file could smuggle secrets"
    for name, svc in stack["services"].items():
        mounted = secret_sources(svc)
        assert mounted <= set(declared), name
        for key, value in env_of(svc).items():
            if key.endswith("_FILE"):
                assert value.startswith("/run/secrets/"), f"{name}: {key}={value}"
                assert value.removeprefix("/run/secrets/") in mounted, f"{name}: {key}"
                continue
            assert not SECRET_NAME.search(key), f"{name}: {key} is inline; use {key}_FILE"
            if "://" in value:
                assert urlsplit(value).password is None, f"{name}: {key} embeds a password"


def test_app_password_reaches_the_url_through_a_secret(compose: dict[str, Any]) -> None:
    for name in ("app", "migrate"):
        env = env_of(compose["services"][name])
        assert urlsplit(env["DATABASE_URL"]).hostname == "db"
        assert env["SHIPSHAPE_DATABASE_PASSWORD_FILE"] == "/run/secrets/db_password"
    db_env = env_of(compose["services"]["db"])
    assert db_env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/db_password"


def test_development_secret_files_exist(
    compose: dict[str, Any], mariadb_stack: dict[str, Any]
) -> None:
    for spec in [*compose["secrets"].values(), *mariadb_stack["secrets"].values()]:
        path = Path(spec["file"])  # resolved by compose-go against the project directory
        assert path.is_relative_to(REPO / "deploy/containers/dev-secrets"), path
        assert path.is_file(), path
        assert path.stat().st_mode & 0o004, f"{path} must be readable by the container users"


@pytest.mark.parametrize("variant", ["default", "with_mariadb_override"])
def test_hardening_and_limits(
    variant: str, compose: dict[str, Any], mariadb_stack: dict[str, Any]
) -> None:
    stack = compose if variant == "default" else mariadb_stack
    for name, svc in stack["services"].items():
        assert svc.get("read_only") is True, f"{name}: read_only"
        assert svc.get("cap_drop") == ["ALL"], f"{name}: cap_drop"
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
        assert "tmpfs" in svc, f"{name}: a read-only service needs a writable /tmp"
        limits = svc["deploy"]["resources"]["limits"]
        assert "memory" in limits, f"{name}: memory limit"
        assert "cpus" in limits, f"{name}: cpu limit"
    services = stack["services"]
    for name in ("app", "migrate"):
        assert services[name]["user"] == f"{APP_UID}:{APP_UID}"
        assert not services[name].get("cap_add"), f"{name} needs no capabilities"
    assert not services["proxy"].get("cap_add"), "the proxy runs unprivileged"
    assert services["proxy"]["user"] != "0"


def test_graceful_stop_budget(compose: dict[str, Any]) -> None:
    app = compose["services"]["app"]
    env = env_of(app)
    grace = int(re.fullmatch(r"(\d+)s", app["stop_grace_period"]).group(1))
    drain = float(env["SHIPSHAPE_DRAIN_SECONDS"])
    shutdown = float(env["SHIPSHAPE_SHUTDOWN_TIMEOUT_SECONDS"])
    assert grace >= drain + shutdown + 5
    assert app.get("stop_signal", "SIGTERM") == "SIGTERM"


def test_db_keeps_its_data_in_a_named_volume(
    compose: dict[str, Any], mariadb_stack: dict[str, Any]
) -> None:
    for stack, target in (
        (compose, "/var/lib/postgresql/data"),
        (mariadb_stack, "/var/lib/mysql"),
    ):
        volumes = stack["services"]["db"]["volumes"]
        named = [v for v in volumes if v["type"] == "volume" and v["target"] == target]
        assert named, target
        assert named[0]["source"] in stack["volumes"], target


def test_database_images(compose: dict[str, Any], mariadb_stack: dict[str, Any]) -> None:
    assert re.fullmatch(
        r"(docker\.io/library/)?postgres:15(\.\d+)?(-\w+)?", compose["services"]["db"]["image"]
    )
    db = mariadb_stack["services"]["db"]
    assert re.fullmatch(r"(docker\.io/library/)?mariadb:\d+\.\d+(\.\d+)?", db["image"])
    assert db["healthcheck"]["test"][:2] == ["CMD", "healthcheck.sh"]
    for name in ("app", "migrate"):
        url = env_of(mariadb_stack["services"][name])["DATABASE_URL"]
        assert urlsplit(url).scheme in ("mysql", "mariadb")
        assert urlsplit(url).hostname == "db"


def test_database_is_not_reachable_from_outside(compose: dict[str, Any]) -> None:
    networks = compose["networks"]
    assert networks["backend"].get("internal") is True
    assert set(compose["services"]["db"]["networks"]) == {"backend"}
    assert "backend" not in compose["services"]["proxy"]["networks"]


def test_proxy_uses_the_dashboard_nginx_config(compose: dict[str, Any]) -> None:
    proxy = compose["services"]["proxy"]
    assert re.fullmatch(
        r"(docker\.io/library/)?nginx:(stable|\d+\.\d+(\.\d+)?)(-\w+)?", proxy["image"]
    )
    mounts = proxy["volumes"]
    for mount in mounts:
        assert mount["type"] == "bind"
        assert mount["read_only"] is True
        source = REPO / mount["source"]
        assert source.is_file(), f"{mount['source']} missing (owned by the dashboard work)"
    templates = [m for m in mounts if m["target"].startswith("/etc/nginx/templates/")]
    variables: set[str] = set()
    for mount in templates:
        variables |= set(re.findall(r"\$\{([A-Z_]+)\}", (REPO / mount["source"]).read_text()))
    assert variables <= set(proxy["environment"]), f"template needs {variables}"
    host, _, port = proxy["environment"]["UPSTREAM"].partition(":")
    assert host == "app"
    assert port == "8000"
    # The health check hits an endpoint the site config really has.
    health = " ".join(proxy["healthcheck"]["test"])
    path = re.search(r"GET (\S+) HTTP", health).group(1)
    site = "\n".join((REPO / m["source"]).read_text() for m in mounts)
    assert f"location = {path}" in site


def test_app_trusts_exactly_the_proxy(compose: dict[str, Any]) -> None:
    proxy_ip = ipaddress.ip_address(
        compose["services"]["proxy"]["networks"]["frontend"]["ipv4_address"]
    )
    subnet = ipaddress.ip_network(compose["networks"]["frontend"]["ipam"]["config"][0]["subnet"])
    assert proxy_ip in subnet
    trusted = env_of(compose["services"]["app"])["SHIPSHAPE_TRUSTED_PROXIES"].split(",")
    assert [ipaddress.ip_network(t) for t in trusted] == [ipaddress.ip_network(f"{proxy_ip}/32")]
