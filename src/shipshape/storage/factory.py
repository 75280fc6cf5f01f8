"""The `Store` for a database URL: asyncpg on PostgreSQL, SQLAlchemy Core elsewhere."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from shipshape.core.config import Settings
from shipshape.storage.postgres import PostgresStore
from shipshape.storage.sql_store import SqlAlchemyStore
from shipshape.storage.store import Store


def create_store(engine: AsyncEngine, settings: Settings) -> Store:
    if engine.dialect.name == "postgresql":
        return PostgresStore(settings)
    return SqlAlchemyStore(engine)
