"""Graceful shutdown of the real server process on PostgreSQL, the way Kubernetes stops a pod."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import httpx
from sqlalchemy import select

from shipshape.core.config import Settings
from shipshape.storage.database import create_engine
from shipshape.storage.models import Visit
from tests.support.process import ServerProcess, cli

DRAIN = 3.0
SHUTDOWN_TIMEOUT = 8.0


async def _stored_user_agents(url: str) -> set[str]:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as conn:
            return {row[0] for row in await conn.execute(select(Visit.user_agent))}
    finally:
        await engine.dispose()


def test_sigterm_drains_serves_in_flight_and_exits_zero(servers):
    url = servers.get("postgresql").create_database(f"drain_{uuid.uuid4().hex[:8]}")
    env = {
        "DATABASE_URL": url,
        "SHIPSHAPE_CHAOS_ENABLED": "true",
        "SHIPSHAPE_DRAIN_SECONDS": str(DRAIN),
        "SHIPSHAPE_SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_TIMEOUT),
        "SHIPSHAPE_READINESS_CACHE_SECONDS": "0",
    }
    cli("migrate", env=env)
    server = ServerProcess(env).start()
    try:
        base = server.base_url
        acknowledged: list[str] = []
        unexpected: list[tuple[int, str]] = []  # asserted in the test's thread, not here
        refused = threading.Event()
        slow_results: list[int] = []

        def slow_request() -> None:
            response = httpx.get(f"{base}/delay/{DRAIN + 1.5}", timeout=30)
            slow_results.append(response.status_code)

        def steady_visits() -> None:
            with httpx.Client(timeout=10) as client:
                while not refused.is_set():
                    agent = f"visit-{uuid.uuid4().hex}"
                    try:
                        response = client.get(f"{base}/", headers={"user-agent": agent})
                    except httpx.ConnectError:
                        refused.set()  # the listener is closed: the drain is over
                        return
                    except httpx.HTTPError:
                        continue  # a kept-alive connection closed by the server: retry anew
                    if response.status_code != 200:
                        unexpected.append((response.status_code, response.text))
                        continue
                    acknowledged.append(agent)
                    time.sleep(0.01)

        slow = [threading.Thread(target=slow_request) for _ in range(4)]
        for thread in slow:
            thread.start()
        visitor = threading.Thread(target=steady_visits)
        visitor.start()
        time.sleep(1.0)
        assert httpx.get(f"{base}/readyz").status_code == 200

        signalled = time.monotonic()
        server.terminate()
        time.sleep(0.5)

        # During the drain: not ready, but new requests are still served.
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["checks"]["draining"] == "yes"
        assert httpx.get(f"{base}/livez", timeout=5).status_code == 200
        fresh = httpx.get(f"{base}/", headers={"user-agent": "during-drain"}, timeout=5)
        assert fresh.status_code == 200
        served_at_drain_start = sum(1 for agent in acknowledged if agent.startswith("visit-"))

        code = server.wait(timeout=DRAIN + SHUTDOWN_TIMEOUT + 5)
        elapsed = time.monotonic() - signalled
        for thread in slow:
            thread.join(timeout=10)
        visitor.join(timeout=10)

        assert code == 0, server.output()
        assert elapsed < DRAIN + SHUTDOWN_TIMEOUT, elapsed
        assert elapsed >= DRAIN - 0.5  # it did keep serving for the drain period
        assert slow_results == [200] * 4  # in-flight requests finished
        assert unexpected == []
        # The steady client kept being served after the drain began (not only before it).
        assert sum(1 for a in acknowledged if a.startswith("visit-")) > served_at_drain_start
        acknowledged.append("during-drain")
        stored = asyncio.run(_stored_user_agents(url))
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} acknowledged visits lost"
        assert "flushed, pool closed" in server.output()
    finally:
        server.stop()


def test_second_signal_is_not_needed_and_sigterm_without_drain_is_prompt(servers, tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SHIPSHAPE_DRAIN_SECONDS": "0"}
    cli("migrate", env=env)
    server = ServerProcess(env).start()
    try:
        started = time.monotonic()
        server.terminate()
        assert server.wait(timeout=15) == 0
        assert time.monotonic() - started < 5
    finally:
        server.stop()
