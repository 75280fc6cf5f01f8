"""The workflows' commands, run here as GitHub's hosted runners run them: as an unprivileged user
with passwordless sudo, CI=true, in a fresh checkout.

A fixture creates that user (`useradd` + a /etc/sudoers.d entry, removed again at the end) when
the suite runs as root; when it already runs as a non-root user with passwordless sudo (a real
runner), it is that user. The `run:` steps are read from the workflow YAML (never copied here)
and executed with `bash --noprofile --norc -eo pipefail`, as the runner does, with the
workflow's, the job's and the step's `env:`. Bounded: the jobs share one checkout (so the
virtualenv and tools are installed once), and the test suites they start run a small real
selection (PYTEST_ADDOPTS) instead of everything - what is proven is that the job's commands and
their prerequisites work without root, not the suites again.

`scripts/install-system-deps.sh` is also run against stub apt-get/dpkg-query/sudo: as the
unprivileged user it installs what is missing through `sudo -n`, and it fails with a clear
message when there is no passwordless sudo.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.tools import unavailable

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github/workflows"
RUNNER_USER = "shipshape-runner"
SUDOERS = Path("/etc/sudoers.d/shipshape-runner")
PATH = "/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Passed through from the environment the suite runs in (network proxy, Go proxy settings).
PASS_THROUGH = (
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "PIP_INDEX_URL", "UV_INDEX_URL", "GOPROXY", "GONOSUMDB", "GOFLAGS",
)  # fmt: skip
# The jobs whose commands run on a plain runner (the others call cloud or registry actions).
JOBS = [
    ("ci.yml", "lint"),
    ("ci.yml", "test"),
    ("ci.yml", "e2e"),
    ("ci.yml", "deploy-kit"),
    ("chart.yml", "checks"),
    ("terraform.yml", "static"),
]
# What each make target's test suite runs here: a real selection, chosen for what needs root on
# a careless setup (throwaway PostgreSQL and MariaDB, the rootful-podman container smoke test).
SELECTION = {
    "test-unit": "-k test_birthday",
    "test-integration": "-k test_migrations",
    "test-e2e": "-k test_cli",
    "test-deploy": "-k test_container_smoke",
    "chart-check": "-k test_alert_rules",
    "terraform-check": "-k test_terraform_fmt",
}
STEP_TIMEOUT = 1800


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def literal_env(*scopes: dict[str, Any] | None) -> dict[str, str]:
    """Merged env: of workflow, job and step. Values with `${{ }}` expressions need GitHub."""
    env: dict[str, str] = {}
    for scope in scopes:
        for key, value in (scope or {}).items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            assert "${{" not in text, f"{key}: expression in the env of a plain job"
            env[key] = text
    return env


def run_steps(workflow: str, job_id: str) -> list[tuple[str, str, dict[str, str]]]:
    """(name, script, env) of the job's `run:` steps, in order."""
    wf = load(workflow)
    job = wf["jobs"][job_id]
    base = {k: v for k, v in (job.get("env") or {}).items()}
    # Service containers (the CI databases) do not exist here: the suite then starts its own
    # throwaway servers, which is the harder case for an unprivileged user.
    for key in list(base):
        if job.get("services") and "127.0.0.1:" in str(base[key]):
            del base[key]
    out = []
    for step in job["steps"]:
        if "run" not in step:
            continue
        assert "if" not in step, f"{workflow}:{job_id}: conditional step {step.get('name')}"
        env = literal_env(wf.get("env"), base, step.get("env"))
        out.append((step.get("name", step["run"]), step["run"], env))
    assert out, f"{workflow}:{job_id} has no run step"
    return out


def passwordless_sudo() -> bool:
    if shutil.which("sudo") is None:
        return False
    return subprocess.run(["sudo", "-n", "true"], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def runner() -> Iterator[pwd.struct_passwd]:
    """An unprivileged user with passwordless sudo, like the hosted runner's `runner`."""
    if os.geteuid() != 0:
        if not passwordless_sudo():
            unavailable("needs root (to create the runner user) or passwordless sudo")
        yield pwd.getpwuid(os.geteuid())
        return
    if shutil.which("sudo") is None:
        unavailable("sudo is not installed (apt-get install -y sudo)")
    try:
        user = pwd.getpwnam(RUNNER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/bash", RUNNER_USER], check=True
        )
        user = pwd.getpwnam(RUNNER_USER)
    assert user.pw_uid != 0
    SUDOERS.write_text(f"{RUNNER_USER} ALL=(ALL) NOPASSWD:ALL\n")
    SUDOERS.chmod(0o440)
    try:
        check = subprocess.run(["visudo", "-cf", str(SUDOERS)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        yield user
    finally:
        # No user with passwordless root stays behind; its home (tool caches) does.
        SUDOERS.unlink(missing_ok=True)


def as_user(
    user: pwd.struct_passwd, script: str, env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    environment = {
        "HOME": user.pw_dir,
        "USER": user.pw_name,
        "LOGNAME": user.pw_name,
        "PATH": PATH,
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "RUNNER_TEMP": str(cwd.parent / "runner-temp"),
        **{k: os.environ[k] for k in PASS_THROUGH if os.environ.get(k)},
        **env,
    }
    command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
    if os.geteuid() == 0:
        prefix = ["runuser", "-u", user.pw_name, "--", "env", "-i"]
    else:
        prefix = ["env", "-i"]
    assignments = [f"{k}={v}" for k, v in environment.items()]
    return subprocess.run(
        [*prefix, *assignments, *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory the runner user can reach (pytest's own tmp_path is private to its user)."""
    path = Path(tempfile.mkdtemp(prefix="shipshape-runner-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def checkout(runner: pwd.struct_passwd) -> Iterator[Path]:
    """A fresh checkout of this tree (tracked and new files, nothing ignored), owned by the user."""
    base = Path(tempfile.mkdtemp(prefix="shipshape-runner-"))
    base.chmod(0o755)
    workspace = base / "shipshape"
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        source = ROOT / rel
        if source.is_file():
            target = workspace / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (base / "runner-temp").mkdir()
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{runner.pw_uid}:{runner.pw_gid}", str(base)], check=True)
    # The user must be able to reach the checkout.
    probe = as_user(runner, "test -w . && test -r Makefile", {}, workspace, 60)
    assert probe.returncode == 0, f"{workspace} is not usable by {runner.pw_name}: {probe.stderr}"
    try:
        yield workspace
    finally:
        # The user's files, some written through sudo (root): removed as root, or through sudo.
        remover = ["rm", "-rf", str(base)]
        subprocess.run(remover if os.geteuid() == 0 else ["sudo", "-n", *remover], check=False)


@pytest.mark.parametrize(("workflow", "job_id"), JOBS, ids=[f"{w}:{j}" for w, j in JOBS])
def test_job_runs_as_an_unprivileged_user_with_sudo(
    workflow: str, job_id: str, runner: pwd.struct_passwd, checkout: Path
) -> None:
    assert runner.pw_uid != 0
    for name, script, env in run_steps(workflow, job_id):
        targets = [w for w in script.split() if w in SELECTION]
        assert len(targets) <= 1, script
        selection = SELECTION[targets[0]] if targets else None
        if selection:
            env["PYTEST_ADDOPTS"] = f"{env.get('PYTEST_ADDOPTS', '')} {selection}".strip()
        start = time.monotonic()
        result = as_user(runner, script, env, checkout, STEP_TIMEOUT)
        took = time.monotonic() - start
        print(
            f"{workflow}:{job_id}: {name!r} as {runner.pw_name}: exit {result.returncode}, {took:.0f} s"
        )
        assert result.returncode == 0, (
            f"{workflow}:{job_id}: step {name!r} failed as {runner.pw_name} "
            f"(exit {result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        )
        if selection:
            # A selection that ran nothing proves nothing; a skip under CI=true is a failure.
            text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
            summary = re.findall(r"^=+ (.*\d+ passed.*) in [\d.]+s", text, re.M)
            assert summary, text[-3000:]
            assert not re.search(r"\d+ (skipped|failed|error)", summary[-1]), summary[-1]


# --------------------------------------------------------------------------- system deps


STUB_SUDO = """#!/bin/bash
printf 'sudo %s\\n' "$*" >> "$STUB_LOG"
[ "${STUB_SUDO_OK:-1}" = 1 ] || { echo "sudo: a password is required" >&2; exit 1; }
[ "$1" = -n ] && shift
exec "$@"
"""
STUB_APT = """#!/bin/bash
printf 'apt-get %s (uid %s)\\n' "$*" "$(id -u)" >> "$STUB_LOG"
"""
STUB_DPKG = """#!/bin/bash
# Everything is installed but wrk.
[ "${@: -1}" = wrk ] && exit 1
printf 'install ok installed'
"""


@pytest.fixture
def stub_bin(shared_tmp: Path, runner: pwd.struct_passwd) -> Path:
    tmp_path = shared_tmp
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sudo", STUB_SUDO), ("apt-get", STUB_APT), ("dpkg-query", STUB_DPKG)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    for name in ("systemctl", "service"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    (tmp_path / "calls.log").touch()
    (tmp_path / "calls.log").chmod(0o666)
    shutil.copy(ROOT / "scripts/install-system-deps.sh", tmp_path / "install-system-deps.sh")
    (tmp_path / "install-system-deps.sh").chmod(0o755)
    return bin_dir


def _system_deps(
    runner: pwd.struct_passwd, bin_dir: Path, *, sudo_ok: bool
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{bin_dir}:{PATH}", "STUB_LOG": str(bin_dir.parent / "calls.log")}
    env["STUB_SUDO_OK"] = "1" if sudo_ok else "0"
    script = f"bash {bin_dir.parent / 'install-system-deps.sh'}"
    return as_user(runner, script, env, bin_dir.parent, 60)


def test_system_deps_install_through_sudo_when_not_root(
    runner: pwd.struct_passwd, stub_bin: Path
) -> None:
    result = _system_deps(runner, stub_bin, sudo_ok=True)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = (stub_bin.parent / "calls.log").read_text().splitlines()
    installs = [c for c in calls if c.startswith("apt-get") and " install " in c]
    assert len(installs) == 1, calls
    assert installs[0].endswith(f" wrk (uid {runner.pw_uid})")
    assert any(c.startswith("sudo -n env DEBIAN_FRONTEND=noninteractive apt-get") for c in calls)
    assert "system-deps: installed wrk" in result.stdout


def test_system_deps_without_sudo_name_what_is_missing(
    runner: pwd.struct_passwd, stub_bin: Path
) -> None:
    result = _system_deps(runner, stub_bin, sudo_ok=False)
    assert result.returncode == 1
    assert "missing wrk" in result.stderr
    assert "passwordless sudo" in result.stderr
    calls = (stub_bin.parent / "calls.log").read_text()
    assert "apt-get" not in calls


def test_the_rehearsal_covers_every_plain_job() -> None:
    """Every job that runs `make` on a plain runner is rehearsed (a new one must be added)."""
    plain = set()
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job_id, job in load(path.name)["jobs"].items():
            runs = " ".join(s.get("run", "") for s in job.get("steps", []))
            if "make " in runs:
                plain.add((path.name, job_id))
    assert plain == set(JOBS)
