"""The release bump of .github/scripts/release.py (release.yml, jobs meta and gitops-pr).

Runs the real script, as the workflow does, against a copy of deploy/gitops and checks that only
the marked image tags change, in Argo CD and Flux alike, and that bad input is refused.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
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


def tags(root: Path) -> dict[str, dict[str, str]]:
    appset = yaml.safe_load((root / "deploy/gitops/argocd/applicationset.yaml").read_text())
    argo = {e["env"]: e["imageTag"] for e in appset["spec"]["generators"][0]["list"]["elements"]}
    flux = {}
    for env in argo:
        path = root / f"deploy/gitops/flux/environments/{env}/helmrelease.yaml"
        flux[env] = yaml.safe_load(path.read_text())["spec"]["values"]["image"]["tag"]
    return {"argo": argo, "flux": flux}


def test_meta_on_a_tag_deploys_dev_and_staging(tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    result = run("meta", "--event", "push", "--ref-name", "v1.4.0", "--github-output", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text() == "version=1.4.0\ntag=v1.4.0\nenvironments=dev staging\n"


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
