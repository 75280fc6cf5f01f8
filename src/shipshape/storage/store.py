"""The service's data operations behind one interface; an adapter per driver path implements it.

Routes and the group-commit writers call a `Store`; they never see connections, SQL or driver
exceptions. PostgreSQL (the production database) gets `PostgresStore` (asyncpg directly,
storage/postgres.py); SQLite and MariaDB/MySQL get `SqlAlchemyStore` (SQLAlchemy Core,
storage/sql_store.py). Every method raises only the domain's storage errors
(`StorageUnavailable`, `StorageRejected`); `tests/integration/test_store_contract.py` runs
every method on all three databases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from shipshape.domain.records import BirthdaySave, NewVisit

VisitorsAfter = tuple[dt.datetime, str]
"""Keyset position in /visitors: (last_seen, ip) of the last row served."""


class Store(Protocol):
    dialect: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def expire_connections(self) -> None:
        """New connections from now on (they re-read a rotated password file)."""

    def pool_stats(self) -> tuple[int, int]:
        """(checked out, idle) connections of the pool serving the API."""

    async def ping(self) -> None:
        """One round trip on the pool that serves the API (readiness)."""

    async def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None: not migrated)."""

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


def last_save_per_user(batch: Sequence[BirthdaySave]) -> list[BirthdaySave]:
    """One row per user (the save that arrived last), in username order: an upsert cannot
    touch a row twice in one statement, and one lock order keeps concurrent batches from
    deadlocking."""
    latest = {save.username: save for save in batch}
    return [latest[name] for name in sorted(latest)]
