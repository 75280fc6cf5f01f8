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


async def _schema_differences(settings: Settings, metadata: object = None) -> list[object]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from shipshape.storage.models import Base

    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:

            def compare(sync_conn: object) -> list[object]:
                context = MigrationContext.configure(
                    sync_conn, opts={"compare_type": True, "compare_server_default": True}
                )
                return list(compare_metadata(context, metadata or Base.metadata))

            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_at_head_match_the_models_exactly(backend, servers, tmp_path):
    """Alembic's own comparison (tables, columns, types, nullability, indexes, defaults): a
    model change without a migration, or a migration that drifts from the models, fails."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'c.db'}"
    else:
        url = servers.get(backend).create_database(f"c_{uuid.uuid4().hex[:8]}")
    settings = Settings(database_url=url)
    upgrade(settings)
    assert asyncio.run(_schema_differences(settings)) == []


def test_the_comparison_catches_a_model_without_its_migration(tmp_path):
    from sqlalchemy import Column, MetaData, String

    from shipshape.storage.models import Base

    settings = Settings(database_url=f"sqlite:///{tmp_path / 's.db'}")
    upgrade(settings)
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["users"].append_column(Column("nickname", String(32)))
    differences = asyncio.run(_schema_differences(settings, drifted))
    assert [d[0] for d in differences] == ["add_column"], differences
