"""Shared fixtures: real databases (SQLite file, throwaway PostgreSQL and MariaDB servers),
an app per test on each of them, and a per-database count of the tests that ran."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from shipshape.app import create_app
from shipshape.core.config import Settings
from shipshape.storage.migrate import upgrade
from tests.support.databases import (
    DatabaseServer,
    ServerUnavailable,
    external_server,
    start_mariadb,
    start_postgres,
)
from tests.support.tools import unavailable

BACKENDS = [
    b
    for b in os.environ.get("SHIPSHAPE_TEST_DATABASES", "sqlite,postgresql,mariadb").split(",")
    if b
]
EXTERNAL_URL_VARIABLES = {
    "postgresql": "SHIPSHAPE_TEST_POSTGRES_URL",
    "mariadb": "SHIPSHAPE_TEST_MARIADB_URL",
}
STARTERS: dict[str, Callable[[], contextlib.AbstractContextManager[DatabaseServer]]] = {
    "postgresql": start_postgres,
    "mariadb": start_mariadb,
}


class Servers:
    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()
        self.started: dict[str, DatabaseServer] = {}
        self.failed: dict[str, str] = {}

    def get(self, kind: str) -> DatabaseServer:
        if kind in self.failed:
            unavailable(self.failed[kind])
        if kind not in self.started:
            external = os.environ.get(EXTERNAL_URL_VARIABLES[kind])
            if external:  # e.g. CI service containers
                self.started[kind] = external_server(kind, external)
                return self.started[kind]
            try:
                self.started[kind] = self.stack.enter_context(STARTERS[kind]())
            except (ServerUnavailable, OSError) as exc:
                self.failed[kind] = f"{kind}: {exc}"
                unavailable(self.failed[kind])
        return self.started[kind]


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    holder = Servers()
    with holder.stack:
        yield holder


_migrated: dict[str, str] = {}


@pytest.fixture(params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest, servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A migrated database of each kind, shared per session and emptied before each test."""
    kind = request.param
    if kind not in _migrated:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'shipshape.db'}"
        else:
            url = servers.get(kind).url
        upgrade(Settings(database_url=url))
        _migrated[kind] = url
    return _migrated[kind]


@pytest.fixture
def make_settings(db_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"database_url": db_url, "log_format": "text", "access_log": False}
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@contextlib.asynccontextmanager
async def running_app(
    settings: Settings, client_addr: tuple[str, int] = ("203.0.113.7", 51000)
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    engine = app.state.services.engine
    async with engine.begin() as conn:
        for table in ("visits", "visitors", "users"):
            await conn.execute(text(f"DELETE FROM {table}"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=client_addr)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://shipshape.test"
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings) as client:
        yield client


@pytest.fixture
def app_factory(
    make_settings: Callable[..., Settings],
) -> Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]:
    """For tests that need non-default settings: `async with app_factory(x=1) as client:`."""

    def factory(
        client_addr: tuple[str, int] = ("203.0.113.7", 51000), **overrides: Any
    ) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        return running_app(make_settings(**overrides), client_addr)

    return factory


_per_backend: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        for backend in ("sqlite", "postgresql", "mariadb"):
            if (
                f"[{backend}" in report.nodeid
                or f"-{backend}]" in report.nodeid
                or f"-{backend}-" in report.nodeid
            ):
                _per_backend[backend] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _per_backend:
        line = ", ".join(
            f"{kind}: {_per_backend[kind]}" for kind in ("sqlite", "postgresql", "mariadb")
        )
        terminalreporter.write_line(f"API tests passed per database: {line}")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)
