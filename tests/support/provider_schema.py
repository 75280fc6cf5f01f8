"""Terraform provider schemas without the providers: read from the cdktf npm packages.

The hashicorp/aws and hashicorp/helm providers cannot be downloaded here (no Terraform registry),
but the npm packages `@cdktf/provider-aws` and `@cdktf/provider-helm` are generated from them and
carry every resource and data source in their `.jsii` manifest: the Terraform type name, each
argument (with its Terraform name and whether it is required), nested blocks and the attributes a
resource exports (computed ones have no setter). This module installs a pinned version into a
per-machine cache keyed by version (never into the repository), extracts a compact schema once
and caches it next to the package.

Schema shape (one per resource/data type, nested the same way for blocks):
    {"args": {name: {"required": bool}},
     "blocks": {name: {"required": bool, "schema": <schema>}},
     "attrs": {name: {"computed": bool, "nested": <attr schema> | None}}}
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.support.tools import unavailable

PROVIDERS = {
    # Terraform provider -> (npm package, version, provider version it was generated from)
    "aws": ("@cdktf/provider-aws", "21.22.1", "6.25.0"),
    "helm": ("@cdktf/provider-helm", "12.1.2", "3.1.1"),
}
SCHEMA_FORMAT = 1

_DOC_NAME = re.compile(r"docs/(resources|data-sources)/[a-z0-9_]+#([a-z0-9_]+) ")
_TYPE_NAME = re.compile(r"docs/(resources|data-sources)/([a-z0-9_]+) ([a-z0-9_]+)\}")
_PROVIDER_DOC = re.compile(r"docs#([a-z0-9_]+) ")


def cache_root() -> Path:
    base = os.environ.get("SHIPSHAPE_TOOL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "shipshape", "tools"
    )
    return Path(base) / "npm"


def npm_package(package: str, version: str, marker: str = ".jsii") -> Path:
    """Install PACKAGE@VERSION once per machine (no peer deps, no scripts); return its directory.

    `marker` is a file of the package whose presence means the install is complete."""
    slug = package.strip("@").replace("/", "-")
    dest = cache_root() / f"{slug}-{version}"
    pkg_dir = dest / "node_modules" / package
    if (pkg_dir / marker).is_file():
        return pkg_dir
    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm not found (needed to read the provider schemas from @cdktf packages)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / ".npm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (pkg_dir / marker).is_file():
            tmp = Path(tempfile.mkdtemp(prefix=".install.", dir=dest.parent))
            subprocess.run(
                [npm, "install", "--no-save", "--ignore-scripts", "--legacy-peer-deps",
                 "--no-audit", "--no-fund", "--prefix", str(tmp), f"{package}@{version}"],
                check=True, capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            shutil.rmtree(dest, ignore_errors=True)
            tmp.rename(dest)
    return pkg_dir


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


class _Extractor:
    def __init__(self, types: dict[str, Any]) -> None:
        self.types = types

    def struct_fqn(self, type_ref: dict[str, Any]) -> str | None:
        """The struct (nested block) a property's type refers to, if any."""
        if "fqn" in type_ref:
            target = self.types.get(type_ref["fqn"])
            if target and target["kind"] == "interface" and target.get("datatype"):
                return str(type_ref["fqn"])
            return None
        if "union" in type_ref:
            for member in type_ref["union"]["types"]:
                found = self.struct_fqn(member)
                if found:
                    return found
        if "collection" in type_ref:
            return self.struct_fqn(type_ref["collection"]["elementtype"])
        return None

    @staticmethod
    def tf_name(prop: dict[str, Any]) -> str:
        docs = prop.get("docs", {})
        text = docs.get("remarks", "") + " " + docs.get("summary", "")
        found = _DOC_NAME.search(text) or _PROVIDER_DOC.search(text)
        return (
            found.group(2 if found.re is _DOC_NAME else 1)
            if found
            else camel_to_snake(prop["name"])
        )

    def config_schema(self, fqn: str) -> dict[str, Any]:
        args: dict[str, Any] = {}
        blocks: dict[str, Any] = {}
        for prop in self.types[fqn].get("properties", []):
            name = self.tf_name(prop)
            required = not prop.get("optional", False)
            struct = self.struct_fqn(prop["type"])
            if struct:
                blocks[name] = {"required": required, "schema": self.config_schema(struct)}
            else:
                args[name] = {"required": required}
        return {"args": args, "blocks": blocks}

    def attr_schema(self, fqn: str, names: dict[str, str]) -> dict[str, Any]:
        """Readable attributes of a resource class or of a block's output reference."""
        attrs: dict[str, Any] = {}
        cls = self.types.get(fqn)
        if cls is None:
            return attrs
        for prop in cls.get("properties", []):
            pname = prop["name"]
            if prop.get("static") or pname.endswith("Input") or pname in (
                "internalValue", "fqn", "terraformResourceType", "friendlyUniqueId",
                "terraformGeneratorMetadata", "terraformMetaArguments", "node", "cdktfStack",
            ):  # fmt: skip
                continue
            tf = names.get(pname, camel_to_snake(pname))
            nested = None
            ref = prop["type"].get("fqn", "")
            if ref.endswith("List") or ref.endswith("Map"):
                ref = ref[: -len("List" if ref.endswith("List") else "Map")] + "OutputReference"
            if ref.endswith("OutputReference") and ref in self.types:
                nested = self.attr_schema(ref, names)
            attrs[tf] = {"computed": bool(prop.get("immutable")), "nested": nested}
        return attrs

    def prop_names(self, fqn: str) -> dict[str, str]:
        """camelCase property name -> Terraform name, from a config struct and its sub-structs."""
        out: dict[str, str] = {}
        seen: set[str] = set()
        stack = [fqn]
        while stack:
            current = stack.pop()
            if current in seen or current not in self.types:
                continue
            seen.add(current)
            for prop in self.types[current].get("properties", []):
                out.setdefault(prop["name"], self.tf_name(prop))
                struct = self.struct_fqn(prop["type"])
                if struct:
                    stack.append(struct)
        return out


def extract(jsii_path: Path, provider: str) -> dict[str, Any]:
    manifest = json.loads(jsii_path.read_text(encoding="utf-8"))
    types: dict[str, Any] = manifest["types"]
    ex = _Extractor(types)
    out: dict[str, Any] = {"resource": {}, "data": {}, "provider": None}
    for fqn, spec in types.items():
        if spec["kind"] != "class":
            continue
        base = spec.get("base")
        config = fqn + "Config"
        if base == "cdktf.TerraformProvider":
            out["provider"] = ex.config_schema(config)
            continue
        if base not in ("cdktf.TerraformResource", "cdktf.TerraformDataSource"):
            continue
        found = _TYPE_NAME.search(spec.get("docs", {}).get("summary", ""))
        if not found or config not in types:
            continue
        kind = "resource" if found.group(1) == "resources" else "data"
        tf_type = found.group(3)
        schema = ex.config_schema(config)
        names = ex.prop_names(config)
        attrs = ex.attr_schema(fqn, names)
        for arg in schema["args"]:
            attrs.setdefault(arg, {"computed": False, "nested": None})
        schema["attrs"] = attrs
        out[kind][tf_type] = schema
    assert out["resource"], f"no resources found in {jsii_path}"
    return out


@functools.cache
def load(provider: str) -> dict[str, Any]:
    """The compact schema of a provider (cached per machine and version)."""
    package, version, _ = PROVIDERS[provider]
    pkg_dir = npm_package(package, version)
    cached = pkg_dir.parent.parent.parent / f"schema-v{SCHEMA_FORMAT}.json"
    if cached.is_file():
        return dict(json.loads(cached.read_text(encoding="utf-8")))
    schema = extract(pkg_dir / ".jsii", provider)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps(schema), encoding="utf-8")
    tmp.rename(cached)
    return schema
