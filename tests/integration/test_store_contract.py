"""The `Store` contract, on SQLite, PostgreSQL and MariaDB: every method, keyset pages with
ties, offset-aware timestamps, and errors leaving as the domain's storage errors only."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shipshape.core.config import Settings
from shipshape.domain.errors import StorageRejected, StorageUnavailable
from shipshape.domain.records import BirthdaySave, NewVisit
from shipshape.storage.database import create_engine
from shipshape.storage.factory import create_store
from shipshape.storage.migrate import head_revision
from shipshape.storage.store import Store

T0 = dt.datetime(2025, 3, 1, 12, 0, 0)
PLUS5 = dt.timezone(dt.timedelta(hours=5))


@pytest.fixture
async def store(make_settings) -> AsyncIterator[Store]:
    settings: Settings = make_settings(db_statement_timeout_seconds=1, db_pool_timeout_seconds=1)
    engine = create_engine(settings)
    async with engine.begin() as conn:
        for table in ("visits", "visitors", "users"):
            await conn.execute(text(f"DELETE FROM {table}"))
    store = create_store(engine, settings)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
        await engine.dispose()


async def test_schema_and_ping(store):
    await store.ping()
    assert await store.schema_revision() == head_revision()
    busy, idle = store.pool_stats()
    assert busy >= 0
    assert idle >= 0


async def test_visits_newest_first_with_filters_and_cursor(store):
    await store.insert_visits(
        [
            NewVisit(f"198.51.100.{n % 2}", f"agent-{n}", T0 + dt.timedelta(seconds=n))
            for n in range(6)
        ]
    )
    page = await store.visits_page(limit=10, before_id=None, ip=None)
    assert [row["user_agent"] for row in page] == [f"agent-{n}" for n in range(5, -1, -1)]
    assert page[0]["created_at"] == T0 + dt.timedelta(seconds=5)
    ids = [row["id"] for row in page]
    assert ids == sorted(ids, reverse=True)
    second = await store.visits_page(limit=2, before_id=ids[1], ip=None)
    assert [row["id"] for row in second] == ids[2:4]
    only = await store.visits_page(limit=10, before_id=None, ip="198.51.100.1")
    assert [row["user_agent"] for row in only] == ["agent-5", "agent-3", "agent-1"]
    # ip and cursor together: the filter holds across pages
    both = await store.visits_page(limit=10, before_id=only[0]["id"], ip="198.51.100.1")
    assert [row["user_agent"] for row in both] == ["agent-3", "agent-1"]
    assert await store.visits_page(limit=10, before_id=1, ip=None) == []


async def test_visitors_aggregates_and_ties_across_pages(store):
    await store.insert_visits(
        [
            NewVisit("198.51.100.9", "a", T0),
            NewVisit("198.51.100.9", "a", T0 + dt.timedelta(minutes=1)),
        ]
    )
    # Three addresses last seen at the same instant: the keyset must not lose or repeat one.
    tie = T0 + dt.timedelta(hours=1)
    await store.insert_visits(
        [NewVisit(ip, "b", tie) for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3")]
    )
    first = await store.visitors_page(limit=2, after=None, ip=None)
    assert [r["ip"] for r in first] == ["192.0.2.3", "192.0.2.2"]
    last = first[-1]
    second = await store.visitors_page(limit=2, after=(last["last_seen"], last["ip"]), ip=None)
    assert [r["ip"] for r in second] == ["192.0.2.1", "198.51.100.9"]
    assert second[1]["count"] == 2
    assert second[1]["first_seen"] == T0
    assert second[1]["last_seen"] == T0 + dt.timedelta(minutes=1)
    only = await store.visitors_page(limit=10, after=None, ip="198.51.100.9")
    assert [(r["ip"], r["count"]) for r in only] == [("198.51.100.9", 2)]


async def test_offset_aware_timestamps_are_stored_as_utc(store):
    aware = dt.datetime(2025, 3, 1, 17, 0, tzinfo=PLUS5)  # 12:00 UTC
    await store.insert_visits([NewVisit("203.0.113.1", None, aware)])
    (row,) = await store.visits_page(limit=1, before_id=None, ip=None)
    assert row["created_at"] == T0
    # an offset-aware keyset position (a crafted cursor) reads like its UTC equivalent
    after_aware = await store.visitors_page(
        limit=10, after=(aware + dt.timedelta(seconds=1), "z"), ip=None
    )
    assert [r["ip"] for r in after_aware] == ["203.0.113.1"]
    assert await store.visitors_page(limit=10, after=(aware, "0"), ip=None) == []
    await store.save_birthdays([BirthdaySave("zoe", dt.date(1990, 1, 1), aware)])
    assert await store.birthdays(["zoe"]) == {"zoe": dt.date(1990, 1, 1)}


async def test_birthdays_upsert_last_save_wins(store):
    await store.save_birthdays(
        [
            BirthdaySave("ann", dt.date(1990, 1, 1), T0),
            BirthdaySave("bob", dt.date(1991, 2, 2), T0),
            BirthdaySave("ann", dt.date(1992, 3, 3), T0),
        ]
    )
    await store.save_birthdays([BirthdaySave("bob", dt.date(1993, 4, 4), T0)])
    assert await store.birthdays(["ann", "bob", "cy"]) == {
        "ann": dt.date(1992, 3, 3),
        "bob": dt.date(1993, 4, 4),
    }
    assert await store.birthdays([]) == {}
    assert await store.birthdays(["Ann"]) == {}  # case-sensitive


async def test_values_the_database_refuses_are_rejected(store):
    if store.dialect == "sqlite":  # SQLite stores any length; an integer it cannot hold
        with pytest.raises(StorageRejected):
            await store.visits_page(limit=10, before_id=2**70, ip=None)
    else:
        with pytest.raises(StorageRejected):
            await store.insert_visits([NewVisit("x" * 300, None, T0)])
    await store.insert_visits([NewVisit("192.0.2.50", None, T0)])  # the store still works


def _lock_statements(dialect: str) -> tuple[str, str]:
    return {
        "postgresql": ("BEGIN", "LOCK TABLE visits IN ACCESS EXCLUSIVE MODE"),
        "mysql": ("SELECT 1", "LOCK TABLES visits WRITE, visitors WRITE"),
        "sqlite": ("SELECT 1", "BEGIN IMMEDIATE"),
    }[dialect]


async def test_a_locked_table_is_unavailable_within_the_bound_then_recovers(store, db_url):
    """A write that waits on a lock ends within the statement/busy timeout as
    StorageUnavailable (never a hang, never a driver error), and the store recovers."""
    from shipshape.core.database_url import to_async_url

    other = create_async_engine(to_async_url(db_url), isolation_level="AUTOCOMMIT")
    first, lock = _lock_statements(store.dialect)
    try:
        async with other.connect() as holder:
            await holder.execute(text(first))
            await holder.execute(text(lock))
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(StorageUnavailable):
                await asyncio.wait_for(store.insert_visits([NewVisit("192.0.2.7", None, T0)]), 30)
            assert loop.time() - started < 10
            if store.dialect == "postgresql":
                await holder.execute(text("COMMIT"))
            elif store.dialect == "mysql":
                await holder.execute(text("UNLOCK TABLES"))
            else:
                await holder.execute(text("COMMIT"))
        await store.insert_visits([NewVisit("192.0.2.8", None, T0)])
        assert [r["ip"] for r in await store.visits_page(limit=5, before_id=None, ip=None)] == [
            "192.0.2.8"
        ]
    finally:
        await other.dispose()


async def test_an_unreachable_database_is_unavailable(make_settings, db_url, tmp_path):
    if db_url.startswith("sqlite"):
        settings = make_settings(database_url=f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    else:
        from tests.support.databases import free_port

        scheme = db_url.split("://")[0]
        settings = make_settings(
            database_url=f"{scheme}://u:p@127.0.0.1:{free_port()}/db", db_connect_timeout_seconds=2
        )
    engine = create_engine(settings)
    store = create_store(engine, settings)
    await store.open()
    try:
        for call in (
            store.ping(),
            store.schema_revision(),
            store.insert_visits([NewVisit("192.0.2.1", None, T0)]),
            store.visits_page(limit=1, before_id=None, ip=None),
            store.visitors_page(limit=1, after=None, ip=None),
            store.save_birthdays([BirthdaySave("ann", dt.date(1990, 1, 1), T0)]),
            store.birthdays(["ann"]),
        ):
            with pytest.raises(StorageUnavailable):
                await call
    finally:
        await store.close()
        await engine.dispose()
