"""The earlier chart the deploy rehearsal upgrades from: charts/shipshape at a fixed commit,
packaged from git (`git archive`), also from a shallow clone.

CI checkouts are often shallow (depth 1), so the commit may be missing. In that order:
  1. SHIPSHAPE_PREVIOUS_CHART names a chart directory or a packaged chart (.tgz): used as is
     (for a checkout that can reach no remote; `helm package` of that commit's chart/shipshape);
  2. the commit is in the clone: archived from it;
  3. it is not, and the clone has a remote: `git fetch --depth=1 <remote> <commit>` (one commit,
     no tags, no history; the clone stays shallow), then archived;
  4. otherwise the rehearsal fails with a message that names the commit and the ways out. It
     never skips: an upgrade that was not tested must not pass as one that was.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import yaml

OVERRIDE = "SHIPSHAPE_PREVIOUS_CHART"
FETCH_TIMEOUT = 180


class PreviousChartUnavailable(Exception):
    """The earlier chart cannot be had; the message says what to do."""


def _git(repo: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, timeout=timeout, check=False
    )


def _has_commit(repo: Path, commit: str) -> bool:
    return _git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0


def _remotes(repo: Path) -> list[str]:
    names = _git(repo, "remote").stdout.decode().split()
    # origin first: the remote a CI checkout fetched from
    return sorted(names, key=lambda n: (n != "origin", n))


def _fetch(repo: Path, commit: str) -> list[str]:
    """Fetch the one commit from each remote until one has it; the errors of those that failed."""
    errors = []
    for remote in _remotes(repo):
        done = _git(
            repo, "fetch", "--quiet", "--no-tags", "--depth=1", remote, commit,
            timeout=FETCH_TIMEOUT,
        )  # fmt: skip
        if done.returncode == 0 and _has_commit(repo, commit):
            return []
        errors.append(f"{remote}: {done.stderr.decode(errors='replace').strip()}")
    return errors


def _from_override(path: Path, dest: Path) -> Path:
    if path.is_dir() and (path / "Chart.yaml").is_file():
        return path
    if path.is_file() and path.name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(path) as tar:
            tar.extractall(dest, filter="data")
        charts = [p.parent for p in dest.glob("*/Chart.yaml")]
        if len(charts) == 1:
            return charts[0]
    raise PreviousChartUnavailable(
        f"{OVERRIDE}={path} is neither a chart directory nor a packaged chart (.tgz)"
    )


def previous_chart(repo: Path, commit: str, dest: Path, chart: str = "charts/shipshape") -> Path:
    """The chart directory of `chart` at `commit`, extracted under `dest`."""
    override = os.environ.get(OVERRIDE)
    if override:
        return _from_override(Path(override), dest)
    fetch_errors: list[str] = []
    if not _has_commit(repo, commit):
        fetch_errors = _fetch(repo, commit)
    if not _has_commit(repo, commit):
        shallow = _git(repo, "rev-parse", "--is-shallow-repository").stdout.decode().strip()
        tried = (
            "fetching it failed: " + "; ".join(fetch_errors)
            if fetch_errors
            else "the clone has no remote to fetch it from"
        )
        raise PreviousChartUnavailable(
            f"the rehearsal upgrades from the chart at commit {commit}, which this clone lacks "
            f"({'a shallow clone' if shallow == 'true' else 'not in its history'}); {tried}. "
            f"Fetch it (`git fetch --depth=1 <remote> {commit}` or `git fetch --unshallow`), "
            f"or set {OVERRIDE} to that commit's {chart} (a directory or a `helm package` .tgz)."
        )
    done = _git(repo, "archive", "--format=tar", commit, chart)
    if done.returncode != 0:
        raise PreviousChartUnavailable(
            f"git archive {commit} {chart}: {done.stderr.decode(errors='replace').strip()}"
        )
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        tar.extractall(dest, filter="data")
    path = dest / chart
    yaml.safe_load((path / "Chart.yaml").read_text())  # a chart, not an empty directory
    return path
