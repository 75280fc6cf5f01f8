"""Offline checks of a Terraform tree that `terraform validate` and `plan` would do with providers.

- `schema_problems`: every resource, data source and provider block against the provider schemas
  of the cdktf manifests (argument names, nested blocks, required arguments) and every attribute
  reference (`aws_x.y.attr`, `data.aws_x.y.attr.nested`) against what the type exports.
- `plan_time_problems`: `for_each`/`count` whose value depends on something unknown until apply
  (an attribute the provider computes, followed through locals, variables and module outputs from
  each environment root), the "Invalid for_each argument" class of plan failures.
- `kube_provider_problems`: a helm/kubernetes provider configured in the root that creates the
  cluster, or from values unknown until apply. HashiCorp's guidance for both providers: never
  configure them from a cluster created in the same apply (the first plan has no endpoint, and a
  later replacement of the cluster plans against the old one); apply the add-ons from a second
  root that reads the existing cluster.

Both take the `infra/terraform` directory, so tests can run them on a copy with a seeded mistake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import provider_schema
from tests.support.terraform_model import META_ARGS, Config, Scope, references, root_scope

# Ephemeral resources are not in the cdktf manifests (cdktf predates them). The ones used here
# take the same arguments and export the same attributes as the data source of the same name
# (hashicorp/aws documentation), so they are checked against that data source's schema.
EPHEMERAL_TYPES = {"aws_secretsmanager_random_password": "aws_secretsmanager_random_password"}
ROOT_ONLY_BLOCK_KEYS = {"dynamic"}


# Providers that talk to the Kubernetes API of a cluster.
KUBE_PROVIDERS = ("helm", "kubernetes")
# The nested root of each environment that installs the cluster add-ons (applied second).
ADDONS_ROOT = "addons"


def root_dirs(tf: Path) -> list[Path]:
    """Every root: each environment's cluster root, its add-ons root, and the bootstrap."""
    envs = sorted(p for p in (tf / "envs").iterdir() if p.is_dir())
    addons = [e / ADDONS_ROOT for e in envs if (e / ADDONS_ROOT).is_dir()]
    return [*envs, *addons, tf / "bootstrap"]


def config_dirs(tf: Path) -> list[Path]:
    dirs = sorted(p for p in (tf / "modules").iterdir() if p.is_dir())
    return [*dirs, *root_dirs(tf)]


def _schemas() -> dict[str, dict[str, Any]]:
    return {name: provider_schema.load(name) for name in provider_schema.PROVIDERS}


def _check_body(
    body: dict[str, Any], schema: dict[str, Any], where: str, *, top: bool
) -> list[str]:
    problems = []
    args, blocks = schema["args"], schema["blocks"]
    present = set()
    for key, value in body.items():
        if top and key in META_ARGS:
            continue
        if key == "dynamic":
            for dyn in value:
                for name, spec in dyn.items():
                    present.add(name)
                    if name not in blocks:
                        problems.append(f"{where}: unknown dynamic block {name!r}")
                        continue
                    for content in spec.get("content", []):
                        problems += _check_body(
                            content, blocks[name]["schema"], f"{where}.{name}", top=False
                        )
            continue
        present.add(key)
        if key in args:
            continue
        if key in blocks:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, dict):
                    problems += _check_body(
                        item, blocks[key]["schema"], f"{where}.{key}", top=False
                    )
            continue
        problems.append(f"{where}: unknown argument or block {key!r}")
    for name, spec in {**args, **blocks}.items():
        if spec["required"] and name not in present:
            problems.append(f"{where}: required argument or block {name!r} is missing")
    return problems


def _check_refs(config: Config, schemas: dict[str, Any], where: str) -> list[str]:
    problems = []
    declared = {
        "resource": config.resources("resource"),
        "data": config.resources("data"),
    }
    ephemeral = config.resources("ephemeral")
    for ref in references(config.blocks):
        if ref.ephemeral:
            if (ref.type, ref.name) not in ephemeral:
                problems.append(f"{where}: reference to undeclared ephemeral.{ref.type}.{ref.name}")
                continue
            schema = schemas["aws"]["data"].get(EPHEMERAL_TYPES.get(ref.type, ""))
            if schema and ref.path and ref.path[0] not in schema["attrs"]:
                problems.append(
                    f"{where}: ephemeral.{ref.type}.{ref.name} has no attribute {ref.path[0]!r}"
                )
            continue
        kind = "data" if ref.data else "resource"
        label = ("data." if ref.data else "") + f"{ref.type}.{ref.name}"
        if (ref.type, ref.name) not in declared[kind]:
            problems.append(f"{where}: reference to undeclared {label}")
            continue
        provider = ref.type.split("_", 1)[0]
        schema = schemas[provider][kind].get(ref.type)
        if schema is None or not ref.path:
            continue
        attrs: dict[str, Any] | None = schema["attrs"]
        for step in ref.path:
            if attrs is None:
                break
            if step not in attrs:
                problems.append(f"{where}: {label} has no attribute {step!r} ({ref.text})")
                break
            attrs = attrs[step]["nested"]
    return problems


def schema_problems(tf: Path) -> list[str]:
    schemas = _schemas()
    problems: list[str] = []
    for directory in config_dirs(tf):
        config = Config.load(directory)
        rel = directory.relative_to(tf)
        for kind in ("resource", "data"):
            for (rtype, rname), body in config.resources(kind).items():
                provider = rtype.split("_", 1)[0]
                schema = schemas.get(provider, {}).get(kind, {}).get(rtype)
                where = f"{rel}: {'data.' if kind == 'data' else ''}{rtype}.{rname}"
                if schema is None:
                    problems.append(f"{where}: no such {kind} type in the {provider} provider")
                    continue
                problems += _check_body(body, schema, where, top=True)
        for (rtype, rname), body in config.resources("ephemeral").items():
            where = f"{rel}: ephemeral.{rtype}.{rname}"
            if rtype not in EPHEMERAL_TYPES:
                problems.append(f"{where}: unknown ephemeral type")
                continue
            problems += _check_body(
                body, schemas["aws"]["data"][EPHEMERAL_TYPES[rtype]], where, top=True
            )
        for block in config.blocks.get("provider", []):
            for pname, body in block.items():
                if pname in schemas and schemas[pname]["provider"]:
                    body = {k: v for k, v in body.items() if k != "alias"}
                    problems += _check_body(
                        body, schemas[pname]["provider"], f"{rel}: provider {pname}", top=False
                    )
        problems += _check_refs(config, schemas, str(rel))
    return problems


def _walk_scopes(scope: Scope, path: str) -> list[tuple[str, Scope]]:
    out = [(path, scope)]
    for name in scope.config.modules:
        out += _walk_scopes(scope.child(name), f"{path}.module.{name}")
    return out


def _iteration_problems(scope: Scope, where: str) -> list[str]:
    problems = []
    items: list[tuple[str, dict[str, Any]]] = []
    for kind in ("resource", "data"):
        for (rtype, rname), body in scope.config.resources(kind).items():
            items.append((f"{'data.' if kind == 'data' else ''}{rtype}.{rname}", body))
    for mname, body in scope.config.modules.items():
        items.append((f"module.{mname}", body))
    for label, body in items:
        for meta in ("for_each", "count"):
            if meta not in body:
                continue
            reasons = scope.known(body[meta], keys_only=meta == "for_each")
            for reason in reasons:
                problems.append(
                    f"{where}: {label} {meta} depends on a value unknown until apply: {reason}"
                )
    return problems


def plan_time_problems(tf: Path) -> list[str]:
    problems: list[str] = []
    for root in root_dirs(tf):
        for where, scope in _walk_scopes(root_scope(root), str(root.relative_to(tf))):
            problems += _iteration_problems(scope, where)
    return sorted(set(problems))


def creates(scope: Scope, rtype: str) -> list[str]:
    """Addresses of the `rtype` resources a root creates, through every module it calls."""
    found = []
    for where, inner in _walk_scopes(scope, ""):
        for kind, name in inner.config.resources():
            if kind == rtype:
                found.append(f"{where.lstrip('.')}.{kind}.{name}".lstrip("."))
    return found


def kube_provider_problems(tf: Path) -> list[str]:
    """helm/kubernetes providers must point at a cluster that exists before the plan: configured
    in a root that does not create it, from values known at plan time (data sources, variables)."""
    problems: list[str] = []
    for root in root_dirs(tf):
        scope = root_scope(root)
        rel = str(root.relative_to(tf))
        clusters = creates(scope, "aws_eks_cluster")
        for block in scope.config.blocks.get("provider", []):
            for pname, body in block.items():
                if pname not in KUBE_PROVIDERS:
                    continue
                if clusters:
                    problems.append(
                        f"{rel}: provider {pname} is configured in the root that creates the "
                        f"cluster ({', '.join(clusters)}): install the add-ons from a separate root"
                    )
                for reason in scope.known(body):
                    problems.append(
                        f"{rel}: provider {pname} configuration is unknown until apply: {reason}"
                    )
    return sorted(set(problems))
