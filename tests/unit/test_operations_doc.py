"""docs/operations.md stays in step with the code: every setting, default and metric."""

from __future__ import annotations

import re
from pathlib import Path

from shipshape.core.config import Settings, env_name
from shipshape.observability.metrics import Metrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def documented_settings() -> dict[str, str]:
    text = DOC.read_text()
    table = text.split("<!-- settings-table:start -->")[1].split("<!-- settings-table:end -->")[0]
    rows = {}
    for line in table.splitlines():
        match = re.match(r"\| `([A-Z_]+)`[^|]*\| ([^|]+) \|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip().strip("`")
    return rows


def code_default(field) -> str:
    value = field.default_factory() if field.default_factory else field.default
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if isinstance(value, list):
        value = ",".join(map(str, value))
    if value is None:
        return "\u2013"  # the en dash the table uses for "unset"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def test_every_setting_documented_with_its_default():
    documented = documented_settings()
    expected = {
        env_name(name, field): code_default(field) for name, field in Settings.model_fields.items()
    }
    assert set(documented) == set(expected)
    assert documented == expected


def test_secrets_marked():
    text = DOC.read_text()
    for name, field in Settings.model_fields.items():
        secret = isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("secret")
        line = next(
            line for line in text.splitlines() if line.startswith(f"| `{env_name(name, field)}`")
        )
        assert ("*(secret)*" in line) == bool(secret), line


def test_every_metric_documented():
    text = DOC.read_text()
    metrics = Metrics("0", "x")
    names = set()
    for family in metrics.registry.collect():
        names.add(family.name + ("_total" if family.type == "counter" else ""))
    names.add("shipshape_db_pool_connections")
    names = {
        n.replace("shipshape_build", "shipshape_build_info") if n == "shipshape_build" else n
        for n in names
    }
    for name in names:
        assert f"`{name}`" in text, name


def test_every_alert_has_a_runbook_section():
    rules = (
        DOC.parents[1] / "charts" / "shipshape" / "files" / "prometheus-rules.yaml"
    ).read_text()
    text = DOC.read_text()
    for alert in re.findall(r"alert: (\w+)", rules):
        assert f"### {alert}" in text, alert
