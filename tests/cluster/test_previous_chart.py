"""Where the rehearsal's earlier chart comes from (tests/support/previous_chart.py), also from a
shallow clone as CI checks out: fetched by commit from the clone's remote, or from
SHIPSHAPE_PREVIOUS_CHART, or a failure that says what to do. Runs without the control plane, on
throwaway git repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.cluster.test_rehearsal import PREVIOUS_CHART_COMMIT
from tests.support.previous_chart import OVERRIDE, PreviousChartUnavailable, previous_chart
from tests.support.tools import REPO

GIT_ENV = {
    "GIT_AUTHOR_NAME": "rehearsal",
    "GIT_AUTHOR_EMAIL": "rehearsal@example.invalid",
    "GIT_COMMITTER_NAME": "rehearsal",
    "GIT_COMMITTER_EMAIL": "rehearsal@example.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    import os

    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
        env={**os.environ, **GIT_ENV}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def write_chart(root: Path, version: str) -> None:
    chart = root / "charts" / "shipshape"
    chart.mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v2", "name": "shipshape", "version": version})
    )


@pytest.fixture
def upstream(tmp_path: Path) -> tuple[Path, str]:
    """A repository with the chart at 0.2.0 (the commit to upgrade from), then at 0.3.0."""
    source = tmp_path / "upstream"
    source.mkdir()
    git(source, "init", "-q", "-b", "main")
    write_chart(source, "0.2.0")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "chart 0.2.0")
    earlier = git(source, "rev-parse", "HEAD")
    write_chart(source, "0.3.0")
    git(source, "commit", "-q", "-am", "chart 0.3.0")
    return source, earlier


def shallow_clone(source: Path, dest: Path) -> Path:
    git(dest.parent, "clone", "-q", "--depth=1", f"file://{source}", dest.name)
    assert git(dest, "rev-parse", "--is-shallow-repository") == "true"
    return dest


def version(chart: Path) -> str:
    return str(yaml.safe_load((chart / "Chart.yaml").read_text())["version"])


def test_a_shallow_clone_fetches_the_commit_from_its_remote(
    upstream: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(OVERRIDE, raising=False)
    source, earlier = upstream
    clone = shallow_clone(source, tmp_path / "ci-checkout")
    missing = subprocess.run(
        ["git", "-C", str(clone), "cat-file", "-e", f"{earlier}^{{commit}}"],
        capture_output=True, check=False,
    )  # fmt: skip
    assert missing.returncode != 0, "depth 1 must lack the earlier commit"
    chart = previous_chart(clone, earlier, tmp_path / "out")
    assert version(chart) == "0.2.0"
    # One commit fetched; the clone stays shallow and its branch is untouched.
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"
    assert version(clone / "charts" / "shipshape") == "0.3.0"


def test_without_a_remote_the_failure_names_the_commit_and_the_ways_out(
    upstream: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(OVERRIDE, raising=False)
    source, earlier = upstream
    clone = shallow_clone(source, tmp_path / "tarball-like")
    git(clone, "remote", "remove", "origin")
    with pytest.raises(PreviousChartUnavailable) as failed:
        previous_chart(clone, earlier, tmp_path / "out")
    message = str(failed.value)
    assert earlier in message
    assert "shallow clone" in message
    assert "no remote" in message
    assert f"git fetch --depth=1 <remote> {earlier}" in message
    assert OVERRIDE in message


def test_a_remote_without_the_commit_fails_with_the_fetch_error(
    upstream: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(OVERRIDE, raising=False)
    source, _ = upstream
    clone = shallow_clone(source, tmp_path / "checkout")
    with pytest.raises(PreviousChartUnavailable) as failed:
        previous_chart(clone, "0" * 40, tmp_path / "out")
    assert "fetching it failed: origin:" in str(failed.value)


def test_the_override_names_a_chart_directory_or_package(
    upstream: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, earlier = upstream
    clone = shallow_clone(source, tmp_path / "offline")
    git(clone, "remote", "remove", "origin")
    packaged = tmp_path / "packaged"
    write_chart(packaged, "0.2.0")
    monkeypatch.setenv(OVERRIDE, str(packaged / "charts" / "shipshape"))
    assert version(previous_chart(clone, earlier, tmp_path / "a")) == "0.2.0"
    tgz = tmp_path / "shipshape-0.2.0.tgz"
    subprocess.run(
        ["tar", "-czf", str(tgz), "-C", str(packaged / "charts"), "shipshape"], check=True
    )
    monkeypatch.setenv(OVERRIDE, str(tgz))
    assert version(previous_chart(clone, earlier, tmp_path / "b")) == "0.2.0"
    monkeypatch.setenv(OVERRIDE, str(tmp_path / "nothing-here"))
    with pytest.raises(PreviousChartUnavailable, match="neither a chart directory"):
        previous_chart(clone, earlier, tmp_path / "c")


def test_this_repository_yields_the_pinned_earlier_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit the rehearsal pins holds an earlier chart version than the current one."""
    monkeypatch.delenv(OVERRIDE, raising=False)
    chart = previous_chart(REPO, PREVIOUS_CHART_COMMIT, tmp_path)
    current = version(REPO / "charts" / "shipshape")
    assert tuple(map(int, version(chart).split("."))) < tuple(map(int, current.split(".")))
