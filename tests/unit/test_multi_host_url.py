"""A multi-host DATABASE_URL (libpq's form, with `target_session_attrs=read-write`) reaches
both PostgreSQL clients as a list of hosts: the way the service finds a promoted standby after
a failover (scenario 5 of the fault campaign runs it against a real primary and standby)."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from shipshape.cli import _database_address
from shipshape.core.config import Settings
from shipshape.core.database_url import hosts_of
from shipshape.storage.database import create_engine
from shipshape.storage.postgres import pool_arguments

MULTI = (
    "postgresql://app:s3cret-Pa55@10.0.0.1:5432,10.0.0.2:5433/shipshape"
    "?target_session_attrs=read-write&sslmode=require"
)


def test_the_api_pool_gets_every_host_in_order() -> None:
    arguments = pool_arguments(Settings(database_url=MULTI))
    assert arguments["host"] == ["10.0.0.1", "10.0.0.2"]
    assert arguments["port"] == [5432, 5433]
    assert "host=" not in arguments["dsn"]
    assert "target_session_attrs=read-write" in arguments["dsn"]
    assert arguments["ssl"] == "require"


def test_the_sqlalchemy_engine_gets_every_host_and_the_session_attrs() -> None:
    engine = create_engine(Settings(database_url=MULTI))
    try:
        _args, kwargs = engine.dialect.create_connect_args(engine.url)
    finally:
        engine.sync_engine.dispose()
    assert kwargs["host"] == ["10.0.0.1", "10.0.0.2"]
    assert kwargs["port"] == [5432, 5433]
    assert kwargs["target_session_attrs"] == "read-write"


def test_redacted_and_named_without_the_password() -> None:
    settings = Settings(database_url=MULTI)
    assert "s3cret" not in str(settings.redacted())
    assert _database_address(settings) == "10.0.0.1:5432,10.0.0.2:5433"


def test_a_single_host_url_is_unchanged() -> None:
    single = "postgresql://app@db.internal:6543/shipshape"
    arguments = pool_arguments(Settings(database_url=single))
    assert "host" not in arguments
    assert arguments["dsn"] == single
    assert hosts_of(make_url(single)) == [("db.internal", 6543)]
    assert hosts_of(make_url("postgresql://a@/db?host=[::1]:5432&host=h2")) == [
        ("::1", 5432),
        ("h2", None),
    ]
