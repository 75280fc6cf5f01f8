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
from shipshape.core.clock import Clock, system_clock
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
        values: dict[str, Any] = {
            "database_url": db_url,
            "log_format": "text",
            "access_log": False,
            "freeze_heap": False,  # process-wide; many apps share the test process
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@contextlib.asynccontextmanager
async def running_app(
    settings: Settings,
    client_addr: tuple[str, int] = ("203.0.113.7", 51000),
    clock: Clock = system_clock,
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, clock=clock)
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
        client_addr: tuple[str, int] = ("203.0.113.7", 51000),
        clock: Clock = system_clock,
        **overrides: Any,
    ) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        return running_app(make_settings(**overrides), client_addr, clock)

    return factory


_collected: Counter[str] = Counter()  # tests per database backend, from the collection
_passed: Counter[str] = Counter()
_backend_of: dict[str, str] = {}
_skipped: list[str] = []


def pytest_collection_finish(session: pytest.Session) -> None:
    # After deselection (-k/-m), so that running a selection under CI=true is judged on it.
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("db_url") if callspec is not None else None
        if backend is not None:
            _backend_of[item.nodeid] = backend
            _collected[backend] += 1


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)
    elif report.when == "call" and report.passed and report.nodeid in _backend_of:
        _passed[_backend_of[report.nodeid]] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _collected:
        line = ", ".join(f"{kind}: {_passed[kind]}/{_collected[kind]}" for kind in BACKENDS)
        terminalreporter.write_line(f"database tests passed per backend: {line}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI=true a skipped test or a backend that ran fewer tests than were collected for
    it fails the run: a database or tool that could not be had is a failure, not a pass."""
    if os.environ.get("CI", "").lower() != "true" or session.config.option.collectonly:
        return
    short = [kind for kind in BACKENDS if _passed[kind] < _collected[kind]]
    if _skipped or short:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            for nodeid in _skipped:
                reporter.write_line(f"CI=true: skipped: {nodeid}", red=True)
            for kind in short:
                reporter.write_line(
                    f"CI=true: {kind} passed {_passed[kind]} of {_collected[kind]} tests",
                    red=True,
                )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)
