"""A parsed view of infra/terraform for offline checks: blocks, references and a small evaluator.

python-hcl2 parses each file; expressions come back as `${...}` strings. This module finds the
references in them (resources, data sources, variables, locals, module outputs), follows module
calls across directories, and answers two questions `terraform plan` would: is a value known at
plan time (`known`), and what does a simple expression evaluate to (`evaluate`, for names built
from variables and locals, used by the wiring test).
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

META_ARGS = {
    "count",
    "for_each",
    "provider",
    "depends_on",
    "lifecycle",
    "connection",
    "provisioner",
}

# A reference: optional data., a type and name, then attribute/index steps.
_REF = re.compile(
    r"(?<![\w.\"])(?P<data>data\.|ephemeral\.)?(?P<type>(?:aws|helm)_[a-z0-9_]+)\.(?P<name>[a-z0-9_-]+)"
    r"(?P<steps>(?:\[[^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*\]|\.\*|\.[a-z_][a-z0-9_]*)*)"
)
_SIMPLE = re.compile(
    r"(?<![\w.\"])(?P<kind>var|local|module)\.(?P<name>[a-z0-9_-]+)(?P<rest>(?:\.[a-z_][a-z0-9_]*)?)"
)
_STEP = re.compile(r"\[[^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*\]|\.\*|\.([a-z_][a-z0-9_]*)")


def _options() -> Any:
    return hcl2.SerializationOptions(
        strip_string_quotes=True, with_comments=False, explicit_blocks=False
    )


def parse_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return dict(hcl2.load(handle, serialization_options=_options()))


def parse_text(text: str) -> dict[str, Any]:
    return dict(hcl2.loads(text, serialization_options=_options()))


def strings(value: Any) -> list[str]:
    """Every string inside a parsed value (expressions are strings)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings(k) + strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


@dataclass
class Ref:
    data: bool
    ephemeral: bool
    type: str
    name: str
    path: list[str]  # attribute names after the resource (indexes dropped)
    text: str


def references(value: Any) -> list[Ref]:
    out = []
    for text in strings(value):
        if "${" not in text:
            continue
        for m in _REF.finditer(text):
            steps = [s.group(1) for s in _STEP.finditer(m.group("steps")) if s.group(1)]
            prefix = m.group("data") or ""
            out.append(
                Ref(
                    prefix == "data.",
                    prefix == "ephemeral.",
                    m.group("type"),
                    m.group("name"),
                    steps,
                    m[0],
                )
            )
    return out


@dataclass
class Config:
    """One configuration directory (a module or a root)."""

    directory: Path
    blocks: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path, overrides: dict[str, str] | None = None) -> Config:
        if overrides is None:
            return _load_cached(directory.resolve(), _mtimes(directory))
        return cls._load(directory, overrides)

    @classmethod
    def _load(cls, directory: Path, overrides: dict[str, str] | None = None) -> Config:
        merged: dict[str, list[Any]] = {}
        for path in sorted(directory.glob("*.tf")):
            text = (overrides or {}).get(path.name)
            parsed = parse_text(text) if text is not None else parse_file(path)
            for key, items in parsed.items():
                merged.setdefault(key, []).extend(items)
        return cls(directory, merged)

    def _named(self, kind: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for block in self.blocks.get(kind, []):
            for label, body in block.items():
                out[label] = body
        return out

    def resources(self, kind: str = "resource") -> dict[tuple[str, str], dict[str, Any]]:
        out = {}
        for block in self.blocks.get(kind, []):
            for rtype, instances in block.items():
                for rname, body in instances.items():
                    out[(rtype, rname)] = body
        return out

    @property
    def variables(self) -> dict[str, Any]:
        return self._named("variable")

    @property
    def outputs(self) -> dict[str, Any]:
        return self._named("output")

    @property
    def modules(self) -> dict[str, Any]:
        return self._named("module")

    @property
    def locals(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for block in self.blocks.get("locals", []):
            out.update(block)
        return out


def _mtimes(directory: Path) -> tuple[tuple[str, int], ...]:
    return tuple((p.name, p.stat().st_mtime_ns) for p in sorted(directory.glob("*.tf")))


@functools.lru_cache(maxsize=256)
def _load_cached(directory: Path, _stamp: tuple[tuple[str, int], ...]) -> Config:
    return Config._load(directory)


def load_tfvars(path: Path) -> dict[str, Any]:
    return parse_file(path) if path.is_file() else {}


class UnknownValue(Exception):
    """Raised by `evaluate` for a value it cannot compute (or that is unknown until apply)."""


@dataclass(eq=False)
class Scope:
    """A module instance: its config, the arguments its caller passed, and that caller's scope."""

    config: Config
    args: dict[str, Any]
    parent: Scope | None
    tfvars: dict[str, Any] = field(default_factory=dict)

    def child(self, module_name: str) -> Scope:
        call = self.config.modules[module_name]
        source = (self.config.directory / call["source"]).resolve()
        return Scope(Config.load(source), call, self)

    # ------------------------------------------------------------------ plan-time knowledge

    def known(self, value: Any, *, keys_only: bool = False, _depth: int = 0) -> list[str]:
        """Why a value is unknown at plan time (empty list: known).

        keys_only: only the keys (of a map/object literal) matter, as for for_each over a map.
        """
        if _depth > 40:
            return []
        if isinstance(value, dict):
            parts = list(value) if keys_only else [*value, *value.values()]
            return [r for p in parts for r in self.known(p, _depth=_depth + 1)]
        if isinstance(value, list):
            return [r for v in value for r in self.known(v, _depth=_depth + 1)]
        if not isinstance(value, str) or "${" not in value:
            return []
        alias = re.fullmatch(r"\$\{(var|local)\.([a-z0-9_-]+)\}", value)
        if keys_only and alias:
            kind, name = alias.groups()
            if kind == "local" and name in self.config.locals:
                return [
                    f"local.{name} <- {r}"
                    for r in self.known(self.config.locals[name], keys_only=True, _depth=_depth + 1)
                ]
            if kind == "var" and name in self.args:
                assert self.parent is not None
                return [
                    f"var.{name} <- {r}"
                    for r in self.parent.known(self.args[name], keys_only=True, _depth=_depth + 1)
                ]
            return []
        reasons: list[str] = []
        for ref in references(value):
            reasons += self._ref_known(ref, _depth)
        for m in _SIMPLE.finditer(value):
            kind, name, rest = m.group("kind"), m.group("name"), m.group("rest").lstrip(".")
            if kind == "var":
                if name in self.args:
                    assert self.parent is not None
                    reasons += [
                        f"var.{name} <- {r}"
                        for r in self.parent.known(self.args[name], _depth=_depth + 1)
                    ]
                # a root variable (tfvars) or a default: known
            elif kind == "local":
                if name in self.config.locals:
                    reasons += [
                        f"local.{name} <- {r}"
                        for r in self.known(self.config.locals[name], _depth=_depth + 1)
                    ]
            elif kind == "module" and name in self.config.modules and rest:
                child = self.child(name)
                output = child.config.outputs.get(rest)
                if output is not None:
                    reasons += [
                        f"module.{name}.{rest} <- {r}"
                        for r in child.known(output["value"], _depth=_depth + 1)
                    ]
        return reasons

    def _ref_known(self, ref: Ref, depth: int) -> list[str]:
        if ref.ephemeral:
            return [f"ephemeral.{ref.type}.{ref.name} (ephemeral: never known at plan time)"]
        kind = "data" if ref.data else "resource"
        body = self.config.resources(kind).get((ref.type, ref.name))
        label = ("data." if ref.data else "") + f"{ref.type}.{ref.name}"
        if body is None:
            return []  # not declared here: the schema/reference check reports it
        if ref.data:
            # A data source is read during plan when its own arguments are known.
            args = {k: v for k, v in body.items() if k not in META_ARGS}
            return [f"{label} <- {r}" for r in self.known(args, _depth=depth + 1)]
        if not ref.path:
            return []  # the object itself (e.g. length(aws_x.y)): its instances are known
        current: Any = body
        for step in ref.path:
            if isinstance(current, list) and current and isinstance(current[0], dict):
                current = current[0]
            if not isinstance(current, dict) or step not in current:
                return [
                    f"{label}.{'.'.join(ref.path)} (computed by the provider, unknown until apply)"
                ]
            current = current[step]
        return [
            f"{label}.{'.'.join(ref.path)} <- {r}" for r in self.known(current, _depth=depth + 1)
        ]

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, value: Any, _depth: int = 0) -> Any:
        """Evaluate literals, lists, maps and string templates over var/local/module.X.Y."""
        if _depth > 40:
            raise UnknownValue("recursion")
        if isinstance(value, dict):
            return {
                self.evaluate(k, _depth + 1): self.evaluate(v, _depth + 1) for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.evaluate(v, _depth + 1) for v in value]
        if not isinstance(value, str) or "${" not in value:
            return value
        whole = re.fullmatch(r"\$\{([^${}]*)\}", value)
        if whole:
            return self._lookup(whole.group(1).strip(), _depth)

        def sub(m: re.Match[str]) -> str:
            result = self._lookup(m.group(1).strip(), _depth)
            if not isinstance(result, (str, int, float)):
                raise UnknownValue(m.group(0))
            return str(result)

        if re.search(r"\$\{[^}]*\$\{", value):
            raise UnknownValue(value)
        return re.sub(r"\$\{([^${}]*)\}", sub, value)

    def _lookup(self, expr: str, depth: int) -> Any:
        expr = expr.strip()
        call = re.fullmatch(r"([a-z]+)\((.*)\)", expr, re.S)
        if call and call.group(1) in _FUNCTIONS:
            args = [self._lookup(a, depth + 1) for a in _split_args(call.group(2))]
            return _FUNCTIONS[call.group(1)](*args)
        if expr.startswith("[") and expr.endswith("]"):
            return [self._lookup(a, depth + 1) for a in _split_args(expr[1:-1])]
        if re.fullmatch(r'"[^"$]*"', expr):
            return expr[1:-1]
        m = re.fullmatch(r"(var|local|module)\.([a-z0-9_-]+)((?:\.[a-z0-9_-]+|\[\d+\])*)", expr)
        if not m:
            raise UnknownValue(expr)
        kind, name, rest = m.groups()
        steps = re.findall(r"\.([a-z0-9_-]+)|\[(\d+)\]", rest)
        if kind == "var":
            if name in self.args:
                assert self.parent is not None
                base = self.parent.evaluate(self.args[name], depth + 1)
            elif name in self.tfvars:
                base = self.evaluate(self.tfvars[name], depth + 1)
            elif "default" in self.config.variables.get(name, {}):
                base = self.evaluate(self.config.variables[name]["default"], depth + 1)
            else:
                raise UnknownValue(expr)
        elif kind == "local":
            if name not in self.config.locals:
                raise UnknownValue(expr)
            base = self.evaluate(self.config.locals[name], depth + 1)
        else:
            if not steps:
                raise UnknownValue(expr)
            child = self.child(name)
            out_name = steps.pop(0)[0]
            if out_name not in child.config.outputs:
                raise UnknownValue(expr)
            base = child.evaluate(child.config.outputs[out_name]["value"], depth + 1)
        for attr, index in steps:
            try:
                base = base[int(index)] if index else base[attr]
            except (KeyError, IndexError, TypeError) as exc:
                raise UnknownValue(expr) from exc
        return base


# The few pure functions the roots use in values the wiring tests evaluate (principal lists).
_FUNCTIONS: dict[str, Any] = {
    "concat": lambda *lists: [x for items in lists for x in items],
    "distinct": lambda items: list(dict.fromkeys(items)),
}


def _split_args(text: str) -> list[str]:
    """Top-level comma-separated parts of a function's arguments or a list literal."""
    parts, depth, current, quoted = [], 0, "", False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "([{":
            depth += 1
        elif not quoted and char in ")]}":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts]


def root_scope(
    directory: Path, tfvars: Path | None = None, overrides: dict[str, str] | None = None
) -> Scope:
    config = Config.load(directory, overrides)
    values = load_tfvars(tfvars if tfvars else directory / "terraform.tfvars")
    return Scope(config, {}, None, tfvars=copy.deepcopy(values))
