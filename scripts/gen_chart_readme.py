#!/usr/bin/env python3
"""Generate the values table of charts/shipshape/README.md from the documented values.yaml.

values.yaml documents each value Bitnami-style:

    ## @section Title            starts a table section
    ## @param dotted.path Text   documents a value; its default is read from the YAML itself

The table is written between the markers `<!-- values:start -->` and `<!-- values:end -->`.
`--check` writes nothing and exits 1 when the README is out of date (used by the tests).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "shipshape"
START, END = "<!-- values:start -->", "<!-- values:end -->"
_MISSING = object()


@dataclass(frozen=True)
class Param:
    section: str
    path: str
    description: str
    default: Any


def _lookup(values: Any, path: str) -> Any:
    node = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def parse(values_file: Path) -> list[Param]:
    text = values_file.read_text(encoding="utf-8")
    values = yaml.safe_load(text) or {}
    params: list[Param] = []
    section = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if match := re.match(r"^## @section\s+(.+)$", stripped):
            section = match[1].strip()
        elif match := re.match(r"^## @param\s+(\S+)\s+(.+)$", stripped):
            default = _lookup(values, match[1])
            if default is _MISSING:
                raise SystemExit(f"{values_file}:{number}: @param {match[1]} names no value")
            params.append(Param(section, match[1], match[2].strip(), default))
        elif stripped.startswith("## @"):
            raise SystemExit(f"{values_file}:{number}: unknown annotation {stripped!r}")
    return params


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(params: list[Param]) -> str:
    out: list[str] = []
    section = None
    for param in params:
        if param.section != section:
            section = param.section
            out += [
                "",
                f"### {section}",
                "",
                "| Name | Description | Default |",
                "| --- | --- | --- |",
            ]
        default = json.dumps(param.default, separators=(", ", ": "))
        out.append(f"| `{param.path}` | {_cell(param.description)} | `{_cell(default)}` |")
    return "\n".join(out).strip("\n") + "\n"


def render(readme: str, params: list[Param]) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"README lacks the markers {START} / {END}")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n\n{table(params)}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is outdated")
    parser.add_argument("--chart", type=Path, default=CHART)
    args = parser.parse_args(argv)
    readme_path = args.chart / "README.md"
    current = readme_path.read_text(encoding="utf-8")
    wanted = render(current, parse(args.chart / "values.yaml"))
    if args.check:
        if current != wanted:
            print(f"{readme_path} is outdated: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        readme_path.write_text(wanted, encoding="utf-8")
        print(f"updated {readme_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
