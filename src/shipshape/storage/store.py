"""The service's data operations behind one interface, with an implementation per driver path.

Routes and the visit writer call a `Store`; they never see connections or SQL. PostgreSQL (the
production database) gets `PostgresStore`, the hot statements on asyncpg directly; SQLite and
MariaDB/MySQL get `SqlAlchemyStore`, SQLAlchemy Core on the same portable statements that
Alembic's schema describes. The API tests run every endpoint on all three databases, so both
implementations answer to the same contract (see docs/adr/0005-postgres-hot-path.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from shipshape.storage.database import autocommit_engine
from shipshape.storage.repositories import (
    BirthdaySave,
    NewVisit,
    UserRepository,
    VisitRepository,
    last_save_per_user,
)

VisitorsAfter = tuple[dt.datetime, str]


class StorageUnavailable(Exception):
    """The database could not answer (down, unreachable, pool exhausted): the API says 503."""


class Store(Protocol):
    dialect: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def expire_connections(self) -> None:
        """New connections from now on (they re-read a rotated password file)."""

    def pool_stats(self) -> tuple[int, int]:
        """(checked out, idle) connections of the pool serving the API."""

    async def insert_visits(self, batch: Sequence[NewVisit]) -> None:
        """Insert visits and fold them into the per-IP aggregates, atomically."""

    async def visits_page(
        self, *, limit: int, before_id: int | None, ip: str | None
    ) -> list[dict[str, Any]]: ...

    async def visitors_page(
        self, *, limit: int, after: VisitorsAfter | None, ip: str | None
    ) -> list[dict[str, Any]]: ...

    async def save_birthdays(self, batch: Sequence[BirthdaySave]) -> None:
        """Upsert a batch of saves in one transaction (see birthday_writer.py)."""

    async def birthdays(self, usernames: Sequence[str]) -> dict[str, dt.date]:
        """Dates of birth of those of `usernames` that exist (one query; see read_batcher.py)."""


class SqlAlchemyStore:
    """SQLite and MariaDB/MySQL: SQLAlchemy Core statements from `repositories`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.autocommit = autocommit_engine(engine)
        self.dialect = engine.dialect.name
        self.visits = VisitRepository(engine)
        self.users = UserRepository(engine)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        await self.engine.dispose()

    async def expire_connections(self) -> None:
        await self.engine.dispose()

    def pool_stats(self) -> tuple[int, int]:
        pool = self.engine.sync_engine.pool
        return getattr(pool, "checkedout", lambda: 0)(), getattr(pool, "checkedin", lambda: 0)()

    async def insert_visits(self, batch: Sequence[NewVisit]) -> None:
        async with self.engine.begin() as conn:
            await self.visits.insert_batch(conn, batch)

    async def visits_page(
        self, *, limit: int, before_id: int | None, ip: str | None
    ) -> list[dict[str, Any]]:
        async with self.autocommit.connect() as conn:
            return await self.visits.page(conn, limit=limit, before_id=before_id, ip=ip)

    async def visitors_page(
        self, *, limit: int, after: VisitorsAfter | None, ip: str | None
    ) -> list[dict[str, Any]]:
        async with self.autocommit.connect() as conn:
            return await self.visits.visitors_page(conn, limit=limit, after=after, ip=ip)

    async def save_birthdays(self, batch: Sequence[BirthdaySave]) -> None:
        async with self.engine.begin() as conn:
            for save in last_save_per_user(batch):
                await self.users.save_birthday(
                    conn, save.username, save.date_of_birth, save.updated_at
                )

    async def birthdays(self, usernames: Sequence[str]) -> dict[str, dt.date]:
        async with self.autocommit.connect() as conn:
            return await self.users.birthdays(conn, usernames)


# What the SQLAlchemy path raises when the database cannot answer (mapped to 503).
SQLALCHEMY_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, DBAPIError, PoolTimeout)


def create_store(engine: AsyncEngine, settings: Any) -> Store:
    if engine.dialect.name == "postgresql":
        from shipshape.storage.postgres import PostgresStore

        return PostgresStore(settings)
    return SqlAlchemyStore(engine)
