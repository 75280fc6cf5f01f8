"""The API against a PostgreSQL or MariaDB that misbehaves mid-flight: connections killed
while a request waits on them, a statement cancelled by the server. Every answer is a 503
with Retry-After (never a 500 or a hang), `shipshape_db_errors_total` counts it, and the same
app recovers on its own once the database does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from shipshape.app import create_app
from shipshape.core.config import Settings
from shipshape.core.database_url import to_async_url
from shipshape.storage.migrate import upgrade
from tests.integration.test_metrics_and_tracing import samples

KILL = {
    "postgresql": "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE application_name = 'shipshape'",
    "mariadb": "KILL CONNECTION USER shipshape",
}


@contextlib.asynccontextmanager
async def api(url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=url, access_log=False, freeze_heap=False, db_statement_timeout_seconds=20
    )
    await asyncio.to_thread(upgrade, settings)  # alembic runs its own event loop
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


@contextlib.asynccontextmanager
async def table_lock(url: str, kind: str) -> AsyncIterator[AsyncConnection]:
    """Another session holding a lock that blocks reads of `visits`."""
    engine = create_async_engine(to_async_url(url), isolation_level="AUTOCOMMIT")
    holder = await engine.connect()
    try:
        if kind == "postgresql":
            await holder.execute(text("BEGIN"))
            await holder.execute(text("LOCK TABLE visits IN ACCESS EXCLUSIVE MODE"))
        else:
            await holder.execute(text("LOCK TABLES visits WRITE"))
        yield holder
    finally:
        with contextlib.suppress(Exception):  # a killed session cannot close cleanly
            await holder.close()
        await engine.dispose()


def db_errors(metrics_text: str, operation: str) -> float:
    return sum(
        s.value
        for s in samples(metrics_text, "shipshape_db_errors_total")
        if s.labels.get("operation") == operation
    )


async def _waiting(client: httpx.AsyncClient) -> asyncio.Task[httpx.Response]:
    task = asyncio.create_task(client.get("/list"))
    await asyncio.sleep(0.5)  # the read is now blocked on the lock
    assert not task.done()
    return task


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
async def test_connections_killed_mid_flight_answer_503_then_recover(servers, kind):
    server = servers.get(kind)
    async with api(server.url) as client:
        assert (await client.get("/list")).status_code == 200
        before = db_errors((await client.get("/metrics")).text, "list_visits")
        async with table_lock(server.url, kind):
            waiting = await _waiting(client)
            server.admin(KILL[kind])  # the app's connections (and on MariaDB the lock's too)
            response = await asyncio.wait_for(waiting, 15)
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert response.json() == {"detail": "Database unavailable"}
        assert db_errors((await client.get("/metrics")).text, "list_visits") == before + 1
        # The same app recovers with no restart: the pool replaces the dead connections.
        for _ in range(20):
            recovered = await client.get("/list")
            assert recovered.status_code in (200, 503), recovered.text
            if recovered.status_code == 200:
                break
        assert recovered.status_code == 200
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200


async def test_a_statement_cancelled_by_postgresql_is_a_503(servers):
    """QueryCanceledError (SQLSTATE 57014, what statement_timeout and pg_cancel_backend
    raise) is the database unable to answer: 503, counted, and the connection stays usable."""
    server = servers.get("postgresql")
    async with api(server.url) as client:
        before = db_errors((await client.get("/metrics")).text, "list_visits")
        async with table_lock(server.url, "postgresql"):
            waiting = await _waiting(client)
            server.admin(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'shipshape' AND wait_event_type = 'Lock'"
            )
            response = await asyncio.wait_for(waiting, 15)
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert db_errors((await client.get("/metrics")).text, "list_visits") == before + 1
        assert (await client.get("/list")).status_code == 200
