"""`Store` on asyncpg directly: the API's statements on PostgreSQL (why: docs/adr/0005).

The statements are the same as the portable ones in `repositories.py`; each visit batch is ONE
statement (a data-modifying CTE), so it is atomic and durable in autocommit with one round trip
and one WAL flush per batch. Every round trip is bounded by `command_timeout`
(SHIPSHAPE_DB_STATEMENT_TIMEOUT_SECONDS) and every driver error leaves as a domain error
(storage/errors.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from sqlalchemy.engine import make_url

from shipshape.core.config import Settings
from shipshape.core.database_url import hosts_of
from shipshape.domain.errors import StorageUnavailable
from shipshape.domain.records import BirthdaySave, NewVisit, utc_naive
from shipshape.storage.errors import storage_errors
from shipshape.storage.store import VisitorsAfter, last_save_per_user

INSERT_VISITS = """
WITH new AS (
    INSERT INTO visits (ip, user_agent, created_at)
    SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::timestamp[])
)
INSERT INTO visitors AS v (ip, visits, first_seen, last_seen)
SELECT * FROM unnest($4::varchar[], $5::bigint[], $6::timestamp[], $7::timestamp[])
ON CONFLICT (ip) DO UPDATE SET
    visits = v.visits + EXCLUDED.visits,
    first_seen = LEAST(v.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(v.last_seen, EXCLUDED.last_seen)
"""
VISITS = "SELECT id, ip, user_agent, created_at FROM visits"
VISITORS = "SELECT ip, visits AS count, first_seen, last_seen FROM visitors"
SAVE_BIRTHDAYS = """
INSERT INTO users (username, date_of_birth, updated_at)
SELECT * FROM unnest($1::varchar[], $2::date[], $3::timestamp[])
ON CONFLICT (username) DO UPDATE SET
    date_of_birth = EXCLUDED.date_of_birth, updated_at = EXCLUDED.updated_at
"""
BIRTHDAYS = "SELECT username, date_of_birth FROM users WHERE username = ANY($1::varchar[])"
SCHEMA_REVISION = "SELECT version_num FROM alembic_version"
MIGRATED = "SELECT to_regclass('alembic_version') IS NOT NULL"


def _visits_query(before_id: int | None, ip: str | None) -> str:
    """One statement text per filter combination: each gets its own plan on its index."""
    where, n = [], 1
    if ip is not None:
        where.append(f"ip = ${n}")
        n += 1
    if before_id is not None:
        where.append(f"id < ${n}")
        n += 1
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    return f"{VISITS}{condition} ORDER BY id DESC LIMIT ${n}"


def _visitors_query(after: bool, ip: bool) -> str:
    where, n = [], 1
    if ip:
        where.append(f"ip = ${n}")
        n += 1
    if after:
        where.append(f"(last_seen < ${n} OR (last_seen = ${n} AND ip < ${n + 1}))")
        n += 2
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    return f"{VISITORS}{condition} ORDER BY last_seen DESC, ip DESC LIMIT ${n}"


def pool_arguments(settings: Settings) -> dict[str, Any]:
    """asyncpg's spelling of the settings the SQLAlchemy engine gets (same URL, same limits)."""
    url = make_url(settings.effective_database_url)
    query = dict(url.query)
    ssl = query.pop("ssl", None)
    hosts = hosts_of(url)
    query.pop("host", None)  # a multi-host URL: asyncpg gets the hosts as lists, below
    dsn = url.set(drivername="postgresql", query=query).render_as_string(hide_password=False)
    arguments: dict[str, Any] = {
        "dsn": dsn,
        "min_size": 0,  # start even while the database is down; readiness reports it
        "max_size": settings.db_pool_size + settings.db_max_overflow,
        "max_inactive_connection_lifetime": 300,
        "timeout": settings.db_connect_timeout_seconds,
        "command_timeout": settings.db_statement_timeout_seconds,
        "server_settings": {"application_name": "shipshape"},
        "reset": _session_untouched,
    }
    if not settings.db_prepared_statements:
        # Behind PgBouncer in transaction mode a named statement prepared in one transaction
        # is gone (or another client's) in the next: prepare each one unnamed instead, in the
        # round trip that executes it (asyncpg sends Parse/Describe/Flush, then Bind/Execute/
        # Sync, so PgBouncer keeps them on one server connection).
        arguments["statement_cache_size"] = 0
    if ssl is not None:
        arguments["ssl"] = ssl
    if len(hosts) > 1:
        # Tried in order on every new connection; `target_session_attrs=read-write` in the
        # URL skips a standby, so after a failover the pool reaches the promoted one.
        arguments["host"] = [host for host, _port in hosts]
        arguments["port"] = [port or 5432 for _host, port in hosts]
    if settings.database_password_file is not None:
        arguments["password"] = _password_reader(
            settings.database_password_file, url.password and str(url.password)
        )
    return arguments


async def _session_untouched(_connection: asyncpg.Connection) -> None:
    """Release without asyncpg's default reset query (RESET ALL, UNLISTEN *, CLOSE ALL,
    advisory unlock): one round trip per request that undoes nothing, since no statement
    here changes session state. (An open transaction is still rolled back by asyncpg.)"""


def _password_reader(path: Path, fallback: str | None) -> Any:
    """Read the mounted secret for every new connection: a rotation needs no restart."""

    def read() -> str | None:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError:  # unreadable: keep the start-up password; connect reports the rest
            return fallback

    return read


class PostgresStore:
    dialect = "postgresql"

    def __init__(self, settings: Settings) -> None:
        self.arguments = pool_arguments(settings)
        self.acquire_timeout = settings.db_pool_timeout_seconds
        self.pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(**self.arguments)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def expire_connections(self) -> None:
        if self.pool is not None:
            await self.pool.expire_connections()

    def pool_stats(self) -> tuple[int, int]:
        if self.pool is None:
            return 0, 0
        size, idle = self.pool.get_size(), self.pool.get_idle_size()
        return size - idle, idle

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[PoolConnectionProxy]:
        pool = self.pool
        if pool is None:
            raise StorageUnavailable("the connection pool is not open")
        with storage_errors():
            async with pool.acquire(timeout=self.acquire_timeout) as conn:
                yield conn

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.fetchval("SELECT 1")

    async def schema_revision(self) -> str | None:
        async with self._connection() as conn:
            if not await conn.fetchval(MIGRATED):
                return None
            revision = await conn.fetchval(SCHEMA_REVISION)
        return None if revision is None else str(revision)

    async def insert_visits(self, batch: Sequence[NewVisit]) -> None:
        aggregates: dict[str, list[Any]] = {}
        created = [utc_naive(v.created_at) for v in batch]
        for v, at in zip(batch, created, strict=True):
            agg = aggregates.get(v.ip)
            if agg is None:
                aggregates[v.ip] = [1, at, at]
            else:
                agg[0] += 1
                agg[1] = min(agg[1], at)
                agg[2] = max(agg[2], at)
        # Sorted: concurrent writers lock visitor rows in one order, so they cannot deadlock.
        ips = sorted(aggregates)
        async with self._connection() as conn:
            await conn.execute(
                INSERT_VISITS,
                [v.ip for v in batch],
                [v.user_agent for v in batch],
                created,
                ips,
                [aggregates[ip][0] for ip in ips],
                [aggregates[ip][1] for ip in ips],
                [aggregates[ip][2] for ip in ips],
            )

    async def visits_page(
        self, *, limit: int, before_id: int | None, ip: str | None
    ) -> list[dict[str, Any]]:
        args = [a for a in (ip, before_id) if a is not None]
        async with self._connection() as conn:
            rows = await conn.fetch(_visits_query(before_id, ip), *args, limit)
        return [dict(row) for row in rows]

    async def visitors_page(
        self, *, limit: int, after: VisitorsAfter | None, ip: str | None
    ) -> list[dict[str, Any]]:
        args: list[Any] = [ip] if ip is not None else []
        if after is not None:
            args.extend((utc_naive(after[0]), after[1]))
        query = _visitors_query(after is not None, ip is not None)
        async with self._connection() as conn:
            rows = await conn.fetch(query, *args, limit)
        return [dict(row) for row in rows]

    async def save_birthdays(self, batch: Sequence[BirthdaySave]) -> None:
        rows = last_save_per_user(batch)
        async with self._connection() as conn:
            await conn.execute(
                SAVE_BIRTHDAYS,
                [row.username for row in rows],
                [row.date_of_birth for row in rows],
                [utc_naive(row.updated_at) for row in rows],
            )

    async def birthdays(self, usernames: Sequence[str]) -> dict[str, dt.date]:
        async with self._connection() as conn:
            rows = await conn.fetch(BIRTHDAYS, list(usernames))
        return {row["username"]: row["date_of_birth"] for row in rows}
