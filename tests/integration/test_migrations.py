"""Migrations go from empty to head and back on every database, and the models match them."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import inspect

from shipshape.core.config import Settings
from shipshape.storage.database import create_engine
from shipshape.storage.migrate import downgrade, upgrade

BACKENDS = ["sqlite", "postgresql", "mariadb"]


async def _tables(settings: Settings) -> set[str]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_downgrade_round_trip(backend, servers, tmp_path):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
    else:
        url = servers.get(backend).create_database(f"m_{uuid.uuid4().hex[:8]}")
    settings = Settings(database_url=url)
    upgrade(settings)
    assert {"visits", "visitors", "users", "alembic_version"} <= asyncio.run(_tables(settings))
    downgrade(settings, "base")
    assert asyncio.run(_tables(settings)) <= {"alembic_version"}
    upgrade(settings)
    assert {"visits", "visitors", "users"} <= asyncio.run(_tables(settings))
