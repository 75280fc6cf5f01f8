"""The cluster add-ons infra/terraform installs per environment, and their CRDs.

Read at test time from infra/ (the `module "addons"` block of the environment's add-ons root
envs/<env>/addons, the module's variable defaults, that root's committed terraform.tfvars), so the
rehearsal follows a version bump there.
The CRDs come from each add-on's own released sources at the pinned version, served by the Go
module proxy (`go mod download -json MODULE@VERSION`, field Dir).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
import yaml

from tests.support.kube import go_module_dir
from tests.support.tools import REPO

INFRA = REPO / "infra" / "terraform"
ENVIRONMENTS = ("dev", "staging", "prod")

# argo-helm's chart versions are not Argo CD's versions, and the chart lives in another repository
# (not a Go module): the Argo CD release each pinned chart version ships. Add a line when
# infra/terraform bumps chart_versions.argocd.
ARGOCD_CHART_APP_VERSIONS = {"8.0.0": "v3.0.0"}


@dataclass(frozen=True)
class Addon:
    key: str  # the chart_versions key in modules/addons
    chart_version: str


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


def _blocks(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {_unquote(k): v for block in doc.get(kind, []) for k, v in block.items()}


def _addons_root(env: str) -> Path:
    return INFRA / "envs" / env / "addons"


def _root_inputs(env: str) -> dict[str, Any]:
    """The add-ons root's variables: declared defaults overridden by its terraform.tfvars."""
    root = _addons_root(env)
    values: dict[str, Any] = {}
    for path in sorted(root.glob("*.tf")):
        for name, var in _blocks(hcl2.loads(path.read_text()), "variable").items():
            if "default" in var:
                values[name] = _unquote(var["default"])
    example = root / "terraform.tfvars"
    if example.exists():
        values.update(
            {
                k: _unquote(v)
                for k, v in hcl2.loads(example.read_text()).items()
                if k != "__comments__"
            }
        )
    return values


def _evaluate(expr: Any, inputs: dict[str, Any], what: str) -> Any:
    """The few expression shapes the env roots use for add-on switches."""
    if isinstance(expr, bool):
        return expr
    text = str(expr).strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1].strip()
    if text in ("true", "false"):
        return text == "true"
    if m := re.fullmatch(r"var\.(\w+)", text):
        return inputs[m[1]]
    if m := re.fullmatch(r"length\(var\.(\w+)\)\s*>\s*0", text):
        return len(inputs[m[1]]) > 0
    if m := re.fullmatch(r"!\s*var\.(\w+)", text):
        return not inputs[m[1]]
    raise AssertionError(
        f"{what} = {expr!r}: an expression tests/support/addons.py cannot evaluate; extend _evaluate"
    )


def addons(env: str) -> list[Addon]:
    """The add-ons (with pinned chart versions) that infra/terraform installs for `env`."""
    module_dir = INFRA / "modules" / "addons"
    variables: dict[str, dict[str, Any]] = {}
    for path in sorted(module_dir.glob("*.tf")):
        variables.update(_blocks(hcl2.loads(path.read_text()), "variable"))
    versions_type = str(variables["chart_versions"]["type"])
    versions = dict(re.findall(r'(\w+)\s*=\s*optional\(string,\s*"([^"]+)"\)', versions_type))
    assert versions, f"no chart version defaults found in {versions_type!r}"

    root_modules: dict[str, dict[str, Any]] = {}
    for path in sorted(_addons_root(env).glob("*.tf")):
        root_modules.update(_blocks(hcl2.loads(path.read_text()), "module"))
    call = next(
        (
            m
            for m in root_modules.values()
            if _unquote(m.get("source", "")).endswith("modules/addons")
        ),
        None,
    )
    assert call is not None, f"infra/terraform/envs/{env}/addons calls no modules/addons"
    inputs = _root_inputs(env)
    override = call.get("chart_versions")
    if isinstance(override, dict):
        versions.update({k: _unquote(v) for k, v in override.items() if not k.startswith("__")})
    elif override is not None:
        raise AssertionError(
            f"envs/{env}/addons: chart_versions = {override!r} is not a literal map"
        )

    enabled: list[Addon] = []
    for name, var in variables.items():
        if not name.startswith("enable_"):
            continue
        key = name.removeprefix("enable_")
        switch = call[name] if name in call else var.get("default", False)
        if _evaluate(switch, inputs, f"envs/{env}/addons module addons {name}"):
            assert key in versions, f"{name} has no chart_versions.{key}"
            enabled.append(Addon(key, versions[key]))
    return enabled


# --------------------------------------------------------------------------- CRD sources


def _yaml_docs(paths: list[Path]) -> list[dict[str, Any]]:
    docs = []
    for path in paths:
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    crds = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
    assert crds, f"no CustomResourceDefinition in {[str(p) for p in paths]}"
    return crds


def _external_secrets(version: str, helm: Path) -> list[dict[str, Any]]:
    # The external-secrets chart X ships ESO vX (installCRDs=true: config/crds/bases).
    root = go_module_dir("github.com/external-secrets/external-secrets", f"v{version.lstrip('v')}")
    files = sorted(
        p
        for p in (root / "config" / "crds" / "bases").glob("*.yaml")
        if p.name != "kustomization.yaml"
    )
    return _yaml_docs(files)


def _cert_manager(version: str, helm: Path) -> list[dict[str, Any]]:
    # The chart's CRDs are Helm templates (deploy/crds holds untemplated references): render
    # the chart itself, from its source at the pinned version, with crds.enabled=true as
    # modules/addons sets it, and keep the CRDs.
    root = go_module_dir("github.com/cert-manager/cert-manager", version)
    source = root / "deploy" / "charts" / "cert-manager"
    assert (source / "Chart.yaml").is_file(), f"cert-manager {version}: no chart in {source}"
    with tempfile.TemporaryDirectory(prefix="cert-manager-crds-") as tmp:
        chart = Path(tmp) / "cert-manager"
        shutil.copytree(source, chart)
        chart.chmod(0o755)
        meta = (chart / "Chart.yaml").read_text()  # the release build stamps the versions
        meta = re.sub(r"(?m)^version: .*$", f"version: {version.lstrip('v')}", meta)
        meta = re.sub(r"(?m)^appVersion: .*$", f"appVersion: {version}", meta)
        (chart / "Chart.yaml").chmod(0o644)
        (chart / "Chart.yaml").write_text(meta)
        out = subprocess.run(
            [str(helm), "template", "cert-manager", str(chart), "--namespace", "cert-manager",
             "--set", "crds.enabled=true"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert out.returncode == 0, f"rendering cert-manager {version} CRDs failed:\n{out.stderr}"
        rendered = Path(tmp) / "rendered.yaml"
        rendered.write_text(out.stdout)
        return _yaml_docs([rendered])


def _argocd(version: str, helm: Path) -> list[dict[str, Any]]:
    app_version = ARGOCD_CHART_APP_VERSIONS.get(version)
    assert app_version, (
        f"argo-cd chart {version}: add its Argo CD version to ARGOCD_CHART_APP_VERSIONS "
        "(tests/support/addons.py)"
    )
    major = app_version.lstrip("v").split(".")[0]
    module = "github.com/argoproj/argo-cd" + (f"/v{major}" if int(major) >= 2 else "")
    root = go_module_dir(module, app_version)
    return _yaml_docs(sorted((root / "manifests" / "crds").glob("*-crd.yaml")))


# How each add-on's CRDs are obtained; None: the add-on installs no CRD with the values
# modules/addons passes. The AWS Load Balancer Controller's own CRDs (TargetGroupBinding,
# IngressClassParams) are not on the Go module proxy (it serves sigs.k8s.io/aws-load-balancer-
# controller v1.1.9 only, no v2 release): the chart renders neither kind (the ALB settings are
# Ingress annotations), so the rehearsal cluster goes without them.
CRD_SOURCES: dict[str, Any] = {
    "external_secrets": _external_secrets,
    "cert_manager": _cert_manager,
    "argocd": _argocd,
    "aws_load_balancer_controller": None,
    "external_dns": None,  # its DNSEndpoint CRD only with crd.create=true; sources service,ingress
    "metrics_server": None,  # an aggregated API (metrics.k8s.io), no CRD
    "cluster_autoscaler": None,
}


def crds_for(env: str, helm: Path) -> tuple[list[Addon], list[dict[str, Any]]]:
    """The add-ons of `env` and the CRDs they install (deduplicated by name)."""
    found = addons(env)
    crds: dict[str, dict[str, Any]] = {}
    for addon in found:
        assert addon.key in CRD_SOURCES, (
            f"infra installs add-on {addon.key!r} in {env}: tell tests/support/addons.py "
            "where its CRDs come from (CRD_SOURCES)"
        )
        source = CRD_SOURCES[addon.key]
        if source is None:
            continue
        for crd in source(addon.chart_version, helm):
            crds[crd["metadata"]["name"]] = crd
    return found, [crds[k] for k in sorted(crds)]


def served_kinds(crds: list[dict[str, Any]]) -> set[str]:
    """`group/version/Kind` of every served version of the CRDs."""
    return {
        f"{c['spec']['group']}/{v['name']}/{c['spec']['names']['kind']}"
        for c in crds
        for v in c["spec"]["versions"]
        if v.get("served", True)
    }
