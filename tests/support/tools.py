"""Finding the command-line tools tests drive, and the one rule for a missing one:
locally the test skips with the reason, under CI=true it fails (nothing passes by not running)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"required component unavailable in CI: {reason}")
    pytest.skip(reason)


def find_tool(name: str, *extra: str | Path) -> str | None:
    """PATH, this virtualenv, .tools/bin and .tools/<tool>/bin (where `make tools` installs)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = [
        *map(Path, extra),
        Path(sys.executable).parent / name,
        REPO / ".venv" / "bin" / name,
        REPO / ".tools" / "bin" / name,
        *sorted((REPO / ".tools").glob(f"*/bin/{name}")),
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require_tool(name: str, hint: str = "make system-deps / make tools", *extra: str | Path) -> str:
    path = find_tool(name, *extra)
    if path is None:
        unavailable(f"{name} not found on PATH, in the virtualenv or in .tools/ ({hint})")
        raise AssertionError("unreachable")
    return path
