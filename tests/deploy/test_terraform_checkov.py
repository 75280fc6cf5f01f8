"""checkov --framework terraform over infra/terraform (modules, env roots, bootstrap).

checkov lives in its own virtualenv (.tools/checkov, `make tools`) because its
dependencies conflict with the project's. It runs once per session; the tests
assert on its JSON report: something was really scanned, nothing failed, and
every suppression is an inline `#checkov:skip=...:reason`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "infra" / "terraform"
CHECKOV_VERSION = "3.3.30"


@pytest.fixture(scope="session")
def checkov_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    checkov = require_tool("checkov", f"make tools: checkov=={CHECKOV_VERSION} in .tools/checkov")

    home = tmp_path_factory.mktemp("checkov-home")
    env = {
        **os.environ,
        "HOME": str(home),  # checkov caches under ~/.checkov; keep it out of the user's home
        "LOG_LEVEL": "WARNING",
        "CHECKOV_ALLOW_SCAN_OUTSIDE_REPO": "1",
    }
    proc = subprocess.run(
        [
            checkov,
            "--directory",
            str(TF),
            "--framework",
            "terraform",
            "--skip-download",
            "--download-external-modules",
            "false",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode in (0, 1), f"checkov crashed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    terraform = [r for r in reports if r.get("check_type") == "terraform"]
    assert len(terraform) == 1, f"no terraform report in checkov output: {proc.stdout[:2000]}"
    return terraform[0]


def _describe(checks: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{c['check_id']} {c['check_name']} — {c['resource']} ({c['file_path']}:"
        f"{c.get('file_line_range')})"
        for c in checks
    )


def test_checkov_scanned_resources(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 50, summary
    assert summary["passed"] > 100, summary


def test_checkov_no_failed_checks(checkov_report: dict[str, Any]) -> None:
    failed = checkov_report["results"]["failed_checks"]
    assert checkov_report["summary"]["failed"] == 0, _describe(failed)
    assert not failed, (
        "checkov failures (fix them, or skip inline with `#checkov:skip=CKV_...:reason`):\n"
        + _describe(failed)
    )


def test_checkov_covers_every_configuration(checkov_report: dict[str, Any]) -> None:
    results = checkov_report["results"]
    scanned = {c["file_path"] for c in results["passed_checks"] + results["skipped_checks"]}
    directories = [p for p in (TF / "modules").iterdir() if p.is_dir()]
    directories += [TF / "bootstrap"]
    for directory in directories:
        if not any((directory / "main.tf").read_text().count(k) for k in ('resource "', 'data "')):
            continue
        prefix = "/" + str(directory.relative_to(TF)) + "/"
        assert any(prefix in path for path in scanned), f"checkov did not scan {directory}"
    # The roots' module calls are evaluated too (resources addressed as module.X...).
    resources = {c["resource"] for c in results["passed_checks"]}
    for module in ("network", "cluster", "database", "registry", "app_identity", "addons"):
        assert any(r.startswith(f"module.{module}.") for r in resources), module


def test_checkov_skips_are_inline_with_reason(checkov_report: dict[str, Any]) -> None:
    for check in checkov_report["results"]["skipped_checks"]:
        comment = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(comment.strip()) >= 20, (
            f"{check['check_id']} on {check['resource']} is skipped without a real reason"
        )
