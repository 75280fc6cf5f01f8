"""The benchmark harness's pure parts: Lua generation, wrk output parsing, statistics and
threshold checks. (The benchmark itself runs with `make bench`, not in the test suite.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report, run, stats, wrk


def test_username_mapping_is_letters_only_and_matches_the_sql_twin() -> None:
    assert wrk.username(0) == "ua"
    assert wrk.username(9_999) == "ujjjj"
    assert all(wrk.username(i).isalpha() for i in range(0, 10_000, 37))
    assert "translate((i)::text, '0123456789', 'abcdefghij')" in wrk.username_sql("i")


def test_visits_script_drains_and_reports_counters() -> None:
    lua = wrk.script("visits", measure=7.0, markers="/tmp/m")
    assert "local measure = 7.0" in lua
    assert '"/tmp/m"' in lua
    assert "wrk.thread:stop()" in lua
    assert wrk.LIVEZ_BODY in lua
    assert '"sent", "visit_2xx", "visit_other", "tail"' in lua
    assert lua.count("function done(") == 1


def test_plain_and_mix_scripts() -> None:
    assert "function request()" not in wrk.script("plain")
    mix = wrk.script("hello_mix", users=123)
    assert "local users = 123" in mix
    assert "PUT" in mix
    with pytest.raises(ValueError, match="unknown script kind"):
        wrk.script("nope")


RAW = {
    "requests": 1000,
    "duration_us": 2_000_000,
    "bytes": 1,
    "err_connect": 0,
    "err_read": 1,
    "err_write": 0,
    "err_status": 4,
    "err_timeout": 0,
    "lat_mean_us": 900,
    "lat_max_us": 9000,
    "lat_p50_us": 800,
    "lat_p90_us": 1500,
    "lat_p99_us": 4000,
    "lat_p99_9_us": 8000,
}


def test_parse_and_summarise_plain_run() -> None:
    out = "Running 2s test\nBENCH_JSON " + json.dumps(RAW) + "\n"
    result = wrk.summarise(wrk.parse_output(out), "plain", 2.0)
    assert result.ok == 996
    assert result.errors == 5
    assert result.rps == pytest.approx(498.0)
    assert result.p50_ms == pytest.approx(0.8)
    assert result.p99_ms == pytest.approx(4.0)


def test_summarise_visits_counts_only_visits_and_flags_abandoned_ones() -> None:
    raw = {**RAW, "sent": 600, "visit_2xx": 590, "visit_other": 2, "tail": 400}
    result = wrk.summarise(raw, "visits", 10.0)
    assert result.ok == 590
    assert result.rps == pytest.approx(59.0)
    assert result.error_detail["status"] == 2
    assert result.error_detail["abandoned"] == 8
    assert result.errors == 1 + 2 + 8


def test_parse_output_without_marker_fails_loudly() -> None:
    with pytest.raises(ValueError, match="BENCH_JSON"):
        wrk.parse_output("Requests/sec: 1")


def _run(rps: float, errors: int = 0) -> dict[str, object]:
    return {"rps": rps, "p50_ms": 1.0, "p99_ms": 5.0, "ok": 10, "errors": errors}


def test_summarise_runs_takes_the_median() -> None:
    summary = stats.summarise_runs([_run(100), _run(300), _run(200, errors=1)])
    assert summary["rps"] == 200
    assert (summary["rps_min"], summary["rps_max"]) == (100, 300)
    assert summary["errors"] == 1
    assert stats.summarise_runs([]) == {}


def test_rss_deviation() -> None:
    mb = 2**20
    deviation = stats.rss_deviation([100 * mb, 105 * mb, 95 * mb, 108 * mb])
    assert deviation["max_abs_deviation"] == pytest.approx(0.08)
    assert deviation["max_mb"] == 108


def _case(target: str, workload: str, workers: int, rps: float, **kw: object) -> dict:
    return {
        "id": f"{target}/{workload}/{workers}",
        "target": target,
        "server": kw.pop("server", "uvicorn"),
        "workload": workload,
        "workers": workers,
        "rows": kw.pop("rows", None),
        "summary": stats.summarise_runs([_run(rps)]),
        **kw,
    }


def _results() -> dict:
    cases = [
        _case("bare", "W1", 1, 10_000),
        _case("app", "W1", 1, 5_000),
        _case("app", "W2", 1, 4_000, row_checks=[{"rows": 40, "ok": 40}]),
        _case("naive", "W2", 1, 200),
        _case("app", "W3", 1, 3_000, rows=10_000),
        _case("app", "W3", 1, 2_000, rows=1_000_000),
        _case("app", "W4", 1, 3_000),
    ]
    return {
        "cases": cases,
        "pgbench": {"tps": 5_000, "clients": 64, "runs": [{"tps": 5_000}]},
        "soak": {
            "seconds": 60,
            "result": {"rps": 4_000.0, "errors": 0},
            "rss": stats.rss_deviation([100, 102, 101]),
            "row_checks": [{"rows": 5, "ok": 5}],
        },
    }


def test_evaluate_checks_every_threshold() -> None:
    checks = {c["name"]: c for c in stats.evaluate(_results())}
    assert checks["W1 vs bare ASGI (1w)"]["ratio"] == 0.5
    assert checks["W1 vs bare ASGI (1w)"]["pass"]
    assert checks["W2 vs naive (1w)"]["ratio"] == 20
    assert not checks["W3 1,000,000 vs 10,000 rows (1w)"]["pass"]  # 0.667 < 0.8
    assert checks["W4 vs W1 (1w)"]["pass"]
    assert checks["W2 vs pgbench (1w)"]["ratio"] == 0.8
    assert checks["zero errors"]["pass"]
    assert checks["W2 rows == 2xx"]["pass"]
    assert checks["soak RSS ±10%"]["pass"]


def test_evaluate_fails_on_a_row_mismatch_and_missing_cases() -> None:
    results = _results()
    results["cases"][2]["row_checks"] = [{"rows": 41, "ok": 40}]
    del results["cases"][3]
    checks = {c["name"]: c for c in stats.evaluate(results)}
    assert not checks["W2 rows == 2xx"]["pass"]
    assert checks["W2 vs naive (1w)"]["ratio"] is None
    assert not checks["W2 vs naive (1w)"]["pass"]


def test_markdown_report_renders_from_results(tmp_path: Path) -> None:
    results = {
        **_results(),
        "started": "2026-01-01T00:00:00+00:00",
        "elapsed_seconds": 60,
        "plan": {"threads": 2, "connections": 64, "warmup": 3, "repetitions": 3, "seconds": 10}
        | {"small_rows": 10_000, "big_rows": 1_000_000, "quiet_wait": 4},
        "machine": {
            "cpu_model": "Test CPU",
            "cpus": 2,
            "kernel": "6",
            "python": "3.11",
            "postgresql": "postgres 15",
            "wrk": "wrk 4",
            "packages": {"uvicorn": "1"},
            "free": "Mem: 1",
        },
    }
    results["checks"] = stats.evaluate(results)
    path = report.ROOT / "bench" / "results" / "x.json"
    text = report.markdown(results, path, report.CHART)
    assert "make bench" in text
    assert "Test CPU" in text
    assert "| W1 vs bare ASGI (1w)" in text
    assert "**pass**" in text
    assert "**FAIL**" in text


def test_a_run_on_shared_cpus_is_repeated_a_bounded_number_of_times() -> None:
    quiet = {"cpu": {"other_cores": 0.05}}
    shared = {"cpu": {"other_cores": stats.NOISY_OTHER_CORES + 0.1}}
    assert not stats.is_noisy(quiet, 0)
    assert stats.is_noisy(shared, 0)
    assert not stats.is_noisy(shared, stats.NOISY_REPEATS)  # then the run is kept as it is
    assert not stats.is_noisy({"rps": 1.0}, 0)  # no CPU account: nothing to judge by


def _planned(name: str, repetitions: int) -> run.Case:
    plan = run.Plan(repetitions=repetitions)
    return run.Case({"id": name}, "app", "uvicorn", 1, "plain", {}, plan, 10.0)


def test_compared_cases_take_their_rounds_in_turn() -> None:
    bare, app, w4 = _planned("bare", 3), _planned("app", 3), _planned("w4", 3)
    pgbench = lambda: None  # noqa: E731 - a stand-in anchor that is not a server
    order = run.schedule([bare, app, w4], [pgbench])
    names = [s.record["id"] if isinstance(s, run.Case) else "pgbench" for s in order]
    # One run of every case per round; each round starts one case later than the last.
    assert names == [
        *("bare", "app", "w4", "pgbench"),
        *("app", "w4", "bare", "pgbench"),
        *("w4", "bare", "app", "pgbench"),
    ]


def test_a_case_with_fewer_repetitions_leaves_the_later_rounds() -> None:
    once, thrice = _planned("once", 1), _planned("thrice", 3)
    order = run.schedule([once, thrice])
    assert [s.record["id"] for s in order if isinstance(s, run.Case)] == [
        "once",
        "thrice",
        "thrice",
        "thrice",
    ]


def test_anchors_are_served_with_the_production_protocol_and_limits() -> None:
    """The bare and naive anchors run on the server `shipshape serve` runs, per-connection
    limits included; an anchor on plain httptools would skip the protocol's per-request work
    and make every W1 ratio read low."""
    from bench.serve import anchor_config
    from shipshape.core.config import Settings
    from shipshape.protocol import BoundedHttpToolsProtocol
    from shipshape.server import uvicorn_config

    settings = Settings()
    anchor = anchor_config(object(), "127.0.0.1", 0)
    production = uvicorn_config(object(), settings)  # type: ignore[arg-type]
    assert isinstance(anchor.http, type)
    assert issubclass(anchor.http, BoundedHttpToolsProtocol)
    assert isinstance(production.http, type)
    assert anchor.http.limits == production.http.limits  # type: ignore[attr-defined]
    for name in ("loop", "server_header", "date_header", "timeout_keep_alive", "backlog"):
        assert getattr(anchor, name) == getattr(production, name), name
