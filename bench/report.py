"""docs/performance.md and the chart, generated from a results JSON.

python -m bench.report [bench/results/latest.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench import stats

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
CHART = ROOT / "bench" / "results" / "throughput.png"

LABELS = {
    "app": "shipshape (production settings)",
    "bare": "bare ASGI callable",
    "naive": "naive take-home app",
    "app-commit-per-request": "shipshape, one commit per request",
    "app-stdlib-json": "shipshape, stdlib json instead of orjson",
}
WORKLOAD_TEXT = {
    "W1": "GET /livez",
    "W2": "GET / (durable visit)",
    "W3": "GET /list?limit=50",
    "W4": "90/10 GET/PUT /hello/{username}",
}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _rows(case: dict[str, Any]) -> str:
    rows = case.get("rows")
    return f"{rows:,}" if rows else ""


def _case_label(case: dict[str, Any]) -> str:
    return f"{case['target']} · {case['server']}"


def _summary(results: dict[str, Any], **match: Any) -> dict[str, Any] | None:
    case = stats.find(results.get("cases", []), **match)
    return case.get("summary") if case and case.get("summary") else None


def _rps(results: dict[str, Any], **match: Any) -> float | None:
    summary = _summary(results, **match)
    return float(summary["rps"]) if summary else None


def _times(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "-"
    return f"{a / b:,.2f}x"


def chart(results: dict[str, Any], path: Path = CHART) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [c for c in results.get("cases", []) if c.get("summary")]
    workers = sorted({c["workers"] for c in cases})
    fig, axes = plt.subplots(1, len(workers), figsize=(7 * len(workers), 5.5), squeeze=False)
    series = [
        ("app", "uvicorn", "shipshape (uvicorn)", "#1f77b4"),
        ("app", "granian", "shipshape (granian)", "#9467bd"),
        ("bare", "uvicorn", "bare ASGI (uvicorn)", "#7f7f7f"),
        ("bare", "granian", "bare ASGI (granian)", "#c7c7c7"),
        ("naive", "uvicorn", "naive take-home", "#d62728"),
    ]
    groups = ["W1", "W2", "W3 small", "W3 big", "W4"]
    sizes = sorted({c["rows"] for c in cases if c["workload"] == "W3" and c["rows"]})
    for ax, w in zip(axes[0], workers, strict=True):
        width = 0.16
        for i, (target, server, label, color) in enumerate(series):
            values = []
            for group in groups:
                match: dict[str, Any] = {"target": target, "server": server, "workers": w}
                if group.startswith("W3"):
                    if not sizes:
                        values.append(0.0)
                        continue
                    match.update(workload="W3", rows=sizes[0] if "small" in group else sizes[-1])
                else:
                    match["workload"] = group
                values.append(_rps(results, **match) or 0.0)
            xs = [g + (i - 2) * width for g in range(len(groups))]
            ax.bar(xs, values, width, label=label, color=color)
        pg = (results.get("pgbench") or {}).get("tps")
        if pg:
            ax.axhline(pg, color="#2ca02c", linestyle="--", linewidth=1)
            ax.text(len(groups) - 0.5, pg, " pgbench", color="#2ca02c", va="bottom", ha="right")
        names = [
            "W1 /livez",
            "W2 GET /",
            f"W3 {sizes[0]:,} rows" if sizes else "W3",
            f"W3 {sizes[-1]:,} rows" if sizes else "W3",
            "W4 /hello mix",
        ]
        ax.set_xticks(range(len(groups)), names, fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("requests/s (median, log scale)")
        ax.set_title(f"{w} worker{'s' if w > 1 else ''}")
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    fig.suptitle(f"shipshape make bench, {results.get('started', '')}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(results: dict[str, Any], results_path: Path, chart_path: Path) -> str:
    m = results["machine"]
    plan = results["plan"]
    checks = results.get("checks") or stats.evaluate(results)
    if results_path.name == "latest.json":  # link the timestamped twin, which is permanent
        for twin in sorted(results_path.parent.glob("2*.json")):
            if twin.read_text() == results_path.read_text():
                results_path = twin
    rel_json = results_path.relative_to(ROOT) if results_path.is_absolute() else results_path
    rel_chart = Path("..") / chart_path.relative_to(ROOT)
    cases = results.get("cases", [])
    other = [c["summary"].get("other_cores") for c in cases if c.get("summary")]
    other = [o for o in other if o is not None]
    noisy = sum(len(c.get("noisy_runs", [])) for c in cases)
    out: list[str] = []
    add = out.append
    add("# Performance\n")
    add(
        "<!-- Generated by `python -m bench.report` from the raw results of `make bench`; "
        "do not edit by hand. -->\n"
    )
    add(
        f"Measured by **`make bench`** (`.venv/bin/python -m bench.run`) on "
        f"{results['started']} in {results.get('elapsed_seconds', 0) // 60} minutes. "
        f"Raw data: [`{rel_json}`](../{rel_json}) (also `bench/results/latest.json`). "
        "Reproduce with the same command; `python -m bench.run --quick` is a short smoke "
        "(about 7 minutes) of every step, and `python -m bench.report FILE` regenerates "
        "this page and the chart from a results file.\n"
    )
    add("## Verdict against issue 7\n")
    add("| check | measured | required | result |")
    add("|---|---|---|---|")
    for c in checks:
        if c.get("ratio") is not None:
            measured = f"{c['ratio']:.2f}x ({_fmt(c.get('value'))} vs {_fmt(c.get('reference'))})"
            required = f"≥ {c['required']}x"
        else:
            measured = _fmt(c.get("value"), 3)
            required = f"≤ ±{c['required']:.0%}" if c["name"].startswith("soak") else "all / zero"
        verdict = "**pass**" if c["pass"] else "**FAIL**"
        add(f"| {c['name']}: {c['what']} | {measured} | {required} | {verdict} |")
    add("")
    add("## The machine\n")
    add(f"- CPU: {m['cpu_model']}, {m['cpus']} logical CPUs (`/proc/cpuinfo`)")
    if m.get("git"):
        g = m["git"]
        same = results.get("git_end") in (None, g)
        add(
            f"- Code measured: commit `{g['commit']}`"
            + (" with uncommitted changes in src/" if g["src_dirty"] else "")
            + f" (src digest `{g.get('src_sha256', '?')}`"
            + ("; unchanged during the run)" if same else "; **src/ changed during the run**)")
        )
    add(f"- Kernel {m['kernel']}, Python {m['python']}, {m['postgresql']}, {m['wrk']}")
    add("- Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()))
    add("- Memory (`free -m` at the start):\n")
    add("```")
    add(m["free"])
    add("```\n")
    pg = results.get("postgres", {})
    add(
        "PostgreSQL 15 is a throwaway instance started by the harness with durable settings: "
        + ", ".join(f"`{k}={v}`" for k, v in pg.items())
        + " (shared_buffers in 8 kB pages, max_wal_size in MB, checkpoint_timeout in s).\n"
    )
    if other:
        add(
            f"The load generator, the server and PostgreSQL share the same {m['cpus']} CPUs. "
            "Every run also records who used the CPUs (`cpu` in the JSON): the median "
            f"core-share taken by *other* processes during a case ranged from "
            f"{min(other):.2f} to {max(other):.2f} cores in this run "
            "(this machine is shared with other jobs; cases wait up to "
            f"{plan.get('quiet_wait', 0):.0f} s for a quiet machine before starting). "
            f"A run during which other processes or the hypervisor (steal) took more than "
            f"{stats.NOISY_OTHER_CORES} cores is measured again, at most "
            f"{stats.NOISY_REPEATS} times per case, for the app and the anchors alike: "
            f"{noisy} runs were repeated in this run (`noisy_runs` in the JSON).\n"
        )
    add("## Method\n")
    add(
        f"- wrk, {plan['threads']} threads, {plan['connections']} keep-alive connections, "
        f"on loopback. A case is measured in {plan['repetitions']} rounds; each round starts "
        f"a fresh server, warms it up for {plan['warmup']:.0f} s and keeps one "
        f"{plan['seconds']:.0f} s run. At each worker count the W1, W2 and W4 cases (app and "
        "anchors) take their rounds in turn, so host drift falls on all of them alike; "
        "pgbench takes one run per round beside them at the largest worker count. The "
        "tables show the median run (req/s min-max in brackets). Errors = non-2xx/3xx "
        "responses + socket errors (connect, read, write, timeout). RSS = peak resident "
        "memory of the server's process tree, sampled every 0.5 s."
    )
    add(
        "- The app runs exactly as in production: `shipshape serve --workers N` (uvicorn, "
        "uvloop, httptools; N independent processes on one SO_REUSEPORT port), JSON logs with "
        "the access log on, metrics and request ids on (stdout discarded to /dev/null after "
        "formatting). The anchors use the same server settings (`bench/serve.py` mirrors "
        "`src/shipshape/server.py`); granian runs with `--loop uvloop --http 1 --workers N`."
    )
    add(
        "- W2 uses a wrk script that, at the deadline, lets every visit in flight finish "
        "(switching to a `/livez` tail) so that the 2xx count can be compared exactly with "
        "the rows added to `visits` after every run."
    )
    add(
        f"- W3 tables are bulk-loaded with `generate_series` ({plan['small_rows']:,} and "
        f"{plan['big_rows']:,} rows), W4 uses {10_000:,} users loaded the same way."
    )
    add(
        "- pgbench: `-c "
        f"{plan['connections']} -j {plan['threads']} "
        f"-M {(results.get('pgbench') or {}).get('mode', 'prepared')}`, one "
        "`INSERT INTO visits ... VALUES (...)` per transaction, same table and indexes.\n"
    )
    add("## Results\n")
    add(f"![throughput per case]({rel_chart})\n")
    add(
        "| workload | target · server | workers | rows | req/s (min-max) | p50 ms | p99 ms "
        "| errors | RSS MB | other cores |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|")
    order = {"W1": 1, "W2": 2, "W3": 3, "W4": 4}
    for case in sorted(
        cases,
        key=lambda c: (order[c["workload"]], c.get("rows") or 0, c["workers"], c["target"]),
    ):
        s = case.get("summary") or {}
        if not s:
            add(
                f"| {case['workload']} | {_case_label(case)} | {case['workers']} | {_rows(case)} "
                f"| failed: {case.get('error', '?')[:80]} | | | | | |"
            )
            continue
        add(
            f"| {case['workload']} {WORKLOAD_TEXT[case['workload']]} | {_case_label(case)} "
            f"| {case['workers']} | {_rows(case)} "
            f"| {_fmt(s['rps'])} ({_fmt(s['rps_min'], 0)}-{_fmt(s['rps_max'], 0)}) "
            f"| {_fmt(s['p50_ms'], 2)} | {_fmt(s['p99_ms'], 2)} | {s['errors']} "
            f"| {_fmt(s['rss_mb'])} | {_fmt(s.get('other_cores'), 2)} |"
        )
    add("")
    pgb = results.get("pgbench")
    if pgb:
        runs = ", ".join(f"{r['tps']:,.0f}" for r in pgb["runs"])
        add(
            f"**pgbench** (single-row INSERT commits, {pgb['clients']} clients): median "
            f"{pgb['tps']:,.0f} commits/s (runs: {runs}).\n"
        )
    row_checks = [(c["id"], rc) for c in cases for rc in c.get("row_checks", [])] + [
        ("soak", rc) for rc in (results.get("soak") or {}).get("row_checks", [])
    ]
    if row_checks:
        add(
            "**Durability check** — visit rows added vs 2xx counted by wrk, per W2 run: "
            + "; ".join(f"{cid}: {rc['rows']:,}/{rc['ok']:,}" for cid, rc in row_checks)
            + ".\n"
        )
    soak = results.get("soak")
    if soak:
        r = soak["rss"]
        add(
            f"**Soak** — W2 for {soak['seconds']:.0f} s at 1 worker: "
            f"{soak['result']['rps']:,.1f} req/s, {soak['result']['errors']} errors, RSS "
            f"first {r['first_mb']} MB, min {r['min_mb']} MB, max {r['max_mb']} MB, last "
            f"{r.get('last_mb')} MB (largest deviation {r['max_abs_deviation']:.1%}).\n"
        )
    singles = results.get("naive_single_list") or []
    if singles:
        add(
            "**Naive `/list` (every row), one request at a time:** "
            + "; ".join(
                f"{s['rows']:,} rows: {s['seconds']:.2f} s, {s['bytes'] / 2**20:.1f} MB body, "
                f"server RSS {s['rss_mb']} MB"
                if "seconds" in s
                else f"{s['rows']:,} rows: {s.get('error')}"
                for s in singles
            )
            + ".\n"
        )
    add("## What each optimisation bought (before → after, same run)\n")
    add("| optimisation | before | after | gain |")
    add("|---|---|---|---|")
    sizes = sorted({c["rows"] for c in cases if c["workload"] == "W3" and c["rows"]})
    small = sizes[0] if sizes else None
    big = sizes[-1] if sizes else None
    rows_opt = [
        (
            "group commit vs one commit per request (W2, 1 worker; batch size 1 and 16 "
            "writers emulate per-request commits)",
            _rps(results, target="app-commit-per-request", workload="W2", workers=1),
            _rps(results, target="app", server="uvicorn", workload="W2", workers=1),
        ),
        (
            "async app with group commit vs naive take-home (W2, 1 worker)",
            _rps(results, target="naive", workload="W2", workers=1),
            _rps(results, target="app", server="uvicorn", workload="W2", workers=1),
        ),
        (
            f"orjson vs stdlib json + jsonable_encoder (W3 at {_fmt(small)} rows, 1 worker)",
            _rps(results, target="app-stdlib-json", workload="W3", workers=1, rows=small),
            _rps(results, target="app", server="uvicorn", workload="W3", workers=1, rows=small),
        ),
    ]
    for w in sorted({c["workers"] for c in cases}):
        for wl in ("W1", "W2"):
            rows_opt.append(
                (
                    f"granian instead of uvicorn for the app ({wl}, {w} worker{'s' * (w > 1)})",
                    _rps(results, target="app", server="uvicorn", workload=wl, workers=w),
                    _rps(results, target="app", server="granian", workload=wl, workers=w),
                )
            )
    for name, before, after in rows_opt:
        add(f"| {name} | {_fmt(before)} req/s | {_fmt(after)} req/s | {_times(after, before)} |")
    for size in (small, big):
        single = next((s for s in singles if s.get("rows") == size and "seconds" in s), None)
        app_rps = _rps(results, target="app", server="uvicorn", workload="W3", workers=1, rows=size)
        if size and single and app_rps:
            add(
                f"| keyset page of 50 vs every row at {size:,} rows (W3, 1 worker; naive: "
                f"one request alone, its best case) | {1 / single['seconds']:,.3f} req/s "
                f"| {_fmt(app_rps)} req/s | {_times(app_rps, 1 / single['seconds'])} |"
            )
    add("")
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        add(notes.read_text().strip() + "\n")
    return "\n".join(out)


def write(results: dict[str, Any], results_path: Path) -> None:
    chart_path = chart(results)
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(markdown(results, results_path, chart_path))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else ROOT / "bench" / "results" / "latest.json"
    path = path.resolve()
    results = json.loads(path.read_text())
    if not results.get("checks"):
        results["checks"] = stats.evaluate(results)
    write(results, path)
    print(f"wrote {DOC.relative_to(ROOT)} and {CHART.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
