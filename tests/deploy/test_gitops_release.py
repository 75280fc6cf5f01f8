"""The release bump of .github/scripts/release.py (release.yml, jobs meta and gitops-pr).

Runs the real script, as the workflow does, against a copy of deploy/gitops and checks that only
the marked image tags change, in Argo CD and Flux alike, and that bad input is refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".github/scripts/release.py"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "deploy/gitops", tmp_path / "deploy/gitops")
    return tmp_path


ENVIRONMENTS = ("dev", "staging", "prod")


def tags(root: Path) -> dict[str, dict[str, str]]:
    argo = {}
    flux = {}
    for env in ENVIRONMENTS:
        app = yaml.safe_load((root / f"deploy/gitops/argocd/{env}/application.yaml").read_text())
        params = {p["name"]: p["value"] for p in app["spec"]["source"]["helm"]["parameters"]}
        argo[env] = params["image.tag"]
        path = root / f"deploy/gitops/flux/environments/{env}/helmrelease.yaml"
        flux[env] = yaml.safe_load(path.read_text())["spec"]["values"]["image"]["tag"]
    return {"argo": argo, "flux": flux}


def test_meta_on_a_tag_deploys_dev_only(tmp_path: Path) -> None:
    """Staging and prod are promoted by hand, each after the gate on the previous environment."""
    out = tmp_path / "github_output"
    result = run("meta", "--event", "push", "--ref-name", "v1.4.0", "--github-output", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text() == "version=1.4.0\ntag=v1.4.0\nenvironments=dev\n"


def test_meta_on_dispatch_promotes_one_environment() -> None:
    result = run(
        "meta", "--event", "workflow_dispatch", "--version", "v1.4.0", "--environment", "prod"
    )
    assert result.returncode == 0, result.stderr
    assert "version=1.4.0\n" in result.stdout
    assert "environments=prod\n" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--event", "push", "--ref-name", "main"),
        ("--event", "push", "--ref-name", "v1.4"),
        ("--event", "push", "--ref-name", "v1.4.0; rm -rf /"),
        ("--event", "workflow_dispatch", "--version", "1.4.0", "--environment", "qa"),
        ("--event", "workflow_dispatch", "--version", "$(id)", "--environment", "prod"),
        ("--event", "pull_request", "--ref-name", "v1.4.0"),
    ],
)
def test_meta_refuses_bad_input(args: tuple[str, ...]) -> None:
    result = run("meta", *args)
    assert result.returncode == 2
    assert "error" in result.stderr


def test_bump_changes_only_the_marked_tags(repo: Path) -> None:
    before = {p: p.read_text() for p in (repo / "deploy/gitops").rglob("*.yaml")}
    result = run("bump", "--version", "2.0.1", "--env", "dev staging", "--root", str(repo))
    assert result.returncode == 0, result.stderr
    after = tags(repo)
    original = tags(ROOT)
    for engine in ("argo", "flux"):
        assert after[engine]["dev"] == after[engine]["staging"] == "2.0.1"
        assert after[engine]["prod"] == original[engine]["prod"], "prod is promoted on its own"
    for path, text in before.items():
        new = path.read_text()
        changed = [
            (a, b) for a, b in zip(text.splitlines(), new.splitlines(), strict=True) if a != b
        ]
        for old_line, new_line in changed:
            assert "# gitops:image-tag:" in old_line
            assert new_line.replace("2.0.1", "X") == old_line.replace(
                old_line.split('"')[1], "X"
            ), "only the quoted value changes, the comment stays"


def test_bump_is_idempotent(repo: Path) -> None:
    assert run("bump", "--version", "2.0.1", "--env", "prod", "--root", str(repo)).returncode == 0
    snapshot = {p: p.read_text() for p in (repo / "deploy/gitops").rglob("*.yaml")}
    result = run("bump", "--version", "2.0.1", "--env", "prod", "--root", str(repo))
    assert result.returncode == 0
    assert "already at this version" in result.stdout
    assert snapshot == {p: p.read_text() for p in (repo / "deploy/gitops").rglob("*.yaml")}


@pytest.mark.parametrize(
    ("version", "env"), [("2.0", "dev"), ("latest", "dev"), ("2.0.1", "qa"), ("v2.0.1", "dev")]
)
def test_bump_refuses_bad_input(repo: Path, version: str, env: str) -> None:
    before = tags(repo)
    result = run("bump", "--version", version, "--env", env, "--root", str(repo))
    assert result.returncode == 2, result.stdout
    assert tags(repo) == before


def test_bump_fails_when_an_engine_lacks_the_marker(repo: Path) -> None:
    path = repo / "deploy/gitops/flux/environments/staging/helmrelease.yaml"
    path.write_text(path.read_text().replace("# gitops:image-tag:staging", ""))
    result = run("bump", "--version", "2.0.1", "--env", "staging", "--root", str(repo))
    assert result.returncode == 2
    assert "deploy/gitops/flux" in result.stderr


def test_bump_refuses_a_malformed_marker_line(repo: Path) -> None:
    path = repo / "deploy/gitops/flux/environments/dev/helmrelease.yaml"
    path.write_text(path.read_text().replace('tag: "', "tag: ").replace('" # gitops', " # gitops"))
    result = run("bump", "--version", "2.0.1", "--env", "dev", "--root", str(repo))
    assert result.returncode == 2
    assert "malformed" in result.stderr


# --------------------------------------------------------------------------- promotion gate


@pytest.fixture
def environment_server() -> Iterator[dict[str, object]]:
    """A stand-in for the previous environment's public URL (loopback, free port)."""
    state: dict[str, object] = {"version": "2.0.1", "ready": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/version":
                body = json.dumps({"version": state["version"], "commit": "abc"}).encode()
                self.send_response(200)
            elif self.path == "/readyz":
                body = b"{}"
                self.send_response(int(state["ready"]))  # type: ignore[call-overload]
            else:
                body = b""
                self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def gate(env: str, version: str, url: str) -> subprocess.CompletedProcess[str]:
    return run(
        "gate", "--environment", env, "--version", version, "--url", url,
        "--attempts", "2", "--interval", "0",
    )  # fmt: skip


def test_gate_passes_when_the_previous_environment_serves_the_version(
    environment_server: dict[str, object],
) -> None:
    result = gate("staging", "2.0.1", str(environment_server["url"]))
    assert result.returncode == 0, result.stderr
    assert "dev" in result.stdout
    assert "2.0.1" in result.stdout
    result = gate("prod", "v2.0.1", str(environment_server["url"]) + "/")
    assert result.returncode == 0, result.stderr
    assert "staging" in result.stdout


def test_gate_refuses_another_version_or_an_unready_environment(
    environment_server: dict[str, object],
) -> None:
    result = gate("staging", "2.0.2", str(environment_server["url"]))
    assert result.returncode == 2
    assert "promotion to staging refused" in result.stderr
    assert "'2.0.1'" in result.stderr
    environment_server["ready"] = 503
    result = gate("prod", "2.0.1", str(environment_server["url"]))
    assert result.returncode == 2
    assert "/readyz -> 503" in result.stderr


@pytest.mark.parametrize(
    ("env", "version", "url", "message"),
    [
        ("staging", "2.0.1", "", "SHIPSHAPE_DEV_URL"),
        ("prod", "2.0.1", "", "SHIPSHAPE_STAGING_URL"),
        ("staging", "2.0.1", "file:///etc/passwd", "not an http(s) URL"),
        ("qa", "2.0.1", "http://127.0.0.1:9", "unknown environment"),
        ("staging", "latest", "http://127.0.0.1:9", "not a semantic version"),
    ],
)
def test_gate_refuses_bad_input(env: str, version: str, url: str, message: str) -> None:
    result = gate(env, version, url)
    assert result.returncode == 2
    assert message in result.stderr


def test_gate_refuses_an_unreachable_environment() -> None:
    result = gate("staging", "2.0.1", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert "/version -> 0" in result.stderr
