"""Static checks of the container build: Dockerfile (hadolint + our own rules), .dockerignore,
the offline base-image script. Fast; the real build and run is test_container_smoke.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.tools import require_tool

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def find_tool(name: str) -> str:
    return require_tool(name, "uv sync installs it into .venv; make tools")


def instructions(text: str) -> list[tuple[str, str, int]]:
    """(INSTRUCTION, arguments, line number) with continuation lines joined, comments dropped."""
    result: list[tuple[str, str, int]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if buffer and line.startswith("#"):
            continue
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        keyword, _, args = buffer.partition(" ")
        result.append((keyword.upper(), args.strip(), start))
        buffer = ""
    return result


def stages(text: str) -> list[list[tuple[str, str, int]]]:
    out: list[list[tuple[str, str, int]]] = []
    for item in instructions(text):
        if item[0] == "FROM":
            out.append([])
        if out:
            out[-1].append(item)
    return out


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return DOCKERFILE.read_text()


def test_hadolint_passes(dockerfile: str) -> None:
    hadolint = find_tool("hadolint")
    result = subprocess.run(
        [hadolint, "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], findings
    assert result.returncode == 0, result.stderr


def test_checkov_dockerfile_policies_pass() -> None:
    checkov = find_tool("checkov")
    result = subprocess.run(
        [
            checkov,
            "--file",
            str(DOCKERFILE),
            "--framework",
            "dockerfile",
            "--output",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    data = json.loads(result.stdout)
    summary = data["summary"] if isinstance(data, dict) else data[0]["summary"]
    assert summary["failed"] == 0, result.stdout[-4000:]
    assert summary["passed"] > 50, "checkov scanned nothing"
    skip_comments = re.findall(r"#\s*checkov:skip=(\w+):(.*)", DOCKERFILE.read_text())
    for rule, reason in skip_comments:
        assert len(reason.strip()) > 20, f"{rule} skipped without a reason"


def test_every_hadolint_ignore_has_a_written_reason(dockerfile: str) -> None:
    lines = dockerfile.splitlines()
    ignores = [i for i, line in enumerate(lines) if re.match(r"\s*#\s*hadolint\s+ignore", line)]
    for index in ignores:
        above = lines[index - 1].strip() if index else ""
        message = f"Dockerfile line {index + 1}: `{lines[index].strip()}` needs a reason above"
        assert above.startswith("#"), message
        assert "hadolint" not in above, message
        assert len(above) > 20, message
        rules = re.findall(r"DL\d{4}|SC\d{4}", lines[index])
        block = "\n".join(lines[max(0, index - 6) : index])
        for rule in rules:
            assert rule in block, f"the reason above line {index + 1} must name {rule}"
    for config in (REPO / ".hadolint.yaml", REPO / ".hadolint.yml"):
        if config.exists():
            text = config.read_text()
            for rule in re.findall(r"^\s*-\s*(DL\d{4}|SC\d{4})\b(.*)$", text, re.M):
                assert "#" in rule[1], f"{config.name}: ignored {rule[0]} without a reason comment"


def test_multi_stage_with_overridable_official_base(dockerfile: str) -> None:
    all_stages = stages(dockerfile)
    assert len(all_stages) >= 2, "multi-stage build expected"
    header = dockerfile.split("FROM", 1)[0]
    match = re.search(r"^ARG BASE_IMAGE=(\S+)$", header, re.M)
    assert match, "global `ARG BASE_IMAGE=<default>` before the first FROM"
    assert re.fullmatch(r"(docker\.io/library/)?python:3\.1[1-9]-slim(-\w+)?", match.group(1))
    for stage in all_stages:
        assert stage[0][1].startswith("${BASE_IMAGE}"), f"stage uses {stage[0][1]}"


def test_dependencies_come_from_the_lock_file(dockerfile: str) -> None:
    builder = " ".join(args for _, args, _ in stages(dockerfile)[0])
    assert "uv.lock" in builder
    syncs = re.findall(r"uv sync[^&]*", builder)
    assert syncs, "uv sync expected in the builder"
    for sync in syncs:
        assert "--frozen" in sync or "--locked" in sync, sync
        assert "--no-dev" in sync, sync
    assert re.search(r"UV_VERSION=\d+\.\d+\.\d+", builder), "uv version pinned"
    assert '"uv==${UV_VERSION}"' in builder


def test_runtime_stage_is_minimal_non_root_and_read_only_friendly(dockerfile: str) -> None:
    runtime = stages(dockerfile)[-1]
    by_kind: dict[str, list[str]] = {}
    for keyword, args, _ in runtime:
        by_kind.setdefault(keyword, []).append(args)
    runs = " ".join(by_kind.get("RUN", []))
    for forbidden in ("apt-get install", "pip install", "uv ", "gcc", "build-essential"):
        assert forbidden not in runs, f"runtime stage must not `{forbidden}`"
    copies = by_kind.get("COPY", [])
    assert any(c.startswith("--from=builder") and "/opt/venv" in c for c in copies), copies
    assert not any("--chown" in c for c in copies), "the code must not be writable by the app"
    users = by_kind.get("USER", [])
    assert users, "USER missing"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), f"numeric UID, got {users[-1]}"
    assert int(uid) >= 10000, f"non-root UID outside the system range, got {users[-1]}"
    assert gid.isdigit()
    assert int(gid) != 0
    env = " ".join(by_kind.get("ENV", []))
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "SHIPSHAPE_HOST=0.0.0.0", "SHIPSHAPE_GIT_COMMIT"):
        assert setting in env, setting
    # The environment would shadow DATABASE_URL_FILE: no default URL in the image.
    assert "DATABASE_URL" not in env


def test_entrypoint_signals_health_and_port(dockerfile: str) -> None:
    runtime = {keyword: args for keyword, args, _ in stages(dockerfile)[-1]}
    assert json.loads(runtime["ENTRYPOINT"]) == ["shipshape"]
    assert json.loads(runtime["CMD"]) == ["serve"]
    assert runtime["STOPSIGNAL"] == "SIGTERM"
    assert runtime["EXPOSE"] == "8000"
    health = runtime["HEALTHCHECK"]
    exec_form = json.loads(health.split("CMD", 1)[1].strip())
    assert exec_form == ["shipshape", "healthcheck"], "no shell, curl or wget needed"
    assert "--interval=" in health
    assert "--timeout=" in health


def test_oci_labels_from_build_args(dockerfile: str) -> None:
    runtime = stages(dockerfile)[-1]
    args = {a.split("=", 1)[0] for k, a, _ in runtime if k == "ARG"}
    assert {"VERSION", "VCS_REF", "BUILD_DATE", "SOURCE"} <= args
    labels = " ".join(a for k, a, _ in runtime if k == "LABEL")
    for key, arg in (
        ("version", "VERSION"),
        ("revision", "VCS_REF"),
        ("created", "BUILD_DATE"),
        ("source", "SOURCE"),
    ):
        # ${ARG} or ${ARG:-default}
        assert re.search(
            rf'org\.opencontainers\.image\.{key}="\$\{{{arg}(:-[^}}]*)?\}}"', labels
        ), key


def _dockerignore_excluded(patterns: list[str], path: str) -> bool:
    """Docker/buildah semantics: last matching pattern wins, `!` re-includes, a pattern that
    matches a parent directory matches everything below it."""

    def regex(pattern: str) -> re.Pattern[str]:
        out, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                out, i = out + ".*", i + 2
            elif pattern[i] == "*":
                out, i = out + "[^/]*", i + 1
            elif pattern[i] == "?":
                out, i = out + "[^/]", i + 1
            else:
                out, i = out + re.escape(pattern[i]), i + 1
        return re.compile(out)

    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for raw in patterns:
        negate = raw.startswith("!")
        compiled = regex(raw.lstrip("!").strip("/"))
        if any(compiled.fullmatch(p) for p in prefixes):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_the_context_small() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    for needed in ("pyproject.toml", "uv.lock", "README.md", "src/shipshape/cli.py"):
        assert not _dockerignore_excluded(patterns, needed), f"{needed} must be in the context"
    for unwanted in (
        ".git/HEAD",
        ".venv/bin/python",
        ".tools/bin/uv",
        "tests/conftest.py",
        "docs/container.md",
        "charts/shipshape/Chart.yaml",
        "infra/terraform/main.tf",
        "src/shipshape/__pycache__/cli.cpython-311.pyc",
        "src/shipshape/shipshape.db",
        ".pytest_cache/v/cache",
        ".ruff_cache/x",
        "shipshape.db",
        "deploy/containers/dev-secrets/db_password",
        ".env",
    ):
        assert _dockerignore_excluded(patterns, unwanted), f"{unwanted} must stay out"


def test_dockerfile_copies_only_what_dockerignore_allows(dockerfile: str) -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    for keyword, args, line in instructions(dockerfile):
        if keyword == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                if not source.startswith("--"):
                    assert not _dockerignore_excluded(patterns, source.rstrip("/")), (
                        f"line {line}: COPY {source} is excluded by .dockerignore"
                    )
                    assert (REPO / source).exists(), f"line {line}: {source} does not exist"


@pytest.mark.parametrize("name", ["build-base-image.sh", "container-smoke.sh"])
def test_scripts_are_clean_shell(name: str) -> None:
    script = REPO / "scripts" / name
    assert os.access(script, os.X_OK), f"scripts/{name} must be executable"
    assert "set -euo pipefail" in script.read_text()
    shellcheck = find_tool("shellcheck")
    result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_build_is_cached() -> None:
    text = (REPO / "scripts/build-base-image.sh").read_text()
    assert "podman image exists" in text
    assert "--variant=minbase" in text


def test_containers_conf_has_the_documented_workarounds() -> None:
    import tomllib

    conf = tomllib.loads((REPO / "deploy/containers/containers.conf").read_text())
    assert conf["engine"]["runtime"] == "runc"
    assert any(u.startswith("nofile=") for u in conf["containers"]["default_ulimits"])


def test_the_build_version_reaches_the_app(dockerfile: str) -> None:
    """The runtime stage turns the build arg VERSION into SHIPSHAPE_VERSION, and the app reports
    that (GET /version, the CLI, build_info) instead of the package version: what the release
    gate compares. The container smoke test checks the same on a real image."""
    runtime = dockerfile.split("AS runtime", 1)[1]
    env = next(args for keyword, args, _ in instructions(runtime) if keyword == "ENV")
    assert 'SHIPSHAPE_VERSION="${VERSION}"' in env
    shipshape = REPO / ".venv/bin/shipshape"
    result = subprocess.run(
        [str(shipshape), "version"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SHIPSHAPE_VERSION": "9.8.7-rc.1"},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["version"] == "9.8.7-rc.1"
    unset = {k: v for k, v in os.environ.items() if k != "SHIPSHAPE_VERSION"}
    result = subprocess.run(
        [str(shipshape), "version"], capture_output=True, text=True, timeout=60, env=unset
    )
    assert json.loads(result.stdout)["version"] != "9.8.7-rc.1"
