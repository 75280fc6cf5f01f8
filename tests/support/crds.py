"""Custom resources validated against the CRDs their projects really ship.

The CRD files come from the projects' own Go modules at pinned versions (`go mod download -json
MODULE@VERSION` -> Dir, from the Go module proxy; cached in GOMODCACHE like any module), and an
object is checked against the served version's `openAPIV3Schema` with jsonschema, as strictly as
the API server's `fieldValidation=Strict` (what `kubectl apply` uses): an unknown field is an
error unless the schema preserves unknown fields. `metadata` is checked against the real
ObjectMeta schema of Kubernetes (kubernetes-validate's copy).

Flux's helm-controller module is not served by the proxy; its API module is. For HelmRelease the
CRD is generated from that module's Go types by controller-gen, the generator (and version)
helm-controller's own Makefile uses, so it is still upstream's definition, not ours.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from tests.support.tools import unavailable

REPO = Path(__file__).resolve().parents[2]
TOOL_CACHE = Path(
    os.environ.get("SHIPSHAPE_TOOL_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shipshape/tools"
)

# (module, version, CRD files inside the module). Versions: what infra/terraform pins where it
# installs the add-on (tests check that the pins still agree), else the release named here.
FLUX_VERSION = "v2.9.5"  # the flux2 CLI; source/kustomize-controller versions from its go.mod
SOURCE_CONTROLLER = ("github.com/fluxcd/source-controller", "v1.9.5", "config/crd/bases")
KUSTOMIZE_CONTROLLER = ("github.com/fluxcd/kustomize-controller", "v1.9.5", "config/crd/bases")
HELM_CONTROLLER_API = ("github.com/fluxcd/helm-controller/api", "v1.6.4", "v2")
CONTROLLER_GEN = ("sigs.k8s.io/controller-tools/cmd/controller-gen", "v0.19.0")
# Argo CD chart 8.0.0 (infra/terraform/modules/addons chart_versions.argocd) is Argo CD v3.0.0.
ARGO_CD_CHART, ARGO_CD = "8.0.0", ("github.com/argoproj/argo-cd/v3", "v3.0.0", "manifests/crds")
# External Secrets chart X.Y.Z (chart_versions.external_secrets) is the operator vX.Y.Z.
EXTERNAL_SECRETS = ("github.com/external-secrets/external-secrets", "v1.3.2", "config/crds/bases")
# Not installed by infra/terraform: the only version the proxy lists.
PROMETHEUS_OPERATOR = (
    "github.com/prometheus-operator/prometheus-operator",
    "v0.85.0",
    "example/prometheus-operator-crd",
)
# Not installed by infra/terraform (no Gateway API implementation): the standard channel of v1.3.
GATEWAY_API = ("sigs.k8s.io/gateway-api", "v1.3.0", "config/crd/standard")


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        unavailable("go not found (the CRDs come from the Go module proxy)")
        raise AssertionError("unreachable")
    return go


@functools.cache
def module_dir(module: str, version: str) -> Path:
    """The module's source tree, downloaded from the Go module proxy (cached by Go)."""
    with tempfile.TemporaryDirectory() as empty:
        result = subprocess.run(
            [_go(), "mod", "download", "-json", f"{module}@{version}"],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=empty,  # outside any module: no go.mod of ours is consulted
            env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"},
        )
    info = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    directory = info.get("Dir")
    # Go reports a newer `go` directive as an Error but has extracted the tree all the same.
    if not directory or not Path(directory).is_dir():
        raise AssertionError(f"go mod download {module}@{version}: {result.stdout}{result.stderr}")
    return Path(directory)


def crd_files(source: tuple[str, str, str], *plurals: str) -> list[Path]:
    """The module's CRD files (only those of the given resource plurals, when named)."""
    module, version, sub = source
    base = module_dir(module, version) / sub
    files = sorted(
        p
        for p in base.rglob("*.yaml")
        if p.name != "kustomization.yaml"
        and (not plurals or p.stem.split("_")[-1].removesuffix("-crd") in plurals)
    )
    assert files, f"no CRD files under {base}"
    return files


def _controller_gen() -> str:
    package, version = CONTROLLER_GEN
    result = subprocess.run(
        ["bash", str(REPO / "scripts/go-tool.sh"), package, version],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@functools.cache
def helmrelease_crd() -> Path:
    """HelmRelease CRD generated from helm-controller's API module (controller-gen), cached by
    version next to the tools."""
    module, version, sub = HELM_CONTROLLER_API
    dest = TOOL_CACHE / f"crds/helm-controller-api-{version}-controller-gen-{CONTROLLER_GEN[1]}"
    target = dest / "helm.toolkit.fluxcd.io_helmreleases.yaml"
    if target.is_file():
        return target
    source = module_dir(module, version)
    gen = _controller_gen()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "api"
        shutil.copytree(source, work)
        for path in work.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
        out = Path(tmp) / "out"
        result = subprocess.run(
            [gen, "crd", f"paths=./{sub}/...", f"output:crd:artifacts:config={out}"],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=work,
            env=env,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        generated = out / target.name
        assert generated.is_file(), sorted(p.name for p in out.iterdir())
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(generated, target)
    return target


def _strict(schema: Any) -> Any:
    """fieldValidation=Strict: objects with declared properties reject undeclared ones."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        if out.get("x-kubernetes-int-or-string") and "type" not in out and "anyOf" not in out:
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


class _Loader(yaml.SafeLoader):
    """PyYAML without the YAML 1.1 `=` (value) type, which it cannot construct."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:value"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_schemas(files: Iterable[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """{(apiVersion, kind): strict openAPIV3Schema} of every served version in the files."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in files:
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_Loader):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                schemas[key] = _strict(schema)
    return schemas


@functools.cache
def _object_meta() -> jsonschema.Validator:
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    newest = max(
        (d for d in base.iterdir() if d.name.endswith("-local-strict")),
        key=lambda d: tuple(int(p) for p in d.name[1:].split("-")[0].split(".")),
    )
    definitions = json.loads((newest / "_definitions.json").read_text())["$defs"]
    needed: dict[str, Any] = {}
    pending = ["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
    while pending:
        name = pending.pop()
        if name not in needed:
            needed[name] = definitions[name]
            pending += re.findall(r'"#/\$defs/([^"]+)"', json.dumps(definitions[name]))
    schema = {"$defs": needed, "$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    return jsonschema.Draft202012Validator(schema)


class Oracle:
    """Validates custom resources against a set of upstream CRDs."""

    def __init__(self, files: Iterable[Path]) -> None:
        self.schemas = load_schemas(files)

    def errors(self, obj: dict[str, Any]) -> list[str]:
        key = (obj.get("apiVersion", ""), obj.get("kind", ""))
        schema = self.schemas.get(key)
        if schema is None:
            return [f"no served CRD version for {key}"]
        found = [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in jsonschema.Draft7Validator(schema).iter_errors(obj)
        ]
        found += [
            f"metadata/{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in _object_meta().iter_errors(obj.get("metadata", {}))
        ]
        return found

    def validate(self, obj: dict[str, Any]) -> None:
        problems = self.errors(obj)
        name = obj.get("metadata", {}).get("name")
        assert not problems, f"{obj.get('kind')} {name}: " + "; ".join(problems)


@functools.cache
def gitops_oracle() -> Oracle:
    return Oracle(
        [
            *crd_files(SOURCE_CONTROLLER, "gitrepositories", "ocirepositories"),
            *crd_files(KUSTOMIZE_CONTROLLER),
            helmrelease_crd(),
            *crd_files(ARGO_CD, "application", "appproject"),
            *crd_files(EXTERNAL_SECRETS, "secretstores"),
        ]
    )


@functools.cache
def chart_oracle() -> Oracle:
    return Oracle(
        [
            *crd_files(PROMETHEUS_OPERATOR, "servicemonitors", "prometheusrules"),
            *crd_files(GATEWAY_API, "httproutes"),
            *crd_files(EXTERNAL_SECRETS, "externalsecrets"),
        ]
    )
