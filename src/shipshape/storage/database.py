"""Engine creation per dialect, with pool metrics hooks."""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from shipshape.core.config import Settings
from shipshape.core.database_url import dialect_of


def _postgres_tls(url: str) -> tuple[str, ssl.SSLContext | None]:
    """libpq's `sslrootcert` for SQLAlchemy's asyncpg dialect, which passes query parameters
    to `asyncpg.connect()` as keywords and has none of that name: the CA bundle becomes the
    SSL context (`verify-full` also checks the host name). The API's asyncpg pool reads the
    same URL natively."""
    parsed = make_url(url)
    cafile = parsed.query.get("sslrootcert")
    if not isinstance(cafile, str):
        return url, None
    mode = parsed.query.get("ssl", "verify-full")
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = mode == "verify-full"
    query = {k: v for k, v in parsed.query.items() if k not in ("ssl", "sslrootcert")}
    return parsed.set(query=query).render_as_string(hide_password=False), context


def postgres_connect_args(settings: Settings, tls: ssl.SSLContext | None) -> dict[str, Any]:
    """asyncpg's connect arguments under SQLAlchemy: the same bounds as the API's pool."""
    connect_args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout_seconds,
        "command_timeout": settings.db_statement_timeout_seconds,
        "server_settings": {"application_name": "shipshape"},
    }
    if tls is not None:
        connect_args["ssl"] = tls
    if not settings.db_prepared_statements:  # a pooler in transaction mode: storage/postgres.py
        connect_args["statement_cache_size"] = 0  # asyncpg's own cache
        connect_args["prepared_statement_cache_size"] = 0  # SQLAlchemy's adapter's cache
    return connect_args


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.effective_database_url
    dialect = dialect_of(url)
    tls: ssl.SSLContext | None = None
    if dialect == "postgresql":
        url, tls = _postgres_tls(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": False}
    if dialect == "sqlite":
        # A write waits for SQLite's single writer lock at most the statement bound.
        kwargs["connect_args"] = {"timeout": settings.db_statement_timeout_seconds}
    else:
        kwargs.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
            pool_recycle=1800,
        )
        if dialect == "postgresql":
            kwargs["connect_args"] = postgres_connect_args(settings, tls)
        else:
            kwargs["connect_args"] = {
                "connect_timeout": settings.db_connect_timeout_seconds,
                "read_timeout": settings.db_statement_timeout_seconds,
            }
    engine = create_async_engine(url, **kwargs)
    if settings.database_password_file is not None and dialect != "sqlite":
        _reread_password(engine, settings.database_password_file)
    if dialect == "sqlite":
        _tune_sqlite(engine, busy_timeout_ms=int(settings.db_statement_timeout_seconds * 1000))
    return engine


def _reread_password(engine: AsyncEngine, path: Path) -> None:
    """Read the mounted secret for every new connection: after a rotation, new connections
    use the new password while pooled ones keep working (pool_recycle retires them)."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _on_connect(_dialect: Any, _record: Any, _args: Any, cparams: dict[str, Any]) -> None:
        # Unreadable: keep the start-up password; a failed connect then reports the rest.
        with contextlib.suppress(OSError):
            cparams["password"] = path.read_text(encoding="utf-8").strip()


def _tune_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers run during the single writer's commits; FULL keeps commits durable.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
        cursor.close()


def autocommit_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, for single statements (reads, one-statement upserts): on PostgreSQL it
    saves the BEGIN and COMMIT/ROLLBACK round trips per request; a single statement is atomic
    and durable on its own. Elsewhere switching modes costs round trips, so keep the engine."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)
