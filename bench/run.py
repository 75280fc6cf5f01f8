"""`make bench`: the whole benchmark in one command.

Starts a durable throwaway PostgreSQL, then measures every case in rounds: each round
starts a fresh server (the app exactly as production runs it: `shipshape serve`, JSON
access log on), warms up and keeps one fixed-duration wrk run (2 threads, 64 connections),
recording req/s, p50/p99, errors, server RSS and who used the CPUs. The cases a check
compares take their rounds in turn (`Bench.side_by_side`). Anchors in the same run: bare
ASGI on uvicorn and granian, the naive take-home app (bench/baselines/naive.py), pgbench
single-row INSERT commits. Then the before/after variants and a 60 s W2 soak. Writes
bench/results/<timestamp>.json, bench/results/latest.json, the chart and
docs/performance.md.

    python -m bench.run            # the full run (about 20 minutes on 2 cores)
    python -m bench.run --quick    # a short smoke of every step (about 7 minutes)
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench import procs, stats, wrk
from bench.pg import PASSWORD, PG_BIN, USER, Postgres, durable_postgres, free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
VENV_BIN = Path(sys.executable).parent
USERS = 10_000


@dataclass(frozen=True)
class Plan:
    seconds: float = 8.0
    repetitions: int = 3
    warmup: float = 2.0
    connections: int = 64
    threads: int = 2
    workers: tuple[int, ...] = (1, 2)
    small_rows: int = 10_000
    big_rows: int = 1_000_000
    soak_seconds: float = 60.0
    naive_list_seconds: float = 20.0
    quiet_wait: float = 4.0  # at most this long waiting for other tenants' load to pass


FULL = Plan()
QUICK = Plan(
    seconds=3.0,
    repetitions=1,
    warmup=1.0,
    big_rows=100_000,
    soak_seconds=10.0,
    naive_list_seconds=6.0,
    quiet_wait=2.0,
)

WORKLOADS = {
    "W1": ("/livez", "plain"),
    "W2": ("/", "visits"),
    "W3": ("/list?limit=50", "plain"),
    "W4": ("/hello/ua", "hello_mix"),
}


@dataclass
class Case:
    """One measured configuration: its results record and how to start its server."""

    record: dict[str, Any]
    target: str
    server: str
    workers: int
    kind: str  # the wrk script (bench/wrk.py)
    env: dict[str, str]
    plan: Plan
    timeout_s: float


Step = Case | Callable[[], None]


def schedule(cases: Sequence[Case], also: Sequence[Callable[[], None]] = ()) -> list[Step]:
    """Alternating rounds: every case once per round (each starting where the previous round
    started one later, so no case always follows the same neighbour), then `also`."""
    rounds = max((case.plan.repetitions for case in cases), default=0)
    order: list[Step] = []
    for n in range(rounds):
        shift = n % len(cases)
        order += [case for case in [*cases[shift:], *cases[:shift]] if n < case.plan.repetitions]
        order += also
    return order


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Bench:
    def __init__(self, plan: Plan, pg: Postgres, workdir: Path) -> None:
        self.plan = plan
        self.pg = pg
        self.workdir = workdir
        self.cases: list[dict[str, Any]] = []

    # ---- environment and commands -------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPSHAPE_", "GRANIAN_"))}
        env.update(
            DATABASE_URL=self.pg.url,
            PYTHONPATH=str(ROOT),
            SHIPSHAPE_LOG_FORMAT="json",
            SHIPSHAPE_ACCESS_LOG="true",  # production default: every middleware on
            SHIPSHAPE_ENVIRONMENT="bench",
            SHIPSHAPE_DRAIN_SECONDS="0",  # the bench restarts servers; no drain needed
            SHIPSHAPE_SHUTDOWN_TIMEOUT_SECONDS="5",
            BENCH_STDOUT="null",  # the access log is produced and formatted, then discarded
        )
        env.update(extra)
        return env

    def command(self, target: str, server: str, port: int, workers: int) -> list[str]:
        host = ["--host", "127.0.0.1", "--port", str(port)]
        if server == "granian":
            app = {"app": "bench.apps:make_app", "bare": "bench.bare:app"}[target]
            factory = ["--factory"] if target == "app" else []
            return [
                str(VENV_BIN / "granian"),
                "--interface",
                "asgi",
                *host,
                "--workers",
                str(workers),
                "--loop",
                "uvloop",
                "--http",
                "1",
                "--no-ws",
                "--backlog",
                "2048",
                "--no-access-log",
                *factory,
                app,
            ]
        if target == "app":
            return [str(VENV_BIN / "shipshape"), "serve", *host, "--workers", str(workers)]
        if target == "app-stdlib-json":
            return [sys.executable, "-m", "bench.apps", "serve", *host, "--workers", str(workers)]
        module = {"bare": "bench.bare:app", "naive": "bench.baselines.naive:app"}[target]
        return [sys.executable, "-m", "bench.serve", module, *host[2:], "--workers", str(workers)]

    # ---- database helpers --------------------------------------------------------------
    def visits(self) -> int:
        return self.pg.scalar("SELECT count(*) FROM visits")

    def reset_visits(self, rows: int = 0) -> None:
        self.pg.sql("TRUNCATE visits, visitors RESTART IDENTITY")
        if rows:
            # Bulk-load through SQL, not HTTP: 1M rows in seconds. 256 client addresses.
            self.pg.sql(
                "INSERT INTO visits (ip, user_agent, created_at) "
                "SELECT '10.0.' || (i % 256) || '.' || (i % 200), 'bench-loader', "
                f"now() - make_interval(secs => {rows} - i) "
                f"FROM generate_series(1, {rows}) AS i"
            )
            self.pg.sql("VACUUM ANALYZE visits")

    # ---- cases -------------------------------------------------------------------------
    # A case is measured by one or more rounds; every round starts a fresh server, warms it
    # up and keeps one run. Both matter on this shared VM: a server start's cost per request
    # is sticky (where the scheduler puts its processes: W4 at 2 workers ranged 121-169 us
    # of CPU per request over five fresh starts, the runs within one start agreed), and
    # the host drifts over minutes. So the median is over several starts, and `side_by_side`
    # measures the cases a ratio compares in alternating rounds instead of one after another.
    def open_case(
        self,
        target: str,
        workload: str,
        workers: int,
        *,
        server: str = "uvicorn",
        rows: int | None = None,
        variant: str | None = None,
        env: dict[str, str] | None = None,
        plan: Plan | None = None,
        timeout_s: float = 10.0,
    ) -> Case:
        path, kind = WORKLOADS[workload]
        name = "/".join(
            str(p) for p in (variant or target, server, workload, f"{workers}w", rows) if p
        )
        record: dict[str, Any] = {
            "id": name,
            "target": variant or target,
            "server": server,
            "workload": workload,
            "path": path,
            "workers": workers,
            "rows": rows,
            "runs": [],
            "noisy_runs": [],  # measured again (stats.is_noisy); kept for the record
        }
        if workload == "W2":
            record["row_checks"] = []
        self.cases.append(record)
        return Case(record, target, server, workers, kind, env or {}, plan or self.plan, timeout_s)

    def measure(self, case: Case) -> None:
        """One round: a fresh server, a warm-up, then one kept run (a noisy one is repeated)."""
        record, plan = case.record, case.plan
        if "error" in record or len(record["runs"]) >= plan.repetitions:
            return
        log(f"case {record['id']} (round {len(record['runs']) + 1} of {plan.repetitions})")
        waited = procs.wait_quiet(plan.quiet_wait)
        port = free_port()
        try:
            with procs.server(
                record["id"].replace("/", "_"),
                self.command(case.target, case.server, port, case.workers),
                port=port,
                env=self.env(**case.env),
                logdir=self.workdir,
                cwd=ROOT,
                ready_path="/livez",
            ) as srv:
                record.setdefault("rss_idle_mb", round(srv.rss() / 2**20, 1))
                url = srv.url + record["path"]
                if plan.warmup > 0:
                    self.wrk(url, case.kind, replace(plan, seconds=plan.warmup), case.timeout_s)
                    srv.quiesce()
                while True:
                    run = self._run_once(case, srv, url)
                    run["waited_for_quiet_s"] = waited
                    noisy = stats.is_noisy(run, len(record["noisy_runs"]))
                    record["noisy_runs" if noisy else "runs"].append(run)
                    log(
                        f"  {run['rps']:>9.1f} req/s  p50 {run['p50_ms']:.2f} ms  "
                        f"p99 {run['p99_ms']:.2f} ms  errors {run['errors']}  "
                        f"rss {run['rss_peak_mb']} MB"
                        + (f"  rows {run['rows_added']}/{run['ok']}" if "rows_added" in run else "")
                        + f"  cpu {run['cpu']}"
                        + ("  [noisy: measured again]" if noisy else "")
                    )
                    srv.quiesce()
                    if not noisy:
                        break
        except Exception as exc:  # one broken case must not lose the whole run
            record["error"] = f"{type(exc).__name__}: {exc}"[:2000]
            log(f"  FAILED: {record['error'][:300]}")
            traceback.print_exc()

    def _run_once(self, case: Case, srv: procs.Server, url: str) -> dict[str, Any]:
        counts_rows = "row_checks" in case.record
        before = self.visits() if counts_rows else 0
        loadavg = list(os.getloadavg())
        with (
            procs.RssSampler(srv.process.pid) as sampler,
            procs.CpuAccount(srv.process.pid, self.pg.pid) as cpu,
        ):
            result = self.wrk(url, case.kind, case.plan, case.timeout_s)
        run = result.as_dict()
        run["loadavg_before"] = loadavg
        run["rss_peak_mb"] = round(max(v for _, v in sampler.samples) / 2**20, 1)
        run["cpu"] = cpu.result
        if counts_rows:
            srv.quiesce()
            added = self.visits() - before
            case.record["row_checks"].append({"rows": added, "ok": result.ok})
            run["rows_added"] = added
        return run

    def case(self, target: str, workload: str, workers: int, **options: Any) -> dict[str, Any]:
        """Measure one case on its own: its rounds back to back."""
        case = self.open_case(target, workload, workers, **options)
        if workload == "W2":
            self.reset_visits()
        for _ in range(case.plan.repetitions):
            self.measure(case)
        case.record["summary"] = stats.summarise_runs(case.record["runs"])
        return case.record

    def side_by_side(
        self, cases: list[Case], also: list[Callable[[], None]] | None = None
    ) -> list[dict[str, Any]]:
        """Measure cases that are compared in alternating rounds (each case once per round,
        then the next round), so a drift of the host over the minutes it takes falls on all
        of them alike. `also`: anchors that are not servers (pgbench), one run per round."""
        if any("row_checks" in case.record for case in cases):
            self.reset_visits()
        for step in schedule(cases, also or []):
            if isinstance(step, Case):
                self.measure(step)
            else:
                step()
        for case in cases:
            case.record["summary"] = stats.summarise_runs(case.record["runs"])
        return [case.record for case in cases]

    def _script_for(self, kind: str, plan: Plan) -> Path:
        path = self.workdir / f"{kind}-{plan.seconds}.lua"
        if not path.exists():
            path.write_text(self._lua(kind, plan.seconds))
        return path

    def _lua(self, kind: str, seconds: float) -> str:
        markers = self.workdir / "markers"
        markers.mkdir(exist_ok=True)
        return wrk.script(kind, measure=seconds, users=USERS, markers=str(markers))

    def wrk(self, url: str, kind: str, plan: Plan, timeout_s: float = 10.0) -> wrk.WrkResult:
        return wrk.run(
            url,
            self._script_for(kind, plan),
            kind=kind,
            seconds=plan.seconds,
            connections=plan.connections,
            threads=plan.threads,
            timeout_s=timeout_s,
            markers=self.workdir / "markers",
        )

    # ---- anchors -------------------------------------------------------------------------
    def open_pgbench(self) -> dict[str, Any]:
        """Anchor (c): one single-row INSERT per transaction, same client count, same table.
        Measured by `pgbench_round`, one run per round beside the cases it is compared with."""
        script = self.workdir / "insert.sql"
        script.write_text(
            "INSERT INTO visits (ip, user_agent, created_at) "
            "VALUES ('127.0.0.1', 'pgbench', now());\n"
        )
        return {
            "clients": self.plan.connections,
            "threads": self.plan.threads,
            "mode": "prepared",
            "runs": [],
            "tps": None,
        }

    def pgbench_round(self, anchor: dict[str, Any]) -> None:
        """A warm-up and one run of pgbench, on an emptied table (emptied again after)."""
        log(
            "pgbench: single-row INSERT INTO visits per transaction "
            f"(round {len(anchor['runs']) + 1})"
        )
        base = [
            str(PG_BIN / "pgbench"),
            "-h",
            self.pg.host,
            "-p",
            str(self.pg.port),
            "-U",
            USER,
            "-n",
            "-c",
            str(anchor["clients"]),
            "-j",
            str(anchor["threads"]),
            "-M",
            anchor["mode"],
            "-f",
            str(self.workdir / "insert.sql"),
        ]
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        self.reset_visits()
        subprocess.run(
            [*base, "-T", str(max(1, int(self.plan.warmup))), "bench"],
            env=env,
            capture_output=True,
            check=True,
        )
        done = subprocess.run(
            [*base, "-T", str(int(self.plan.seconds)), "bench"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        self.reset_visits()
        tps = re.search(r"tps = ([\d.]+) \(without initial", done.stdout)
        latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
        failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
        anchor["runs"].append(
            {
                "tps": float(tps.group(1)) if tps else 0.0,
                "latency_avg_ms": float(latency.group(1)) if latency else None,
                "failed": int(failed.group(1)) if failed else 0,
            }
        )
        log(f"  pgbench {anchor['runs'][-1]['tps']:.1f} tps")
        anchor["tps"] = round(statistics.median(r["tps"] for r in anchor["runs"]), 1)

    def naive_single_list(self, rows: int) -> dict[str, Any]:
        """One sequential GET /list on the naive app: the cost of returning every row."""
        port = free_port()
        log(f"naive: one GET /list at {rows} rows")
        with procs.server(
            f"naive-single-{rows}",
            self.command("naive", "uvicorn", port, 1),
            port=port,
            env=self.env(),
            logdir=self.workdir,
            cwd=ROOT,
        ) as srv:
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(srv.url + "/list", timeout=300) as response:
                    size = len(response.read())
                seconds = time.perf_counter() - start
                rss = srv.rss()
                result = {"rows": rows, "seconds": round(seconds, 3), "bytes": size}
                result["rss_mb"] = round(rss / 2**20, 1)
            except OSError as exc:
                result = {"rows": rows, "error": str(exc)}
        log(f"  {result}")
        return result

    def soak(self) -> dict[str, Any]:
        seconds = self.plan.soak_seconds
        log(f"soak: W2 for {seconds:.0f} s at 1 worker, RSS sampled every second")
        self.reset_visits()
        port = free_port()
        with procs.server(
            "soak",
            self.command("app", "uvicorn", port, 1),
            port=port,
            env=self.env(),
            logdir=self.workdir,
            cwd=ROOT,
        ) as srv:
            url = srv.url + "/"
            warm = replace(self.plan, seconds=max(self.plan.warmup, 5.0))
            self.wrk(url, "visits", warm)
            srv.quiesce()
            before = self.visits()
            with procs.RssSampler(srv.process.pid, interval=1.0) as sampler:
                result = self.wrk(url, "visits", replace(self.plan, seconds=seconds))
            srv.quiesce()
            added = self.visits() - before
        samples = [v for _, v in sampler.samples]
        soak = {
            "seconds": seconds,
            "result": result.as_dict(),
            "rss": stats.rss_deviation(samples),
            "rss_samples_mb": [round(v / 2**20, 1) for v in samples],
            "row_checks": [{"rows": added, "ok": result.ok}],
        }
        log(f"  soak {result.rps:.1f} req/s, rss {soak['rss']}, rows {added}/{result.ok}")
        return soak


def code_version() -> dict[str, Any]:
    """The commit measured, and a digest of src/ so that edits during a run are detected."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    digest = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*.py")):
        digest.update(path.read_bytes())
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "src_dirty": bool(git("status", "--porcelain", "src")),
        "src_sha256": digest.hexdigest()[:16],
    }


# ---- machine facts ----------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)

    def version(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10)
            return (done.stdout or done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unknown"

    def pkg(name: str) -> str:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as v

        try:
            return v(name)
        except PackageNotFoundError:
            return "absent"

    return {
        "git": code_version(),
        "cpu_model": models[0] if models else platform.processor(),
        "cpus": os.cpu_count(),
        "free": subprocess.run(["free", "-m"], capture_output=True, text=True).stdout.strip(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": version([str(PG_BIN / "postgres"), "--version"]),
        "wrk": version(["wrk", "-v"]),
        "packages": {
            name: pkg(name)
            for name in (
                "uvicorn",
                "uvloop",
                "httptools",
                "granian",
                "fastapi",
                "starlette",
                "sqlalchemy",
                "asyncpg",
                "psycopg",
                "orjson",
            )
        },
    }


def migrate(pg: Postgres, env: dict[str, str]) -> None:
    subprocess.run(
        [str(VENV_BIN / "shipshape"), "migrate"], env=env, check=True, capture_output=True
    )


def run(plan: Plan, quick: bool, only: set[str] | None) -> dict[str, Any]:
    started = dt.datetime.now(dt.UTC)
    results: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "command": "make bench" + (" (python -m bench.run --quick)" if quick else ""),
        "quick": quick,
        "plan": {k: list(v) if isinstance(v, tuple) else v for k, v in plan.__dict__.items()},
        "machine": machine(),
    }

    def want(section: str) -> bool:
        return only is None or section in only

    workdir = Path(tempfile.mkdtemp(prefix="shipshape-bench-"))
    with durable_postgres() as pg:
        bench = Bench(plan, pg, workdir)
        results["postgres"] = pg.settings()
        log(f"PostgreSQL on {pg.port}: {results['postgres']}")
        migrate(pg, bench.env())
        pg.sql(
            "INSERT INTO users (username, date_of_birth, updated_at) "
            f"SELECT {wrk.username_sql('i')}, "
            "date '1970-01-01' + (i % 10000), now() "
            f"FROM generate_series(0, {USERS - 1}) AS i"
        )
        # Per worker count, every case a check compares is measured in alternating rounds
        # (Bench.side_by_side); pgbench joins the rounds at the largest worker count, where
        # W2 is compared with it.
        pgbench = bench.open_pgbench() if want("pgbench") else None
        if pgbench is not None:
            results["pgbench"] = pgbench
        for w in plan.workers:
            group: list[Case] = []
            if want("W1"):
                group += [
                    bench.open_case("bare", "W1", w),
                    bench.open_case("bare", "W1", w, server="granian"),
                    bench.open_case("app", "W1", w),
                    bench.open_case("app", "W1", w, server="granian"),
                ]
            if want("W2"):
                group += [
                    bench.open_case("app", "W2", w),
                    bench.open_case("app", "W2", w, server="granian"),
                    bench.open_case("naive", "W2", w),
                ]
            if want("W4"):
                group += [bench.open_case("app", "W4", w), bench.open_case("naive", "W4", w)]
            rounds_of_pgbench: list[Callable[[], None]] = []
            if pgbench is not None and w == max(plan.workers):
                rounds_of_pgbench = [lambda: bench.pgbench_round(pgbench)]
            if group:
                bench.side_by_side(group, also=rounds_of_pgbench)
            else:
                for step in rounds_of_pgbench * plan.repetitions:
                    step()
        if want("variants"):
            # Group commit vs one commit per request: batch size 1, one writer per pooled
            # connection (pool 10 + overflow 6 = 16 = the most writers allowed).
            bench.case(
                "app",
                "W2",
                1,
                variant="app-commit-per-request",
                env={"SHIPSHAPE_VISIT_BATCH_SIZE": "1", "SHIPSHAPE_VISIT_WRITERS": "16"},
            )
        if want("soak"):
            results["soak"] = bench.soak()
        if want("W3"):
            naive_plan = replace(plan, seconds=plan.naive_list_seconds, repetitions=1, warmup=0.0)
            bench.reset_visits(plan.small_rows)
            for w in plan.workers:
                bench.case("app", "W3", w, rows=plan.small_rows)
                bench.case("naive", "W3", w, rows=plan.small_rows, plan=naive_plan, timeout_s=60)
            if want("variants"):
                bench.case(
                    "app-stdlib-json",
                    "W3",
                    1,
                    rows=plan.small_rows,
                    env={"BENCH_STDLIB_JSON": "1"},
                )
            results["naive_single_list"] = [bench.naive_single_list(plan.small_rows)]
            bench.reset_visits(plan.big_rows)
            for w in plan.workers:
                bench.case("app", "W3", w, rows=plan.big_rows)
            results["naive_single_list"].append(bench.naive_single_list(plan.big_rows))
        results["cases"] = bench.cases
    shutil.rmtree(workdir, ignore_errors=True)
    results["git_end"] = code_version()
    if results["git_end"] != results["machine"]["git"]:
        log("WARNING: src/ changed during the run; the results mix code versions")
    results["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    results["elapsed_seconds"] = round((dt.datetime.now(dt.UTC) - started).total_seconds())
    results["checks"] = stats.evaluate(results)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short smoke of every step")
    parser.add_argument(
        "--only",
        help="comma-separated sections: pgbench,W1,W2,W3,W4,variants,soak (default all)",
    )
    parser.add_argument(
        "--no-docs", action="store_true", help="do not regenerate docs/performance.md"
    )
    args = parser.parse_args(argv)
    if os.cpu_count() and os.cpu_count() != 2:
        log(f"note: this machine has {os.cpu_count()} CPUs; the reference numbers are for 2")
    plan = QUICK if args.quick else FULL
    only = set(args.only.split(",")) if args.only else None
    results = run(plan, args.quick, only)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = results["started"].replace(":", "").replace("-", "").replace("+0000", "Z")
    name = f"{stamp}{'-quick' if args.quick else ''}.json"
    text = json.dumps(results, indent=1, sort_keys=False) + "\n"
    (RESULTS / name).write_text(text)
    if not args.quick and only is None:
        (RESULTS / "latest.json").write_text(text)
    log(f"results: bench/results/{name}")
    if not args.no_docs and not args.quick and only is None:
        from bench import report

        report.write(results, RESULTS / name)
        log("docs/performance.md and the chart regenerated")
    for check in results["checks"]:
        verdict = "PASS" if check["pass"] else "FAIL"
        log(f"{verdict}  {check['name']}: {check.get('ratio', check.get('value'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
