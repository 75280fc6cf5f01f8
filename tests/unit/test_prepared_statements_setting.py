"""SHIPSHAPE_DB_PREPARED_STATEMENTS reaches both PostgreSQL clients: the API's asyncpg pool
and the SQLAlchemy engine (readiness, admin, prune). Behind PgBouncer in transaction mode a
client that still caches statements fails (scenario 6 of the fault campaign shows both)."""

from __future__ import annotations

from shipshape.core.config import Settings
from shipshape.storage.database import postgres_connect_args
from shipshape.storage.postgres import pool_arguments

URL = "postgresql://app@db.internal:6432/shipshape"


def test_prepared_statements_are_kept_by_default() -> None:
    settings = Settings(database_url=URL)
    assert settings.db_prepared_statements is True
    assert "statement_cache_size" not in pool_arguments(settings)
    assert "statement_cache_size" not in postgres_connect_args(settings, None)


def test_false_turns_off_both_statement_caches(monkeypatch) -> None:
    monkeypatch.setenv("SHIPSHAPE_DB_PREPARED_STATEMENTS", "false")
    settings = Settings(database_url=URL)
    assert settings.db_prepared_statements is False
    assert pool_arguments(settings)["statement_cache_size"] == 0
    connect_args = postgres_connect_args(settings, None)
    assert connect_args["statement_cache_size"] == 0
    assert connect_args["prepared_statement_cache_size"] == 0
