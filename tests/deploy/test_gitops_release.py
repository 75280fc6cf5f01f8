"""The release helpers of .github/scripts/release.py (release.yml, jobs meta, verify, gitops-pr).

Runs the real script, as the workflow does, against a copy of deploy/gitops: a release pins the
chart version, the image digest and the environment's values, in Argo CD and Flux alike, and
only those lines change; a promotion takes the digest the previous environment runs and refuses
another version; bad input is refused. The gate is run against a stand-in environment.
"""

from __future__ import annotations

import json
import re
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


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    """The chart "of the release": a copy whose environment values differ from the deployed ones."""
    dest = tmp_path / "release/charts/shipshape"
    shutil.copytree(ROOT / "charts/shipshape", dest)
    for env in ENVIRONMENTS:
        path = dest / f"values-{env}.yaml"
        path.write_text(path.read_text() + f"# released values of {env}\n")
    return dest


ENVIRONMENTS = ("dev", "staging", "prod")
DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32


def tags(root: Path) -> dict[str, dict[str, str]]:
    """What each engine runs per environment: chart version, image tag and digest."""
    argo = {}
    flux = {}
    for env in ENVIRONMENTS:
        app = yaml.safe_load((root / f"deploy/gitops/argocd/{env}/application.yaml").read_text())
        source = app["spec"]["source"]
        image = source["helm"]["valuesObject"]["image"]
        argo[env] = f"{source['targetRevision']} {image['tag']} {image['digest']}"
        base = root / f"deploy/gitops/flux/environments/{env}"
        image = yaml.safe_load((base / "helmrelease.yaml").read_text())["spec"]["values"]["image"]
        chart = yaml.safe_load((base / "ocirepository.yaml").read_text())["spec"]["ref"]["tag"]
        flux[env] = f"{chart} {image['tag']} {image['digest']}"
    return {"argo": argo, "flux": flux}


def release(repo: Path, chart: Path, version: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run(
        "bump", "--version", version, *args, "--chart-dir", str(chart), "--root", str(repo)
    )  # fmt: skip


def test_meta_on_a_tag_deploys_dev_only(tmp_path: Path) -> None:
    """Staging and prod are promoted by hand, each after the gate on the previous environment."""
    out = tmp_path / "github_output"
    result = run("meta", "--event", "push", "--ref-name", "v1.4.0", "--github-output", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text() == "version=1.4.0\ntag=v1.4.0\nenvironments=dev\nprevious=\n"


def test_meta_on_dispatch_promotes_one_environment() -> None:
    result = run(
        "meta", "--event", "workflow_dispatch", "--version", "v1.4.0", "--environment", "prod"
    )
    assert result.returncode == 0, result.stderr
    assert "version=1.4.0\n" in result.stdout
    assert "environments=prod\n" in result.stdout
    assert "previous=staging\n" in result.stdout, "prod takes the digest staging runs"


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


def test_release_pins_chart_version_digest_and_values(repo: Path, chart: Path) -> None:
    before = {p: p.read_text() for p in (repo / "deploy/gitops").rglob("*.yaml")}
    result = release(repo, chart, "2.0.1", "--env", "dev", "--digest", DIGEST)
    assert result.returncode == 0, result.stderr
    after = tags(repo)
    original = tags(ROOT)
    for engine in ("argo", "flux"):
        assert after[engine]["dev"] == f"2.0.1 2.0.1 {DIGEST}"
        assert after[engine]["staging"] == original[engine]["staging"]
        assert after[engine]["prod"] == original[engine]["prod"], "prod is promoted on its own"
    values = repo / "deploy/gitops/flux/environments/dev/values.yaml"
    assert values.read_text() == (chart / "values-dev.yaml").read_text(), "values travel along"
    for path, text in before.items():
        if path == values:
            continue
        new = path.read_text()
        changed = [
            (a, b) for a, b in zip(text.splitlines(), new.splitlines(), strict=True) if a != b
        ]
        for old_line, new_line in changed:
            assert re.search(r"# gitops:(version|digest):dev$", old_line), old_line
            value = old_line.split('"')[1]
            assert new_line == old_line.replace(value, new_line.split('"')[1])
            assert new_line.split('"')[1] in ("2.0.1", DIGEST), "only the quoted value changes"


def test_promotion_takes_the_digest_the_previous_environment_runs(repo: Path, chart: Path) -> None:
    assert release(repo, chart, "2.0.1", "--env", "dev", "--digest", DIGEST).returncode == 0
    result = release(repo, chart, "2.0.1", "--env", "staging", "--from", "dev")
    assert result.returncode == 0, result.stderr
    for engine in ("argo", "flux"):
        assert tags(repo)[engine]["staging"] == f"2.0.1 2.0.1 {DIGEST}"
    staging = repo / "deploy/gitops/flux/environments/staging/values.yaml"
    assert staging.read_text() == (chart / "values-staging.yaml").read_text()


def test_promotion_refuses_a_version_the_previous_environment_does_not_run(
    repo: Path, chart: Path
) -> None:
    assert release(repo, chart, "2.0.1", "--env", "dev", "--digest", DIGEST).returncode == 0
    before = tags(repo)
    result = release(repo, chart, "2.0.2", "--env", "staging", "--from", "dev")
    assert result.returncode == 2
    assert "dev runs ['2.0.1'], not 2.0.2" in result.stderr
    assert tags(repo) == before


def test_promotion_refuses_when_engines_disagree_on_the_digest(repo: Path, chart: Path) -> None:
    assert release(repo, chart, "2.0.1", "--env", "dev", "--digest", DIGEST).returncode == 0
    path = repo / "deploy/gitops/flux/environments/dev/helmrelease.yaml"
    path.write_text(path.read_text().replace(DIGEST, OTHER_DIGEST))
    result = release(repo, chart, "2.0.1", "--env", "staging", "--from", "dev")
    assert result.returncode == 2
    assert "no single image digest" in result.stderr


def test_bump_is_idempotent(repo: Path, chart: Path) -> None:
    assert release(repo, chart, "2.0.1", "--env", "prod", "--digest", DIGEST).returncode == 0
    snapshot = {p: p.read_text() for p in (repo / "deploy/gitops").rglob("*.yaml")}
    result = release(repo, chart, "2.0.1", "--env", "prod", "--digest", DIGEST)
    assert result.returncode == 0
    assert "already at this version" in result.stdout
    assert snapshot == {p: p.read_text() for p in (repo / "deploy/gitops").rglob("*.yaml")}


@pytest.mark.parametrize(
    ("version", "args"),
    [
        ("2.0", ("--env", "dev", "--digest", DIGEST)),
        ("latest", ("--env", "dev", "--digest", DIGEST)),
        ("2.0.1", ("--env", "qa", "--digest", DIGEST)),
        ("v2.0.1", ("--env", "dev", "--digest", DIGEST)),
        ("2.0.1", ("--env", "dev")),  # no digest: a tag is not a promotion by digest
        ("2.0.1", ("--env", "dev", "--digest", "2.0.1")),
        ("2.0.1", ("--env", "dev", "--digest", "sha256:abc")),
        ("2.0.1", ("--env", "dev", "--digest", DIGEST, "--from", "staging")),
        ("2.0.1", ("--env", "staging", "--from", "qa")),
    ],
)
def test_bump_refuses_bad_input(
    repo: Path, chart: Path, version: str, args: tuple[str, ...]
) -> None:
    before = tags(repo)
    result = release(repo, chart, version, *args)
    assert result.returncode == 2, result.stdout
    assert tags(repo) == before


def test_bump_needs_the_chart_of_the_release(repo: Path, tmp_path: Path) -> None:
    result = release(repo, tmp_path / "nothing", "2.0.1", "--env", "dev", "--digest", DIGEST)
    assert result.returncode == 2
    assert "--chart-dir" in result.stderr


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        ("flux/environments/staging/helmrelease.yaml", "# gitops:digest:staging"),
        ("flux/environments/staging/ocirepository.yaml", "# gitops:version:staging"),
        ("argocd/staging/application.yaml", "# gitops:digest:staging"),
    ],
)
def test_bump_fails_when_an_engine_lacks_a_marker(
    repo: Path, chart: Path, path: str, marker: str
) -> None:
    target = repo / "deploy/gitops" / path
    target.write_text(target.read_text().replace(marker, ""))
    result = release(repo, chart, "2.0.1", "--env", "staging", "--digest", DIGEST)
    assert result.returncode == 2
    assert "no line marked" in result.stderr
    assert path.split("/")[0] in result.stderr


def test_bump_refuses_a_malformed_marker_line(repo: Path, chart: Path) -> None:
    path = repo / "deploy/gitops/flux/environments/dev/helmrelease.yaml"
    path.write_text(path.read_text().replace('tag: "', "tag: ").replace('" # gitops', " # gitops"))
    result = release(repo, chart, "2.0.1", "--env", "dev", "--digest", DIGEST)
    assert result.returncode == 2
    assert "malformed" in result.stderr


def test_the_workflow_runs_bump_with_the_release_digest_and_chart() -> None:
    """gitops-pr passes image.yml's digest on a tag, the previous environment on a promotion,
    and the chart checked out at the release tag."""
    workflow = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    job = workflow["jobs"]["gitops-pr"]
    step = next(s for s in job["steps"] if "release.py bump" in s.get("run", ""))
    assert step["env"]["DIGEST"] == "${{ needs.image.outputs.digest }}"
    assert step["env"]["PREVIOUS"] == "${{ needs.meta.outputs.previous }}"
    assert '--digest "${DIGEST}" --from "${PREVIOUS}"' in step["run"]
    assert "--chart-dir release/charts/shipshape" in step["run"]
    checkout = next(s for s in job["steps"] if s.get("with", {}).get("path") == "release")
    assert checkout["with"]["ref"] == "v${{ needs.meta.outputs.version }}"
    assert "image" in job["needs"]
    image = yaml.safe_load((ROOT / ".github/workflows/image.yml").read_text())
    on = image[True]  # PyYAML reads the key `on` as True
    assert on["workflow_call"]["outputs"]["digest"]["value"] == (
        "${{ jobs.publish.outputs.digest }}"
    )


def test_empty_digest_and_previous_mean_not_given(repo: Path, chart: Path) -> None:
    """The workflow passes both flags; the one that does not apply is an empty string."""
    result = release(repo, chart, "2.0.1", "--env", "dev", "--digest", DIGEST, "--from", "")
    assert result.returncode == 0, result.stderr
    result = release(repo, chart, "2.0.1", "--env", "staging", "--digest", "", "--from", "dev")
    assert result.returncode == 0, result.stderr
    assert tags(repo)["flux"]["staging"] == f"2.0.1 2.0.1 {DIGEST}"


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
