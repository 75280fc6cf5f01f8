#!/usr/bin/env python3
"""Generate the inputs/outputs section of each Terraform module's README.

The tables are rendered from the module code (python-hcl2) and written between
the markers ``<!-- BEGIN_TF_DOCS -->`` and ``<!-- END_TF_DOCS -->`` of
``infra/terraform/modules/<module>/README.md``; text outside the markers is
hand-written and kept. Offline stand-in for terraform-docs.

Usage:
    python scripts/gen_tf_docs.py            # rewrite the READMEs
    python scripts/gen_tf_docs.py --check    # exit 1 if a README is out of date
    python scripts/gen_tf_docs.py MODULE_DIR...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parent.parent
MODULES_DIR = ROOT / "infra" / "terraform" / "modules"
BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"


def _options() -> Any:
    """Plain strings and dicts (python-hcl2 >= 7), or None for older versions."""
    options_cls = getattr(hcl2, "SerializationOptions", None)
    if options_cls is None:  # pragma: no cover - old python-hcl2
        return None
    return options_cls(strip_string_quotes=True, with_comments=False, explicit_blocks=False)


def unquote(value: Any) -> Any:
    """Strip the quotes older/other python-hcl2 settings leave around strings."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def load_hcl(path: Path) -> dict[str, Any]:
    """Parse one .tf file into python-hcl2's dict form."""
    options = _options()
    with path.open(encoding="utf-8") as handle:
        if options is None:  # pragma: no cover - old python-hcl2
            return hcl2.load(handle)  # type: ignore[no-any-return]
        return hcl2.load(handle, serialization_options=options)  # type: ignore[no-any-return]


def load_module(module_dir: Path) -> dict[str, list[Any]]:
    """Merge the top-level blocks of every .tf file of a module."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(module_dir.glob("*.tf")):
        for key, blocks in load_hcl(path).items():
            merged.setdefault(key, []).extend(blocks)
    return merged


def named_blocks(module: dict[str, list[Any]], kind: str) -> dict[str, dict[str, Any]]:
    """{label: body} of the variable/output/module blocks of a module."""
    result: dict[str, dict[str, Any]] = {}
    for block in module.get(kind, []):
        for label, body in block.items():
            result[unquote(label)] = body
    return result


def expression(value: Any) -> str:
    """HCL-ish text of a parsed value, for the Type and Default columns."""
    if isinstance(value, str):
        value = unquote(value)
        if value.startswith("${") and value.endswith("}"):
            return value[2:-1]
        return value
    return json.dumps(value)


def default_literal(value: Any) -> str:
    """A variable default as it would be written in HCL."""
    if value is None:
        return "null"
    if isinstance(value, str):
        value = unquote(value)
        if value.startswith("${") and value.endswith("}"):
            return value[2:-1]
        return json.dumps(value)
    return json.dumps(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def render_docs(module_dir: Path) -> str:
    """The generated Markdown between the markers (markers excluded)."""
    module = load_module(module_dir)
    lines: list[str] = ["", "## Requirements", ""]
    lines += ["| Name | Version |", "|------|---------|"]
    for terraform in module.get("terraform", []):
        if "required_version" in terraform:
            lines.append(f"| terraform | {_code(unquote(terraform['required_version']))} |")
        for providers in terraform.get("required_providers", []):
            for name, spec in sorted(providers.items()):
                if isinstance(spec, dict):
                    version = unquote(spec.get("version", "any"))
                    source = unquote(spec.get("source", name))
                    lines.append(f"| {source} | {_code(version)} |")

    resources = []
    for block in module.get("resource", []):
        for rtype, instances in block.items():
            for rname in instances:
                resources.append(f"{unquote(rtype)}.{unquote(rname)}")
    lines += ["", "## Resources", ""]
    lines += [f"- `{r}`" for r in sorted(resources)] or ["None."]

    variables = named_blocks(module, "variable")
    lines += ["", "## Inputs", ""]
    if variables:
        lines += [
            "| Name | Description | Type | Default | Required |",
            "|------|-------------|------|---------|:--------:|",
        ]
        # Required inputs first, then alphabetical (like terraform-docs).
        order = sorted(variables, key=lambda n: ("default" in variables[n], n))
        for name in order:
            body = variables[name]
            description = _cell(unquote(body.get("description", "")))
            vtype = _code(expression(body.get("type", "any")))
            if "default" in body:
                default = body["default"]
                default_text = _code(default_literal(default))
                required = "no"
            else:
                default_text, required = "n/a", "yes"
            lines.append(f"| `{name}` | {description} | {vtype} | {default_text} | {required} |")
    else:
        lines.append("No inputs.")

    outputs = named_blocks(module, "output")
    lines += ["", "## Outputs", ""]
    if outputs:
        lines += ["| Name | Description |", "|------|-------------|"]
        for name in sorted(outputs):
            description = _cell(unquote(outputs[name].get("description", "")))
            lines.append(f"| `{name}` | {description} |")
    else:
        lines.append("No outputs.")
    lines.append("")
    return "\n".join(lines)


def update_readme(text: str, docs: str) -> str:
    """Replace the marked section of a README (append it when missing)."""
    block = f"{BEGIN}\n{docs}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        return f"{head}{block}{tail}"
    if text and not text.endswith("\n"):
        text += "\n"
    return f"{text}\n{block}\n" if text else f"{block}\n"


def expected_readme(module_dir: Path) -> str:
    """What README.md of a module must contain."""
    readme = module_dir / "README.md"
    current = readme.read_text(encoding="utf-8") if readme.exists() else ""
    return update_readme(current, render_docs(module_dir))


def module_dirs() -> list[Path]:
    """Every module under infra/terraform/modules."""
    return sorted(p for p in MODULES_DIR.iterdir() if p.is_dir() and any(p.glob("*.tf")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a README is out of date")
    parser.add_argument("modules", nargs="*", type=Path, help="module directories (default: all)")
    args = parser.parse_args(argv)

    stale = []
    for module_dir in args.modules or module_dirs():
        readme = module_dir / "README.md"
        wanted = expected_readme(module_dir)
        current = readme.read_text(encoding="utf-8") if readme.exists() else None
        if current == wanted:
            continue
        if args.check:
            stale.append(readme)
        else:
            readme.write_text(wanted, encoding="utf-8")
            print(f"updated {readme.relative_to(ROOT) if readme.is_relative_to(ROOT) else readme}")
    if stale:
        for readme in stale:
            print(f"out of date: {readme} (run python scripts/gen_tf_docs.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
