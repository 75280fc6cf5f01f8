"""Users test their apps under freezegun with its default settings, which freeze asyncio's
clock too (timers never fire), driving the app with Starlette's TestClient (issue 19). The
write path must not need a timer to finish a request: two saves in a row used to hang on the
birthday linger (`SHIPSHAPE_BIRTHDAY_LINGER_MS`)."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from freezegun import freeze_time

from shipshape.app import create_app
from shipshape.core.config import Settings
from shipshape.storage.group_commit import WriterNotStarted

BOUND_SECONDS = 60  # far above what the requests take; a hang is reported, not waited out


def _finishes(scenario: Callable[[], None]) -> None:
    """Run `scenario` in a thread and fail if it has not finished within the bound (a frozen
    clock cannot bound itself)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            scenario()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND_SECONDS)
    assert not thread.is_alive(), f"the requests hung for {BOUND_SECONDS}s under a frozen clock"
    if errors:
        raise errors[0]


def test_saves_and_visits_under_a_frozen_clock_with_testclient(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()  # default settings: the birthday linger is on (5 ms)
    assert settings.birthday_linger_ms > 0
    user = "frozen" + "".join(c for c in uuid.uuid4().hex if c.isalpha())[:8]
    statuses: list[Any] = []

    def scenario() -> None:
        with freeze_time("2026-06-01 12:00:00"), TestClient(create_app(settings)) as client:
            for date in ("1990-06-02", "1991-06-02", "1992-06-02"):
                statuses.append(
                    client.put(f"/hello/{user}", json={"dateOfBirth": date}).status_code
                )
            # A browser's GET / records its visit through the visit writer as well.
            for _ in range(2):
                statuses.append(client.get("/", headers={"Accept": "text/html"}).status_code)
            greeting = client.get(f"/hello/{user}")
            statuses.append(greeting.status_code)
            statuses.append(greeting.json()["message"])

    _finishes(scenario)
    assert statuses[:6] == [204, 204, 204, 200, 200, 200]
    assert "1 day" in statuses[6]  # the frozen date: the birthday is tomorrow


def test_a_write_without_the_lifespan_fails_at_once_instead_of_hanging(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    """TestClient outside `with` does not run the lifespan: the writers never start. The
    request answers 500 (a programming error) at once, and the log says what is wrong."""
    client = TestClient(create_app(make_settings()))
    statuses: list[int] = []

    def scenario() -> None:
        statuses.append(
            client.put("/hello/nolifespan", json={"dateOfBirth": "1990-01-01"}).status_code
        )
        statuses.append(client.get("/", headers={"Accept": "text/html"}).status_code)

    with caplog.at_level(logging.ERROR):
        _finishes(scenario)
    assert statuses == [500, 500]
    raised = [r.exc_info[1] for r in caplog.records if r.exc_info and r.exc_info[1]]
    assert [type(e) for e in raised] == [WriterNotStarted, WriterNotStarted]
    assert "lifespan" in str(raised[0])
