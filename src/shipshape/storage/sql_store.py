"""`Store` on SQLAlchemy Core: SQLite and MariaDB/MySQL (statements in `repositories.py`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from shipshape.domain.records import BirthdaySave, NewVisit, utc_naive
from shipshape.storage.database import autocommit_engine
from shipshape.storage.errors import storage_errors
from shipshape.storage.repositories import (
    UserRepository,
    VisitRepository,
    current_revision,
    ping,
)
from shipshape.storage.store import VisitorsAfter, last_save_per_user


class SqlAlchemyStore:
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

    async def ping(self) -> None:
        with storage_errors():
            async with self.autocommit.connect() as conn:
                await ping(conn)

    async def schema_revision(self) -> str | None:
        with storage_errors():
            async with self.autocommit.connect() as conn:
                return await current_revision(conn)

    async def insert_visits(self, batch: Sequence[NewVisit]) -> None:
        rows = [NewVisit(v.ip, v.user_agent, utc_naive(v.created_at)) for v in batch]
        with storage_errors():
            async with self.engine.begin() as conn:
                await self.visits.insert_batch(conn, rows)

    async def visits_page(
        self, *, limit: int, before_id: int | None, ip: str | None
    ) -> list[dict[str, Any]]:
        with storage_errors():
            async with self.autocommit.connect() as conn:
                return await self.visits.page(conn, limit=limit, before_id=before_id, ip=ip)

    async def visitors_page(
        self, *, limit: int, after: VisitorsAfter | None, ip: str | None
    ) -> list[dict[str, Any]]:
        position = None if after is None else (utc_naive(after[0]), after[1])
        with storage_errors():
            async with self.autocommit.connect() as conn:
                return await self.visits.visitors_page(conn, limit=limit, after=position, ip=ip)

    async def save_birthdays(self, batch: Sequence[BirthdaySave]) -> None:
        with storage_errors():
            async with self.engine.begin() as conn:
                for save in last_save_per_user(batch):
                    await self.users.save_birthday(
                        conn, save.username, save.date_of_birth, utc_naive(save.updated_at)
                    )

    async def birthdays(self, usernames: Sequence[str]) -> dict[str, dt.date]:
        with storage_errors():
            async with self.autocommit.connect() as conn:
                return await self.users.birthdays(conn, usernames)
