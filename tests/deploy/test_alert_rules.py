"""The canonical Prometheus alerting rules (charts/shipshape/files/prometheus-rules.yaml), checked
and unit-tested with the real promtool (Debian `prometheus` package)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "charts" / "shipshape" / "files"
RULES = FILES / "prometheus-rules.yaml"
TESTS = FILES / "prometheus-rules.test.yaml"
# Metric names of the service contract; the rules may only use these.
CONTRACT_METRICS = {
    "shipshape_http_requests_total",
    "shipshape_http_request_duration_seconds",
    "shipshape_http_requests_in_progress",
    "shipshape_db_pool_connections",
    "shipshape_db_query_duration_seconds",
    "shipshape_db_errors_total",
    "shipshape_visits_recorded_total",
    "shipshape_ready",
    "shipshape_build_info",
}


def promtool() -> str:
    return require_tool("promtool", "apt-get install prometheus; make system-deps")


def alerts() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    rules = sum(len(g["rules"]) for g in yaml.safe_load(RULES.read_text())["groups"])
    assert f"SUCCESS: {rules} rules found" in output, output
    assert "FAILED" not in output


def test_promtool_unit_tests() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", TESTS.name],
        cwd=FILES,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"^\s*SUCCESS\s*$", output, re.M), output
    assert "FAILED" not in output


def test_every_alert_is_shown_firing_and_silent() -> None:
    """Each alert has a unit test where it fires and one where it stays silent."""
    cases = yaml.safe_load(TESTS.read_text())["tests"]
    firing, silent = set(), set()
    for case in cases:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names == firing, f"never shown firing: {names - firing}"
    assert names == silent, f"never shown silent: {names - silent}"


def test_expected_alerts_are_present() -> None:
    names = {a["alert"] for a in alerts()}
    for wanted in (
        "ShipshapeHighErrorRatio",
        "ShipshapeHighLatencyP99",
        "ShipshapeInstanceNotReady",
        "ShipshapeTargetDown",
        "ShipshapeDatabaseErrors",
    ):
        assert wanted in names


def test_rules_are_well_formed() -> None:
    for alert in alerts():
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert {"summary", "description", "runbook_url"} <= set(alert["annotations"]), alert[
            "alert"
        ]
        assert alert.get("for"), f"{alert['alert']} has no `for` and would page on a blip"
        for metric in re.findall(r"\b(shipshape_[a-z_]+)", alert["expr"]):
            base = re.sub(r"_(bucket|count|sum)$", "", metric)
            assert base in CONTRACT_METRICS, f"{alert['alert']} uses unknown metric {metric}"
