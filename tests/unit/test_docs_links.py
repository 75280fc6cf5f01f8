"""Documentation points at things that exist.

For every Markdown file of the repository's documentation (README.md, docs/**, the READMEs under
infra/, charts/shipshape/ and deploy/):

- every relative link (``[text](target)``, ``![alt](target)``, ``[id]: target``) resolves to a
  file or directory, relative to the Markdown file (``#fragment`` stripped; web, mail and
  anchor-only links are not checked);
- every repository path written in backticks (```src/...```, ```charts/...```, ...) exists,
  relative to the repository root (or to the Markdown file's directory). Patterns (``*``, ``{a,b}``, ``<env>``, ``$VAR``) are skipped:
  they name a family of files, not one.

Fenced code blocks are ignored: they hold commands and example output, not references.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DOC_GLOBS = (
    "README.md",
    "docs/**/*.md",
    "infra/**/README.md",
    "charts/shipshape/README.md",
    "deploy/**/README.md",
    "bench/NOTES.md",
)
# Never documentation of this repository, even when a glob reaches into them.
EXCLUDED_PARTS = {".terraform", "node_modules", ".venv", ".tools", ".git"}

PATH_PREFIXES = ("src/", "charts/", "infra/", "deploy/", "docs/", "tests/", "scripts/", "bench/")
PATH_PREFIXES += (".github/",)
PATTERN_CHARS = set("*?{}<>$[]")

FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
# [text](target "title") and ![alt](target); the text may contain `code` and nested brackets.
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)"
)
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")  # http:, https:, mailto:, ...


def doc_files() -> list[Path]:
    found: set[Path] = set()
    for pattern in DOC_GLOBS:
        for path in ROOT.glob(pattern):
            rel = path.relative_to(ROOT)
            if path.is_file() and not EXCLUDED_PARTS & set(rel.parts):
                found.add(path)
    return sorted(found)


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines = []
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                continue
            lines.append((number, line))
        elif match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
            fence = None
    return lines


def link_targets(line: str) -> list[str]:
    without_code = CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)
    targets = [m.group(1) for m in INLINE_LINK.finditer(without_code)]
    definition = REFERENCE_DEF.match(without_code)
    if definition:
        targets.append(definition.group(1))
    return [t[1:-1] if t.startswith("<") and t.endswith(">") else t for t in targets]


def broken_links(doc: Path) -> list[str]:
    problems = []
    for number, line in prose_lines(doc.read_text(encoding="utf-8")):
        for target in link_targets(line):
            if not target or target.startswith("#") or EXTERNAL.match(target):
                continue
            path = target.split("#", 1)[0].split("?", 1)[0]
            if not path:
                continue
            resolved = (ROOT / path.lstrip("/")) if path.startswith("/") else (doc.parent / path)
            if not resolved.exists():
                problems.append(f"{doc.relative_to(ROOT)}:{number}: link -> {target}")
    return problems


def repository_paths(line: str) -> list[str]:
    """Repository paths written in backticks: the whole span, or each word of a command."""
    paths = []
    for match in CODE_SPAN.finditer(line):
        for word in match.group(2).split():
            word = word.strip("\"'(),;")
            word = word.split("::", 1)[0]  # pytest node ids
            word = re.sub(r":\d+(?:-\d+)?$", "", word)  # file:line
            if not word.startswith(PATH_PREFIXES) or PATTERN_CHARS & set(word):
                continue
            paths.append(word)
    return paths


def missing_paths(doc: Path) -> list[str]:
    problems = []
    for number, line in prose_lines(doc.read_text(encoding="utf-8")):
        for path in repository_paths(line):
            # Repository-relative, or relative to the document (a module README naming its
            # own `tests/...`).
            if not (ROOT / path).exists() and not (doc.parent / path).exists():
                problems.append(f"{doc.relative_to(ROOT)}:{number}: path `{path}`")
    return problems


DOCS = doc_files()


def test_documentation_found():
    names = {str(p.relative_to(ROOT)) for p in DOCS}
    assert "README.md" in names
    assert "docs/architecture.md" in names
    assert "docs/security.md" in names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path):
    problems = broken_links(doc)
    assert not problems, "broken links:\n" + "\n".join(problems)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_backticked_repository_paths_exist(doc: Path):
    problems = missing_paths(doc)
    assert not problems, "paths that do not exist:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "see [the chart](../charts/shipshape/values.yaml#L3) now",
            ["../charts/shipshape/values.yaml#L3"],
        ),
        (
            "![img](img/x.png) and [web](https://example.com) [a](#anchor)",
            ["img/x.png", "https://example.com", "#anchor"],
        ),
        ('[`code` text](<with space.md> "title")', ["with space.md"]),
        ("`[not](a-link.md)` is code", []),
        ("[id]: ../README.md", ["../README.md"]),
    ],
)
def test_link_extraction(line, expected):
    assert link_targets(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("`src/shipshape/app.py`", ["src/shipshape/app.py"]),
        ("run `python scripts/gen_tf_docs.py --check`", ["scripts/gen_tf_docs.py"]),
        ("`tests/deploy/test_gitops.py::test_x`", ["tests/deploy/test_gitops.py"]),
        ("`tests/deploy/test_chart*.py` `values-<env>.yaml` `envs/{dev,prod}`", []),
        (
            "`charts/shipshape/values-$ENV.yaml` `make test` `.github/workflows/`",
            [".github/workflows/"],
        ),
    ],
)
def test_path_extraction(line, expected):
    assert repository_paths(line) == expected


def test_fenced_blocks_are_skipped():
    text = "a\n```sh\n[x](missing.md) `src/missing.py`\n```\nb\n~~~~\n`src/nope`\n~~~~\nc"
    assert [line for _, line in prose_lines(text)] == ["a", "b", "c"]


def test_adr_index_lists_every_adr():
    adr_dir = ROOT / "docs" / "adr"
    index = (adr_dir / "README.md").read_text(encoding="utf-8")
    linked = {
        Path(t.split("#", 1)[0]).name for _, line in prose_lines(index) for t in link_targets(line)
    }
    records = {p.name for p in adr_dir.glob("[0-9][0-9][0-9][0-9]-*.md")}
    missing = sorted(records - linked)
    assert not missing, f"ADRs missing from docs/adr/README.md: {missing}"
