"""Readiness reads the group-commit writers' health (issue 20): not ready while a writer is
not running (died and not yet replaced, not started, closed)."""

from __future__ import annotations

from dataclasses import dataclass

from shipshape.core.readiness import ReadinessChecker
from shipshape.core.state import RuntimeState


@dataclass
class StubWriter:
    operation: str
    healthy: bool


class AnsweringDatabase:
    async def ping(self) -> None:
        return None

    async def schema_revision(self) -> str | None:
        return "head"


async def test_a_writer_that_is_not_running_makes_the_instance_not_ready() -> None:
    checker = ReadinessChecker(AnsweringDatabase(), RuntimeState(), "head", 5, 0)
    visits, saves = StubWriter("insert_visits", True), StubWriter("save_birthdays", True)
    checker.writers = (visits, saves)
    report = await checker.check()
    assert report.checks["writers"] == "ok"
    assert report.ready
    visits.healthy = False
    report = await checker.check()
    assert report.checks["writers"] == "not running: insert_visits"
    assert not report.ready
    visits.healthy = True
    assert (await checker.check()).ready
