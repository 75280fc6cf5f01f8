"""Where the app's CPU goes: CPU time per request, measured in-process (no sockets, no wrk).

    python -m bench.profile            # table + bench/results/profile.json
    python -m bench.profile --cprofile # plus the top functions of each case

The ASGI app is driven directly by 64 concurrent asyncio tasks (like wrk's connections, so
group commit forms real batches), against a durable throwaway PostgreSQL. CPU time per
request = process CPU time / requests: unlike req/s on a shared 2-core machine it barely
depends on what else runs, so it is the number to compare before/after an app change.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request

ROOT = Path(__file__).resolve().parent.parent
CASES: list[tuple[str, str, str, dict[str, str]]] = [
    # (label, target, path, extra environment)
    ("bare ASGI GET /livez", "bare", "/livez", {}),
    ("app GET /livez", "app", "/livez", {}),
    ("app GET /livez, access log off", "app", "/livez", {"SHIPSHAPE_ACCESS_LOG": "false"}),
    ("app GET / (W2)", "app", "/", {}),
    ("app GET / (W2), access log off", "app", "/", {"SHIPSHAPE_ACCESS_LOG": "false"}),
    ("app GET /list?limit=50 (W3)", "app", "/list?limit=50", {}),
    ("app GET /hello/ua (W4 read)", "app", "/hello/ua", {}),
    # The same request with read batching off (one pool checkout and query per request):
    # what src/shipshape/storage/read_batcher.py buys.
    ("app GET /hello/ua, no read batching", "app", "/hello/ua", {"BENCH_NO_READ_BATCHING": "1"}),
]


def _scope(path: str) -> dict[str, Any]:
    route, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def _drive(app: Any, path: str, requests: int, concurrency: int) -> list[int]:
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def worker(count: int) -> None:
        for _ in range(count):

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            await app(_scope(path), receive, send)

    per = max(1, requests // concurrency)
    await asyncio.gather(*(worker(per) for _ in range(concurrency)))
    return statuses


async def _child(target: str, path: str, requests: int, use_cprofile: bool) -> dict[str, Any]:
    if target == "bare":
        from bench.bare import app
    else:
        from shipshape.app import create_app
        from shipshape.core.config import load_settings
        from shipshape.observability.logging import configure_logging

        settings = load_settings()
        configure_logging(
            settings.log_format,
            settings.log_level,
            settings.secret_values(),
            stream=open(os.devnull, "w"),  # noqa: SIM115 - formatted, then discarded
        )
        app = create_app(settings)
        if os.environ.get("BENCH_NO_READ_BATCHING") == "1":
            from shipshape.storage.read_batcher import BatchedReader

            services = app.state.services
            services.birthdays = BatchedReader(
                services.store.birthdays, max_batch=1, max_in_flight=1_000_000
            )
    lifespan = app.router.lifespan_context(app) if target != "bare" else None
    if lifespan is not None:
        await lifespan.__aenter__()
    try:
        await _drive(app, path, 640, 64)  # warm-up: pools, caches, prepared statements
        profiler = cProfile.Profile() if use_cprofile else None
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        statuses = await _drive(app, path, requests, 64)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    finally:
        if lifespan is not None:
            await lifespan.__aexit__(None, None, None)
    result: dict[str, Any] = {
        "requests": len(statuses),
        "non_2xx": sum(1 for s in statuses if not 200 <= s < 300),
        "cpu_us_per_request": round(1e6 * cpu / len(statuses), 1),
        "wall_us_per_request": round(1e6 * wall / len(statuses), 1),
    }
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
        result["cprofile"] = out.getvalue()
    return result


def _routing() -> dict[str, float]:
    """The framework alone: the same trivial JSON route in Starlette and in FastAPI, flat
    and behind included routers (the app includes six)."""
    from fastapi import APIRouter, FastAPI
    from starlette.applications import Starlette
    from starlette.routing import Route

    from shipshape.api.responses import JSON

    async def livez() -> JSON:
        return JSON({"status": "ok"})

    async def livez_starlette(_request: Request) -> JSON:
        return JSON({"status": "ok"})

    flat = FastAPI()
    flat.get("/livez")(livez)
    nested = FastAPI()
    for n in range(5):
        router = APIRouter()
        router.get(f"/other{n}/{{item}}")(livez)
        nested.include_router(router)
    last = APIRouter()
    last.get("/livez")(livez)
    nested.include_router(last)
    apps = {
        "starlette Route": Starlette(routes=[Route("/livez", livez_starlette)]),
        "fastapi, route on the app": flat,
        "fastapi, route in the 6th included router": nested,
    }

    async def measure(app: Any) -> float:
        await _drive(app, "/livez", 640, 1)
        start = time.process_time()
        statuses = await _drive(app, "/livez", 5000, 1)
        assert set(statuses) == {200}, set(statuses)  # a 422 would measure the wrong thing
        return round(1e6 * (time.process_time() - start) / len(statuses), 1)

    return {name: asyncio.run(measure(app)) for name, app in apps.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--child", nargs=3, metavar=("TARGET", "PATH", "REQUESTS"))
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--requests", type=int, default=6400)
    parser.add_argument("--only", help="run only the cases whose label contains this text")
    args = parser.parse_args(argv)
    if args.child:
        target, path, requests = args.child
        import uvloop  # the event loop production runs (src/shipshape/server.py)

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        print(json.dumps(asyncio.run(_child(target, path, int(requests), args.cprofile))))
        return 0

    from bench.pg import durable_postgres
    from bench.run import Bench, Plan, migrate

    results: dict[str, Any] = {"cases": {}, "note": __doc__}
    with durable_postgres() as pg:
        bench = Bench(Plan(), pg, Path(tempfile.mkdtemp(prefix="shipshape-profile-")))
        migrate(pg, bench.env())
        bench.reset_visits(10_000)
        pg.sql("INSERT INTO users VALUES ('ua', '1990-05-17', now())")
        for label, target, path, extra in CASES:
            if args.only and args.only not in label:
                continue
            command = [sys.executable, "-m", "bench.profile", "--child", target, path]
            command.append(str(args.requests))
            if args.cprofile:
                command.append("--cprofile")
            done = subprocess.run(
                command, env=bench.env(**extra), cwd=ROOT, capture_output=True, text=True
            )
            if done.returncode != 0:
                results["cases"][label] = {"error": done.stderr[-1500:]}
                print(f"{label}: FAILED {done.stderr[-500:]}")
                continue
            case = json.loads(done.stdout.strip().splitlines()[-1])
            results["cases"][label] = case
            print(
                f"{label:40s} {case['cpu_us_per_request']:>8.1f} us CPU/request "
                f"({case['requests']} requests, {case['non_2xx']} non-2xx)"
            )
            if args.cprofile:
                print(case["cprofile"])
    if args.only:
        return 0  # a partial run: print it, keep the recorded profile
    results["routing_us_per_request"] = _routing()
    for name, value in results["routing_us_per_request"].items():
        print(f"routing only: {name:42s} {value:>8.1f} us CPU/request")
    out = ROOT / "bench" / "results" / "profile.json"
    for case in results["cases"].values():
        case.pop("cprofile", None)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
