"""Small repository classes: every SQL statement of the service lives here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, and_, delete, func, inspect, literal_column, or_, select, text
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shipshape.domain.records import NewVisit
from shipshape.storage.models import User, Visit, Visitor

visits: Table = Visit.__table__  # type: ignore[assignment]
visitors: Table = Visitor.__table__  # type: ignore[assignment]
users: Table = User.__table__  # type: ignore[assignment]


def _dicts(result: Any) -> list[dict[str, Any]]:
    keys = tuple(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


def _insert_for(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "mysql":
        return mysql.insert(table)
    return sqlite.insert(table)


class VisitRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self.dialect = engine.dialect.name

    async def insert_batch(self, conn: AsyncConnection, batch: Sequence[NewVisit]) -> None:
        """Insert visits and fold them into the per-IP aggregates, in the caller's transaction."""
        await conn.execute(
            visits.insert(),
            [{"ip": v.ip, "user_agent": v.user_agent, "created_at": v.created_at} for v in batch],
        )
        aggregates: dict[str, dict[str, Any]] = {}
        for v in batch:
            agg = aggregates.get(v.ip)
            if agg is None:
                aggregates[v.ip] = {
                    "ip": v.ip,
                    "visits": 1,
                    "first_seen": v.created_at,
                    "last_seen": v.created_at,
                }
            else:
                agg["visits"] += 1
                agg["first_seen"] = min(agg["first_seen"], v.created_at)
                agg["last_seen"] = max(agg["last_seen"], v.created_at)
        # Sorted keys: concurrent writers lock rows in the same order, so they cannot deadlock.
        rows = [aggregates[ip] for ip in sorted(aggregates)]
        await conn.execute(self._upsert_visitors(), rows)

    def _upsert_visitors(self) -> Any:
        stmt = _insert_for(self.dialect, visitors)
        if self.dialect == "mysql":
            new = stmt.inserted
            return stmt.on_duplicate_key_update(
                visits=visitors.c.visits + new.visits,
                first_seen=func.least(visitors.c.first_seen, new.first_seen),
                last_seen=func.greatest(visitors.c.last_seen, new.last_seen),
            )
        new = stmt.excluded
        lesser, greater = (
            (func.least, func.greatest) if self.dialect == "postgresql" else (func.min, func.max)
        )
        return stmt.on_conflict_do_update(
            index_elements=[visitors.c.ip],
            set_={
                "visits": visitors.c.visits + new.visits,
                "first_seen": lesser(visitors.c.first_seen, new.first_seen),
                "last_seen": greater(visitors.c.last_seen, new.last_seen),
            },
        )

    async def page(
        self, conn: AsyncConnection, *, limit: int, before_id: int | None, ip: str | None
    ) -> list[dict[str, Any]]:
        query = select(visits.c.id, visits.c.ip, visits.c.user_agent, visits.c.created_at)
        if ip is not None:
            query = query.where(visits.c.ip == ip)
        if before_id is not None:
            query = query.where(visits.c.id < before_id)
        query = query.order_by(visits.c.id.desc()).limit(limit)
        return _dicts(await conn.execute(query))

    async def visitors_page(
        self,
        conn: AsyncConnection,
        *,
        limit: int,
        after: tuple[dt.datetime, str] | None,
        ip: str | None = None,
    ) -> list[dict[str, Any]]:
        query = select(
            visitors.c.ip,
            visitors.c.visits.label("count"),
            visitors.c.first_seen,
            visitors.c.last_seen,
        )
        if ip is not None:
            query = query.where(visitors.c.ip == ip)
        if after is not None:
            last_seen, last_ip = after
            query = query.where(
                or_(
                    visitors.c.last_seen < last_seen,
                    and_(visitors.c.last_seen == last_seen, visitors.c.ip < last_ip),
                )
            )
        query = query.order_by(visitors.c.last_seen.desc(), visitors.c.ip.desc()).limit(limit)
        return _dicts(await conn.execute(query))

    async def count(self, conn: AsyncConnection) -> int:
        return int((await conn.execute(select(func.count()).select_from(visits))).scalar_one())

    async def prune(self, conn: AsyncConnection, cutoff: dt.datetime) -> tuple[int, int]:
        """Delete visits (and aggregates of addresses not seen since) older than `cutoff`."""
        removed_visits = await conn.execute(delete(visits).where(visits.c.created_at < cutoff))
        removed_visitors = await conn.execute(delete(visitors).where(visitors.c.last_seen < cutoff))
        return removed_visits.rowcount, removed_visitors.rowcount

    async def count_older_than(self, conn: AsyncConnection, cutoff: dt.datetime) -> int:
        query = select(func.count()).select_from(visits).where(visits.c.created_at < cutoff)
        return int((await conn.execute(query)).scalar_one())


class UserRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self.dialect = engine.dialect.name

    async def save_birthday(
        self, conn: AsyncConnection, username: str, date_of_birth: dt.date, now: dt.datetime
    ) -> None:
        """One atomic upsert statement: concurrent saves never race or duplicate."""
        stmt = _insert_for(self.dialect, users).values(
            username=username, date_of_birth=date_of_birth, updated_at=now
        )
        if self.dialect == "mysql":
            stmt = stmt.on_duplicate_key_update(
                date_of_birth=stmt.inserted.date_of_birth, updated_at=stmt.inserted.updated_at
            )
        else:
            stmt = stmt.on_conflict_do_update(
                index_elements=[users.c.username],
                set_={
                    "date_of_birth": stmt.excluded.date_of_birth,
                    "updated_at": stmt.excluded.updated_at,
                },
            )
        await conn.execute(stmt)

    async def birthdays(
        self, conn: AsyncConnection, usernames: Sequence[str]
    ) -> dict[str, dt.date]:
        result = await conn.execute(
            select(users.c.username, users.c.date_of_birth).where(
                users.c.username.in_(list(usernames))
            )
        )
        return {row.username: row.date_of_birth for row in result}


async def ping(conn: AsyncConnection) -> None:
    await conn.execute(select(literal_column("1")))


async def current_revision(conn: AsyncConnection) -> str | None:
    """The Alembic revision, or None on a database that was never migrated."""
    if not await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version")):
        return None
    result = await conn.execute(text("SELECT version_num FROM alembic_version"))
    return result.scalar_one_or_none()
