"""Wiring across the artefacts (issue 22): what the chart values and GitOps manifests name exists
in infra/terraform under that name, and the app's role may use it.

Over parsed HCL (each environment root with its committed terraform.tfvars, followed into the
modules), charts/shipshape/values*.yaml and deploy/gitops:
- every ExternalSecret remote key of every environment is a secret that infra/ creates (a fixed
  name, never the random `rds!db-...` of an RDS-managed secret) and the workload role's policy
  allows reading it and decrypting it with its KMS key;
- the IAM role ARN and image repository in the values are the ones the root builds (account from
  allowed_account_ids, region, fixed role name); security groups named in values exist;
- the database host, user and database, the ingress hosts (inside the add-ons root's DNS domains)
  and the namespaces, service account and SecretStore of the values and of GitOps are infra's;
- the two roots of the environment agree: the add-ons root reads the cluster the cluster root
  names, in the same account and region, for the same app namespace, and the cluster root
  outputs the cluster_name that CI's cluster-ready.sh reads.
The CRD side (do the kinds exist on the cluster) is the cluster rehearsal's.
Each rule is shown catching a seeded mistake.
"""

from __future__ import annotations

import contextlib
import copy
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.terraform_model import Scope, UnknownValue, root_scope

ROOT = Path(__file__).resolve().parents[2]
ENV_NAMES = ["dev", "staging", "prod"]
# Where the Dockerfile puts infra/certs/rds-ca-bundle.pem (test_terraform_defects.py checks it).
IMAGE_RDS_BUNDLE = "/etc/ssl/certs/rds-ca-bundle.pem"


# ---------------------------------------------------------------------------
# the artefacts of one environment
# ---------------------------------------------------------------------------


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base.get(key), value)
        return out
    return copy.deepcopy(override)


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


class Env:
    def __init__(self, repo: Path, env: str) -> None:
        self.env = env
        self.repo = repo
        tf = repo / "infra" / "terraform"
        self.root = root_scope(tf / "envs" / env)
        self.addons = root_scope(tf / "envs" / env / "addons")
        chart = repo / "charts" / "shipshape"
        values = yaml.safe_load((chart / "values.yaml").read_text())
        values = _merge(values, yaml.safe_load((chart / f"values-{env}.yaml").read_text()) or {})
        self.values: dict[str, Any] = values
        gitops = repo / "deploy" / "gitops"
        self.argocd = _docs(gitops / "argocd" / env / "application.yaml")[0]
        self.flux = _docs(gitops / "flux" / "environments" / env / "helmrelease.yaml")[0]
        self.platform = [d for p in sorted((gitops / "platform" / env).glob("*.yaml"))
                         if p.name != "kustomization.yaml" for d in _docs(p)]  # fmt: skip

    @property
    def service_account(self) -> tuple[str, str]:
        """(name, IRSA role ARN) of the app's ServiceAccount: the chart's, or, with
        serviceAccount.create=false, the platform layer's (deploy/gitops/platform/<env>)."""
        sa = self.values["serviceAccount"]
        if sa["create"]:
            return sa["name"], sa["awsRoleArn"]
        owned = [d for d in self.platform if d["kind"] == "ServiceAccount"]
        if len(owned) != 1:
            return sa["name"], ""
        meta = owned[0]["metadata"]
        return meta["name"], (meta.get("annotations") or {}).get("eks.amazonaws.com/role-arn", "")

    def tfvar(self, name: str) -> Any:
        return self.root.evaluate(f"${{var.{name}}}")

    def addons_tfvar(self, name: str) -> Any:
        return self.addons.evaluate(f"${{var.{name}}}")

    def module(self, source_suffix: str) -> Scope:
        """The module instance called from the root whose source ends with source_suffix."""
        found = [
            n for n, c in self.root.config.modules.items() if c["source"].endswith(source_suffix)
        ]
        assert len(found) == 1, f"{self.env}: one call of {source_suffix} expected, got {found}"
        return self.root.child(found[0])

    def module_arg(self, source_suffix: str, arg: str) -> Any:
        scope = self.module(source_suffix)
        assert arg in scope.args, f"{self.env}: module {source_suffix} is not given {arg}"
        return self.root.evaluate(scope.args[arg])


def env_for(env: str, repo: Path = ROOT) -> Env:
    return Env(repo, env)


# ---------------------------------------------------------------------------
# what the HCL creates and allows
# ---------------------------------------------------------------------------

_SECRET_REF = re.compile(r"aws_secretsmanager_secret\.([a-z0-9_]+)(?:\[\"([^\"]+)\"\])?")
_KMS_REF = re.compile(r"aws_kms_key\.([a-z0-9_]+)")
_LINK = re.compile(r"(var|local|module)\.([a-z0-9_-]+)(?:\.([a-z0-9_-]+))?(?:\[\"([^\"]+)\"\])?")


def _sk(scope: Scope) -> str:
    return str(scope.config.directory)


def _instance_keys(scope: Scope, rtype: str, rname: str) -> list[str | None]:
    body = scope.config.resources()[(rtype, rname)]
    if "for_each" not in body:
        return [None]
    keys = scope.evaluate(body["for_each"])
    assert isinstance(keys, (dict, list)), f"{rtype}.{rname}: for_each not evaluable"
    return list(keys)


def secret_names(scope: Scope) -> dict[tuple[str, str, str | None], str]:
    """Names of the aws_secretsmanager_secret instances of a module instance, keyed by
    (scope id, resource name, instance key)."""
    out = {}
    for (rtype, rname), body in scope.config.resources().items():
        if rtype != "aws_secretsmanager_secret":
            continue
        assert "name" in body, f"{rname}: secret without a fixed name (name_prefix is random)"
        for key in _instance_keys(scope, rtype, rname):
            template = body["name"].replace("${each.key}", key or "")
            out[(_sk(scope), rname, key)] = scope.evaluate(template)
    return out


def reached(scope: Scope, value: Any, pattern: re.Pattern[str], only_key: str | None = None,
            depth: int = 0) -> set[tuple[str, Scope, str, str | None]]:  # fmt: skip
    """Resource instances of `pattern` that an expression reaches through var/local/module."""
    assert depth < 30
    out: set[tuple[str, Scope, str, str | None]] = set()
    texts = [value] if isinstance(value, str) else [str(v) for v in _flatten(value)]
    for text in texts:
        for m in pattern.finditer(text):
            keys = [m.group(2)] if m.lastindex and m.lastindex >= 2 and m.group(2) else None
            rtype = "aws_secretsmanager_secret" if pattern is _SECRET_REF else "aws_kms_key"
            for key in keys or _instance_keys(scope, rtype, m.group(1)):
                if only_key is None or key == only_key:
                    out.add((_sk(scope), scope, m.group(1), key))
        for m in _LINK.finditer(text):
            kind, name, attr, index = m.groups()
            if kind == "var" and name in scope.args and scope.parent is not None:
                out |= reached(scope.parent, scope.args[name], pattern, only_key, depth + 1)
            elif kind == "local" and name in scope.config.locals:
                out |= reached(scope, scope.config.locals[name], pattern, only_key, depth + 1)
            elif kind == "module" and name in scope.config.modules and attr:
                child = scope.child(name)
                output = child.config.outputs.get(attr)
                if output is not None:
                    out |= reached(child, output["value"], pattern, index or only_key, depth + 1)
    return out


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in [k, *_flatten(v)]]
    if isinstance(value, list):
        return [x for v in value for x in _flatten(v)]
    return [value]


def _statements(scope: Scope, action: str) -> list[dict[str, Any]]:
    out = []
    for (rtype, _), body in scope.config.resources("data").items():
        if rtype != "aws_iam_policy_document":
            continue
        for statement in body.get("statement", []):
            if (
                action in statement.get("actions", [])
                and statement.get("effect", "Allow") == "Allow"
            ):
                out.append(statement)
    return out


def readable_secrets(env: Env) -> set[str]:
    """Names of the secrets the workload role may GetSecretValue and decrypt."""
    identity = env.module("modules/workload-identity")
    read = set()
    for statement in _statements(identity, "secretsmanager:GetSecretValue"):
        read |= reached(identity, statement["resources"], _SECRET_REF)
    keys = set()
    for statement in _statements(identity, "kms:Decrypt"):
        for _, scope, rname, _k in reached(identity, statement["resources"], _KMS_REF):
            keys.add((_sk(scope), rname))
    names = set()
    for sid, scope, rname, key in read:
        body = scope.config.resources()[("aws_secretsmanager_secret", rname)]
        kms = {(s, r) for s, _, r, _k in reached(scope, body.get("kms_key_id", ""), _KMS_REF)}
        if kms and kms <= keys:
            names.add(secret_names(scope)[(sid, rname, key)])
    return names


def created_secrets(env: Env) -> set[str]:
    names: set[str] = set()

    def walk(scope: Scope) -> None:
        names.update(secret_names(scope).values())
        for child in scope.config.modules:
            walk(scope.child(child))

    walk(env.root)
    return names


def remote_keys(env: Env) -> list[str]:
    es = env.values["externalSecret"]
    if not es["enabled"]:
        return []
    return [k for k in (es["databasePassword"]["key"], es["adminToken"]["key"]) if k]


# ---------------------------------------------------------------------------
# the rules
# ---------------------------------------------------------------------------


def secret_problems(env: Env) -> list[str]:
    problems = []
    created, readable = created_secrets(env), readable_secrets(env)
    for key in remote_keys(env):
        if key.startswith("arn:") or "rds!" in key:
            problems.append(
                f"{env.env}: ExternalSecret key {key!r} is an ARN/RDS-managed name (random)"
            )
        elif key not in created:
            problems.append(
                f"{env.env}: ExternalSecret key {key!r}: no such secret in infra/ ({sorted(created)})"
            )
        elif key not in readable:
            problems.append(f"{env.env}: ExternalSecret key {key!r}: the app role may not read it")
    return problems


def identity_problems(env: Env) -> list[str]:
    problems = []
    account = env.tfvar("allowed_account_ids")[0]
    region = env.tfvar("region")
    identity = env.module("modules/workload-identity")
    role = identity.config.resources()[("aws_iam_role", "this")]
    if "name" not in role or "path" in role:
        problems.append(
            f"{env.env}: the app role has no fixed name (name_prefix/path): its ARN is random"
        )
        role_name = None
    else:
        role_name = identity.evaluate(role["name"])
    _, arn = env.service_account
    if arn and arn != f"arn:aws:iam::{account}:role/{role_name}":
        problems.append(f"{env.env}: the ServiceAccount's awsRoleArn {arn} is not the app role "
                        f"arn:aws:iam::{account}:role/{role_name}")  # fmt: skip
    if not env.values["serviceAccount"]["create"] and not arn:
        problems.append(f"{env.env}: serviceAccount.create=false but the platform layer has no "
                        "ServiceAccount with the app role")  # fmt: skip
    outputs = env.root.config.outputs
    if "module.app_identity.role_arn" not in str(outputs.get("app_role_arn", {}).get("value")):
        problems.append(f"{env.env}: no output app_role_arn of the app role")
    registry = env.module("modules/registry")
    repo_name = registry.evaluate(
        registry.config.resources()[("aws_ecr_repository", "this")]["name"]
    )
    image = env.values["image"]["repository"]
    if env.values["postgresql"]["enabled"] is False and image != (
        f"{account}.dkr.ecr.{region}.amazonaws.com/{repo_name}"
    ):
        problems.append(f"{env.env}: image.repository {image} is not the root's ECR repository")
    # Security groups named in values (ALB annotations) are security groups infra/ names.
    sg_names: set[str] = set()

    def walk(scope: Scope) -> None:
        for (rtype, _), body in scope.config.resources().items():
            if rtype == "aws_security_group" and "name" in body:
                with contextlib.suppress(UnknownValue):
                    sg_names.add(scope.evaluate(body["name"]))
        for child in scope.config.modules:
            walk(scope.child(child))

    walk(env.root)
    annotations = (env.values.get("ingress") or {}).get("annotations") or {}
    for key, value in annotations.items():
        if key.endswith("/security-groups"):
            for sg in str(value).split(","):
                sg = sg.strip()
                if sg and not sg.startswith("sg-") and sg not in sg_names:
                    problems.append(
                        f"{env.env}: security group {sg!r} ({key}) is not created by infra/"
                    )
    return problems


def network_problems(env: Env) -> list[str]:
    problems = []
    region = env.tfvar("region")
    namespace = env.root.evaluate("${local.app_namespace}")
    account = env.root.evaluate("${local.app_service_account}")
    if env.module_arg("modules/workload-identity", "namespace") != namespace:
        problems.append(f"{env.env}: app role trusts another namespace")
    if env.module_arg("modules/workload-identity", "service_account") != account:
        problems.append(f"{env.env}: app role trusts another service account")
    values = env.values
    name, arn = env.service_account
    if arn and (name != account or values["serviceAccount"]["name"] != account):
        problems.append(
            f"{env.env}: serviceAccount.name {values['serviceAccount']['name']!r} (platform: "
            f"{name!r}) != {account!r}"
        )
    if env.argocd["spec"]["destination"]["namespace"] != namespace:
        problems.append(
            f"{env.env}: Argo CD deploys into {env.argocd['spec']['destination']['namespace']!r}"
        )
    if env.flux["spec"]["targetNamespace"] != namespace:
        problems.append(f"{env.env}: Flux deploys into {env.flux['spec']['targetNamespace']!r}")
    kinds = {d["kind"]: d for d in env.platform}
    if kinds["Namespace"]["metadata"]["name"] != namespace:
        problems.append(
            f"{env.env}: GitOps creates namespace {kinds['Namespace']['metadata']['name']!r}"
        )
    if values["externalSecret"]["enabled"]:
        store = kinds.get("SecretStore")
        ref = values["externalSecret"]["secretStoreRef"]
        if (
            store is None
            or ref["kind"] != "SecretStore"
            or store["metadata"]["name"] != ref["name"]
        ):
            problems.append(
                f"{env.env}: no SecretStore {ref['name']!r} in deploy/gitops/platform/{env.env}"
            )
        else:
            aws = store["spec"]["provider"]["aws"]
            if store["metadata"]["namespace"] != namespace:
                problems.append(
                    f"{env.env}: SecretStore in namespace {store['metadata']['namespace']!r}"
                )
            if aws["auth"]["jwt"]["serviceAccountRef"]["name"] != account:
                problems.append(f"{env.env}: SecretStore authenticates as another service account")
            if aws["region"] != region:
                problems.append(f"{env.env}: SecretStore region {aws['region']} != {region}")
    # cert-manager: the ClusterIssuer the ingress names is one infra/ installs in this cluster.
    cert = values["ingress"].get("certManager") or {}
    if values["ingress"]["enabled"] and cert.get("enabled"):
        chart = env.repo / "infra/terraform/modules/addons/charts/cluster-issuers/values.yaml"
        issuers = set(yaml.safe_load(chart.read_text())["issuers"])
        if not env.addons_tfvar("route53_zone_ids"):
            problems.append(f"{env.env}: ingress uses cert-manager but infra/ installs none here")
        elif cert["clusterIssuer"] not in issuers:
            problems.append(
                f"{env.env}: ClusterIssuer {cert['clusterIssuer']!r} is not one of {sorted(issuers)}"
            )
    # Hostnames: the ingress hosts inside the root's DNS domains, the database host the root's.
    if values["ingress"]["enabled"]:
        domains = env.addons.evaluate(env.addons.config.outputs["dns_domains"]["value"])
        for host in values["ingress"]["hosts"]:
            if not any(host == d or host.endswith("." + d) for d in domains):
                problems.append(
                    f"{env.env}: ingress host {host} is outside the DNS domains {domains}"
                )
    if not values["postgresql"]["enabled"]:
        db = values["externalDatabase"]
        database = env.module("modules/database")
        identifier = database.evaluate(
            database.config.resources()[("aws_db_instance", "this")]["identifier"]
        )
        if not re.fullmatch(
            rf"{re.escape(identifier)}\.[a-z0-9]+\.{re.escape(region)}\.rds\.amazonaws\.com",
            db["host"],
        ):
            problems.append(
                f"{env.env}: externalDatabase.host {db['host']} is not instance {identifier} in {region}"
            )
        if db["database"] != database.evaluate("${var.database_name}"):
            problems.append(
                f"{env.env}: externalDatabase.database {db['database']!r} is not the root's"
            )
        if db["user"] != env.module_arg("modules/app-secrets", "db_username"):
            problems.append(
                f"{env.env}: externalDatabase.user {db['user']!r} is not the app's own role"
            )
        query = dict(q.split("=", 1) for q in db["query"].split("&") if "=" in q)
        if query.get("sslmode") != "verify-full" or query.get("sslrootcert") != IMAGE_RDS_BUNDLE:
            problems.append(
                f"{env.env}: externalDatabase.query {db['query']!r} does not verify the server"
            )
    return problems


def root_problems(env: Env) -> list[str]:
    """The add-ons root installs into the cluster the cluster root creates."""
    problems = []
    created = env.root.evaluate(env.root.config.modules["cluster"]["name"])
    data = env.addons.config.resources("data").get(("aws_eks_cluster", "this"))
    read = env.addons.evaluate(data["name"]) if data else None
    if read != created:
        problems.append(f"{env.env}: the add-ons root reads cluster {read!r}, the cluster root "
                        f"creates {created!r}")  # fmt: skip
    for name in ("region", "allowed_account_ids"):
        if env.addons_tfvar(name) != env.tfvar(name):
            problems.append(f"{env.env}: the roots disagree on {name}: {env.tfvar(name)!r} "
                            f"(cluster) != {env.addons_tfvar(name)!r} (add-ons)")  # fmt: skip
    namespace = env.root.evaluate("${local.app_namespace}")
    if env.addons.evaluate(env.addons.config.modules["addons"]["app_namespace"]) != namespace:
        problems.append(f"{env.env}: the add-ons root's app namespace is not {namespace!r}")
    if "module.cluster.name" not in str(env.root.config.outputs.get("cluster_name", {})):
        problems.append(
            f"{env.env}: the cluster root has no output cluster_name (cluster-ready.sh)"
        )
    return problems


def all_problems(env: Env) -> list[str]:
    return (
        secret_problems(env) + identity_problems(env) + network_problems(env) + root_problems(env)
    )


@pytest.mark.parametrize("env", ENV_NAMES)
def test_values_and_gitops_are_wired_to_infra(env: str) -> None:
    problems = all_problems(env_for(env))
    assert not problems, "\n".join(problems)


def test_the_wiring_is_really_checked() -> None:
    """Not vacuous: staging and prod read secrets, name a role, a database and hosts."""
    prod = env_for("prod")
    assert remote_keys(prod) == ["shipshape/prod/database", "shipshape/prod/admin-token"]
    assert readable_secrets(prod) == {"shipshape/prod/database", "shipshape/prod/admin-token"}
    assert remote_keys(env_for("staging")) == ["shipshape/staging/database"]
    assert prod.service_account == (
        "shipshape",
        "arn:aws:iam::333333333333:role/shipshape-prod-app",
    )
    assert prod.values["ingress"]["enabled"]


# ---------------------------------------------------------------------------
# seeded mistakes, each in a copy of the repository's artefacts
# ---------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for part in ("infra/terraform", "charts/shipshape", "deploy/gitops"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns(".terraform"))
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"seed anchor {old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_catches_a_secret_key_nothing_creates(repo: Path) -> None:
    edit(
        repo / "charts/shipshape/values-prod.yaml",
        "key: shipshape/prod/admin-token",
        "key: shipshape/prod/admin",
    )
    problems = all_problems(env_for("prod", repo))
    assert problems == ["prod: ExternalSecret key 'shipshape/prod/admin': no such secret in infra/ "
                        "(['shipshape/prod/admin-token', 'shipshape/prod/database'])"], problems  # fmt: skip


def test_catches_an_rds_managed_secret_arn(repo: Path) -> None:
    edit(repo / "charts/shipshape/values-staging.yaml", "key: shipshape/staging/database",
         "key: arn:aws:secretsmanager:eu-west-1:222222222222:secret:rds!db-0123")  # fmt: skip
    assert any("ARN/RDS-managed" in p for p in all_problems(env_for("staging", repo)))


def test_catches_a_secret_the_role_may_not_read(repo: Path) -> None:
    edit(repo / "infra/terraform/envs/prod/main.tf", "secret_arns              = values(module.app_secrets.secret_arns)",
         'secret_arns              = [module.app_secrets.secret_arns["database"]]')  # fmt: skip
    problems = all_problems(env_for("prod", repo))
    assert problems == [
        "prod: ExternalSecret key 'shipshape/prod/admin-token': the app role may not read it"
    ], problems


def test_catches_a_random_role_name_and_a_wrong_arn(repo: Path) -> None:
    edit(repo / "infra/terraform/modules/workload-identity/main.tf", "  name                 = var.name\n",
         '  name_prefix          = "${var.name}-"\n')  # fmt: skip
    assert any("no fixed name" in p for p in all_problems(env_for("prod", repo)))
    edit(repo / "infra/terraform/modules/workload-identity/main.tf", '  name_prefix          = "${var.name}-"\n',
         "  name                 = var.name\n")  # fmt: skip
    edit(repo / "deploy/gitops/platform/staging/serviceaccount.yaml",
         "222222222222:role/shipshape-staging-app", "123456789012:role/shipshape-staging-app")  # fmt: skip
    assert any("awsRoleArn" in p for p in all_problems(env_for("staging", repo)))


def test_catches_namespace_host_and_security_group_mistakes(repo: Path) -> None:
    edit(
        repo / "deploy/gitops/argocd/prod/application.yaml",
        "    namespace: shipshape",
        "    namespace: shipshape-prod",
    )
    edit(
        repo / "charts/shipshape/values-prod.yaml",
        "    - shipshape.example.com",
        "    - shipshape.example.org",
    )
    edit(repo / "charts/shipshape/values-prod.yaml", "    alb.ingress.kubernetes.io/scheme: internet-facing",
         "    alb.ingress.kubernetes.io/scheme: internet-facing\n"
         "    alb.ingress.kubernetes.io/security-groups: shipshape-prod-alb")  # fmt: skip
    edit(
        repo / "deploy/gitops/platform/prod/secretstore.yaml",
        "region: eu-west-1",
        "region: us-east-1",
    )
    problems = "\n".join(all_problems(env_for("prod", repo)))
    assert "Argo CD deploys into 'shipshape-prod'" in problems
    assert "ingress host shipshape.example.org is outside the DNS domains" in problems
    assert "security group 'shipshape-prod-alb'" in problems
    assert "SecretStore region us-east-1 != eu-west-1" in problems
    assert len(problems.splitlines()) == 4, problems


def test_catches_a_database_user_that_is_not_the_apps_role(repo: Path) -> None:
    edit(
        repo / "charts/shipshape/values-prod.yaml",
        "  user: shipshape\n",
        "  user: shipshape_admin\n",
    )
    edit(
        repo / "charts/shipshape/values-prod.yaml",
        "  query: sslmode=verify-full&",
        "  query: sslmode=require&",
    )
    problems = all_problems(env_for("prod", repo))
    assert any("externalDatabase.user 'shipshape_admin'" in p for p in problems), problems
    assert any("does not verify the server" in p for p in problems), problems


def test_catches_roots_that_disagree(repo: Path) -> None:
    edit(repo / "infra/terraform/envs/staging/addons/main.tf", "  name = module.environment.name\n",
         '  name = "${module.environment.name}-eks"\n')  # fmt: skip
    edit(
        repo / "infra/terraform/envs/staging/addons/terraform.tfvars",
        '"eu-west-1"',
        '"eu-central-1"',
    )
    edit(repo / "infra/terraform/envs/staging/addons/main.tf", 'app_namespace = "shipshape"',
         'app_namespace = "shipshape-staging"')  # fmt: skip
    problems = root_problems(env_for("staging", repo))
    assert problems == [
        "staging: the add-ons root reads cluster 'shipshape-staging-eks', the cluster root "
        "creates 'shipshape-staging'",
        "staging: the roots disagree on region: 'eu-west-1' (cluster) != 'eu-central-1' (add-ons)",
        "staging: the add-ons root's app namespace is not 'shipshape'",
    ], problems


def test_catches_a_cluster_issuer_infra_does_not_install(repo: Path) -> None:
    edit(repo / "charts/shipshape/values-prod.yaml", "  certManager:\n    enabled: false",
         "  certManager:\n    enabled: true\n    clusterIssuer: letsencrypt-prod")  # fmt: skip
    problems = all_problems(env_for("prod", repo))
    assert problems == ["prod: ClusterIssuer 'letsencrypt-prod' is not one of "
                        "['letsencrypt', 'letsencrypt-staging']"], problems  # fmt: skip
