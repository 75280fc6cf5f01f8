"""Every test body runs under pytest-timeout's bound (pyproject.toml): a hanging test fails with a
stack instead of stalling CI until its 90-minute limit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_the_suite_runs_under_a_hang_guard(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("timeout")
    assert float(pytestconfig.getini("timeout")) == 600


def test_a_hanging_test_fails_at_the_bound(tmp_path: Path) -> None:
    (tmp_path / "test_hangs.py").write_text(
        "import time\n\ndef test_hangs():\n    time.sleep(60)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-c", str(REPO / "pyproject.toml"),
         "--rootdir", str(tmp_path), "-o", "timeout=1", str(tmp_path / "test_hangs.py")],
        capture_output=True, text=True, timeout=50, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert "Timeout" in result.stdout
    assert "1 failed" in result.stdout
