"""The group-commit writers on every database (issue 20): a writer that dies is replaced and
its writes answer 503; a batch stuck on the database (a row lock another transaction holds)
answers 503 within SHIPSHAPE_WRITE_TIMEOUT_SECONDS instead of hanging, and the instance
recovers on its own once the database answers again."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shipshape.core.config import Settings
from shipshape.storage.database import create_engine

CLIENT_IP = "203.0.113.7"  # the conftest client's address


class WriterCrash(BaseException):
    """Escapes every `except Exception`: the writer task dies."""


async def _eventually(check: Callable[[], Any], attempts: int = 200) -> None:
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_a_dead_writer_answers_503_and_is_replaced(app_factory: Any) -> None:
    async with app_factory() as client:
        writer = client.app.state.services.writer  # type: ignore[attr-defined]
        real_write = writer.write_batch

        async def crash(batch: Sequence[object]) -> None:
            raise WriterCrash

        writer.write_batch = crash
        died = await client.get("/")
        assert died.status_code == 503
        assert died.headers["retry-after"] == "1"
        writer.write_batch = real_write

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await _eventually(ready)
        assert (await client.get("/readyz")).json()["checks"]["writers"] == "ok"
        assert (await client.get("/")).status_code == 200
        metrics = (await client.get("/metrics")).text
        assert 'shipshape_writer_restarts_total{operation="insert_visits"} 1.0' in metrics
        visits = (await client.get("/list")).json()
        assert len(visits) == 1  # the 503 visit was not written, the 200 one was


@contextlib.asynccontextmanager
async def _row_locked(settings: Settings, ip: str) -> AsyncIterator[None]:
    """Another transaction holds the lock on `ip`'s visitors row (SQLite: the whole database)."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                await conn.begin()
                await _lock(conn, ip)
            try:
                yield
            finally:
                await conn.rollback()
    finally:
        await engine.dispose()


async def _lock(conn: AsyncConnection, ip: str) -> None:
    await conn.execute(text("SELECT ip FROM visitors WHERE ip = :ip FOR UPDATE"), {"ip": ip})


async def test_a_batch_stuck_on_the_database_answers_503_within_the_write_timeout(
    app_factory: Any, make_settings: Callable[..., Settings]
) -> None:
    async with app_factory(write_timeout_seconds=1, db_pool_timeout_seconds=2) as client:
        assert (await client.get("/")).status_code == 200  # the visitors row exists
        async with _row_locked(make_settings(), CLIENT_IP):
            # Bounded by the client as well: a hang fails the test instead of blocking it.
            stuck = await client.get("/", timeout=httpx.Timeout(60))
            assert stuck.status_code == 503, stuck.text
            assert stuck.headers["retry-after"] == "1"

        async def recovered() -> bool:
            return (await client.get("/")).status_code == 200

        await _eventually(recovered)
        metrics = (await client.get("/metrics")).text
        assert 'shipshape_db_errors_total{operation="insert_visits"}' in metrics


async def test_the_queue_flush_gets_what_is_left_of_the_shutdown_budget(
    make_settings: Callable[..., Settings],
) -> None:
    """One budget (issue 20): once the server has spent the shutdown timeout on in-flight
    requests, the flush does not wait a second full timeout; what it cannot write answers
    503 (WriterOverloaded) instead of waiting."""
    from shipshape.app import create_app

    app = create_app(make_settings(shutdown_timeout_seconds=120, write_timeout_seconds=120))
    services = app.state.services
    gate = asyncio.Event()
    await asyncio.wait_for(_shut_down_with_a_held_write(app, services, gate), 30)


async def _shut_down_with_a_held_write(app: Any, services: Any, gate: asyncio.Event) -> None:
    from shipshape.domain.records import NewVisit
    from shipshape.storage.group_commit import WriterOverloaded

    async with app.router.lifespan_context(app):
        real_write = services.writer.write_batch

        async def held(batch: Sequence[object]) -> None:  # the database does not answer
            await gate.wait()
            await real_write(batch)

        services.writer.write_batch = held
        now = services.clock()
        queued = asyncio.create_task(services.writer.record(NewVisit("198.51.100.1", "ua", now)))
        for _ in range(10):
            await asyncio.sleep(0)
        # As DrainingServer.shutdown does, and the requests already took all but 0.2 s of it.
        services.state.shutdown_deadline = time.monotonic() + 0.2
    # The lifespan ended within the 30 s bound above (not after 120 s); the held write:
    result = await asyncio.wait_for(asyncio.gather(queued, return_exceptions=True), 5)
    assert isinstance(result[0], WriterOverloaded)
