"""The layering and the acyclic-siblings rule hold, and the check really catches a broken tree.

`lint-imports` reads the contracts in pyproject.toml ([tool.importlinter]); each seeded mistake
below is made in a copy of the package, never in the tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root / "src")},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "src" / "shipshape", tmp_path / "src" / "shipshape")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(tree: Path) -> None:
    append(tree / "src/shipshape/domain/records.py", "import shipshape.api.deps  # noqa")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "Layers: entry points" in result.stdout
    assert "BROKEN" in result.stdout
    assert "shipshape.domain.records -> shipshape.api.deps" in result.stdout


def test_a_cycle_between_siblings_is_caught(tree: Path) -> None:
    # storage.sql_store imports storage.store; the reverse import closes a cycle.
    append(tree / "src/shipshape/storage/store.py", "import shipshape.storage.sql_store  # noqa")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "No import cycles between sibling modules" in result.stdout
    assert "BROKEN" in result.stdout
