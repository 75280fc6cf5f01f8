"""The group-commit machinery itself (storage/group_commit.py): batching, the gathering
turns, the linger, the bounded queue and the shutdown flush. The database side is covered
on every backend in tests/integration/ (test_birthday_group_commit.py, test_concurrency.py)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import pytest
from freezegun import freeze_time

from shipshape.observability.metrics import Metrics
from shipshape.storage.group_commit import (
    GroupCommit,
    WriterNotStarted,
    WriterOverloaded,
    WriterUnavailable,
)


class Recorder:
    """A write_batch that records each batch; `gate` holds writes until it is set."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, batch: Sequence[str]) -> None:
        await self.gate.wait()
        self.batches.append(list(batch))


def _writer(
    write_batch: Callable[[Sequence[str]], Awaitable[None]], *, start: bool = True, **options: Any
) -> GroupCommit[str]:
    """A writer, started unless `start=False` (inside the test's event loop)."""
    settings: dict[str, Any] = {"queue_size": 100, "batch_size": 100, "writers": 1} | options
    writer = GroupCommit(write_batch, Metrics("0", "x"), operation="test", **settings)
    if start:
        writer.start()
    return writer


async def _turns(count: int = 10) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def _restarts(writer: GroupCommit[str]) -> float:
    value = writer.metrics.registry.get_sample_value(
        "shipshape_writer_restarts_total", {"operation": writer.operation}
    )
    return value or 0.0


async def test_writes_queued_during_a_commit_share_the_next_one() -> None:
    recorder = Recorder()
    writer = _writer(recorder)
    recorder.gate.clear()
    first = asyncio.create_task(writer.submit("a"))
    await asyncio.sleep(0.01)  # "a" is being written, held at the gate
    rest = [asyncio.create_task(writer.submit(x)) for x in "bcd"]
    await asyncio.sleep(0.01)
    recorder.gate.set()
    await asyncio.gather(first, *rest)
    assert recorder.batches == [["a"], ["b", "c", "d"]]
    await writer.close(1)


async def test_batches_are_cut_at_batch_size() -> None:
    recorder = Recorder()
    writer = _writer(recorder, batch_size=2)
    recorder.gate.clear()
    tasks = [asyncio.create_task(writer.submit(x)) for x in "abcde"]
    await asyncio.sleep(0.01)
    recorder.gate.set()
    await asyncio.gather(*tasks)
    assert recorder.batches == [["a", "b"], ["c", "d"], ["e"]]
    await writer.close(1)


@pytest.mark.parametrize(
    ("gather_turns", "batches"),
    # Without gathering the first write is committed alone; the rest share the next commit.
    [(3, [["a", "b", "c"]]), (0, [["a"], ["b", "c"]])],
)
async def test_writes_a_few_loop_turns_behind_join_the_batch(
    gather_turns: int, batches: list[list[str]]
) -> None:
    """A wave of requests reaches submit() over a few turns of the loop (the last commit's
    responses go out, the next requests are read): by default one commit takes them all."""
    recorder = Recorder()
    writer = _writer(recorder, gather_turns=gather_turns)

    async def submit_after(turns: int, item: str) -> None:
        for _ in range(turns):
            await asyncio.sleep(0)
        await writer.submit(item)

    await asyncio.gather(*(submit_after(turns, item) for turns, item in enumerate("abc")))
    assert recorder.batches == batches
    await writer.close(1)


async def test_a_lone_write_does_not_linger() -> None:
    recorder = Recorder()
    writer = _writer(recorder, linger_seconds=30)
    await asyncio.wait_for(writer.submit("a"), 5)  # far below the 30 s linger
    assert recorder.batches == [["a"]]
    await writer.close(1)


async def test_writes_arriving_closer_than_the_linger_wait_for_company() -> None:
    recorder = Recorder()
    writer = _writer(recorder, linger_seconds=0.3)
    await writer.submit("a")  # lone: committed at once
    second = asyncio.create_task(writer.submit("b"))  # right after "a": the batch lingers
    await asyncio.sleep(0.05)
    assert recorder.batches == [["a"]]  # "b" is still waiting for company
    third = asyncio.create_task(writer.submit("c"))
    await asyncio.gather(second, third)
    assert recorder.batches == [["a"], ["b", "c"]]
    await writer.close(1)


async def test_a_full_queue_refuses_at_once_and_close_flushes_what_is_queued() -> None:
    recorder = Recorder()
    writer = _writer(recorder, queue_size=2)
    recorder.gate.clear()
    held = asyncio.create_task(writer.submit("a"))  # taken by the writer, held at the gate
    await asyncio.sleep(0.01)
    queued = [asyncio.create_task(writer.submit(x)) for x in "bc"]
    await asyncio.sleep(0)
    with pytest.raises(WriterOverloaded):
        await writer.submit("d")
    recorder.gate.set()
    await writer.close(5)
    await asyncio.gather(held, *queued)
    assert recorder.batches == [["a"], ["b", "c"]]
    with pytest.raises(WriterOverloaded):
        await writer.submit("e")  # closed


async def test_a_failed_batch_fails_its_writes_and_the_writer_goes_on() -> None:
    calls: list[list[str]] = []

    async def flaky(batch: Sequence[str]) -> None:
        calls.append(list(batch))
        if len(calls) == 1:
            raise ConnectionError("database went away")

    writer = _writer(flaky)
    with pytest.raises(ConnectionError):
        await writer.submit("a")
    await writer.submit("b")
    await writer.join()
    assert calls == [["a"], ["b"]]
    await writer.close(1)


async def test_a_cancelled_writer_task_is_replaced_and_does_not_swallow_the_next_wake_up() -> None:
    recorder = Recorder()
    writer = _writer(recorder)
    await asyncio.sleep(0)  # the writer is idle, waiting for work
    for task in list(writer.tasks):
        task.cancel()
    await _turns()  # the supervisor starts a new writer; the cancelled one left a done waiter
    assert writer.healthy
    await asyncio.wait_for(writer.submit("a"), 5)
    assert recorder.batches == [["a"]]
    await writer.close(1)


async def test_writes_left_at_the_shutdown_timeout_fail_instead_of_hanging() -> None:
    recorder = Recorder()
    writer = _writer(recorder)
    recorder.gate.clear()  # the database never answers
    in_flight = asyncio.create_task(writer.submit("a"))
    await asyncio.sleep(0.01)  # "a" is being written
    queued = asyncio.create_task(writer.submit("b"))
    await asyncio.sleep(0)
    await writer.close(0.05)
    results = await asyncio.wait_for(asyncio.gather(in_flight, queued, return_exceptions=True), 5)
    assert [type(r) for r in results] == [WriterOverloaded, WriterOverloaded]
    assert recorder.batches == []


# ----------------------------------------------------------------- supervision (issue 20)


async def test_submit_before_start_raises_a_clear_error_instead_of_hanging() -> None:
    """An app mounted without its lifespan never starts its writers: say so at once."""
    writer = _writer(Recorder(), start=False)
    assert not writer.healthy
    with pytest.raises(WriterNotStarted, match="start"):
        await asyncio.wait_for(writer.submit("a"), 5)


async def test_futures_are_resolved_before_the_post_commit_hook() -> None:
    """A hook that raises cannot un-acknowledge a committed write, nor hang the next one."""
    recorder = Recorder()
    writer = _writer(recorder)
    seen: list[bool] = []
    futures: list[asyncio.Future[None]] = []
    original = writer._succeed

    def spy(batch: Sequence[tuple[str, asyncio.Future[None], float]]) -> None:
        futures.extend(future for _, future, _ in batch)
        original(batch)

    def hook(batch: Sequence[str]) -> None:
        seen.append(all(future.done() for future in futures))
        raise RuntimeError("a metrics hook with a bug")

    writer._succeed = spy  # type: ignore[method-assign]
    writer.committed = hook  # type: ignore[method-assign]
    await asyncio.wait_for(writer.submit("a"), 5)  # acknowledged although the hook raised
    assert seen == [True]
    await _turns()
    await asyncio.wait_for(writer.submit("b"), 5)  # a new writer took over
    assert recorder.batches == [["a"], ["b"]]
    await writer.close(1)


class WriterCrash(BaseException):
    """Something that escapes the writer's error handling (a bug, a BaseException)."""


async def test_a_dead_writer_fails_its_writes_with_503_and_is_restarted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[list[str]] = []

    async def crashing_once(batch: Sequence[str]) -> None:
        calls.append(list(batch))
        if len(calls) == 1:
            raise WriterCrash

    writer = _writer(crashing_once)
    await _turns()
    assert writer.healthy
    with caplog.at_level(logging.ERROR, "shipshape.storage.group_commit"):
        with pytest.raises(WriterUnavailable):
            await asyncio.wait_for(writer.submit("a"), 5)
        assert not writer.healthy  # readiness reads this: not ready until a new writer runs
        await _turns()
    assert writer.healthy
    assert _restarts(writer) == 1
    assert any("writer" in r.getMessage() and "restart" in r.getMessage() for r in caplog.records)
    await asyncio.wait_for(writer.submit("b"), 5)
    assert calls == [["a"], ["b"]]
    await writer.close(1)
    assert not writer.healthy


async def test_a_batch_stuck_past_the_deadline_fails_with_503_and_so_do_writes_behind_it() -> None:
    recorder = Recorder()
    writer = _writer(recorder, batch_timeout_seconds=0.05)
    recorder.gate.clear()  # the database never answers
    stuck = asyncio.create_task(writer.submit("a"))
    await asyncio.sleep(0.01)  # "a" is being written
    behind = asyncio.create_task(writer.submit("b"))
    results = await asyncio.wait_for(asyncio.gather(stuck, behind, return_exceptions=True), 5)
    assert [type(r) for r in results] == [WriterUnavailable, WriterUnavailable]
    recorder.gate.set()  # the database is back: the writer goes on
    await asyncio.wait_for(writer.submit("c"), 5)
    assert recorder.batches == [["c"]]
    assert writer.healthy
    await writer.close(1)


async def test_a_write_queued_longer_than_the_deadline_fails_instead_of_being_written_late() -> (
    None
):
    recorder = Recorder()
    writer = _writer(recorder, batch_timeout_seconds=0.2, batch_size=1)
    recorder.gate.clear()
    first = asyncio.create_task(writer.submit("a"))
    await asyncio.sleep(0.01)
    late = asyncio.create_task(writer.submit("b"))
    await asyncio.sleep(0.15)
    # "a" commits just inside its deadline; "b" has waited for it as long as the bound
    writer.batch_timeout_seconds = 0.05  # as if the bound had passed for "b"
    recorder.gate.set()
    results = await asyncio.wait_for(asyncio.gather(first, late, return_exceptions=True), 5)
    assert [type(r) for r in results] == [type(None), WriterUnavailable]
    assert recorder.batches == [["a"]]
    await writer.close(1)


class BadRow(Exception):
    """A non-transient failure: the database refuses this data (not: is unavailable)."""


async def test_a_non_transient_batch_failure_is_retried_row_by_row() -> None:
    calls: list[list[str]] = []

    async def refuses_bad(batch: Sequence[str]) -> None:
        calls.append(list(batch))
        if "bad" in batch:
            raise BadRow("value out of range")

    writer = _writer(refuses_bad)
    results = await asyncio.gather(
        *(writer.submit(x) for x in ["a", "bad", "c"]), return_exceptions=True
    )
    assert [type(r) for r in results] == [type(None), BadRow, type(None)]
    assert calls == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]
    await writer.close(1)


async def test_a_transient_batch_failure_fails_the_batch_without_row_by_row_retries() -> None:
    calls: list[list[str]] = []

    async def database_down(batch: Sequence[str]) -> None:
        calls.append(list(batch))
        raise ConnectionRefusedError("database went away")

    writer = _writer(database_down)
    results = await asyncio.gather(*(writer.submit(x) for x in "abc"), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionRefusedError] * 3
    assert calls == [["a", "b", "c"]]  # one attempt: row by row would only add load
    await writer.close(1)


def _finishes(scenario: Callable[[], Coroutine[Any, Any, None]], bound: float = 20) -> bool:
    """Run `scenario` on its own event loop in a thread; False if it is still running after
    `bound` seconds (a frozen asyncio clock cannot bound itself: its timers never fire)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(bound)
    if errors:
        raise errors[0]
    return not thread.is_alive()


def test_saves_in_a_row_under_a_frozen_clock_do_not_wait_for_the_linger_timer() -> None:
    """freezegun's default freezes asyncio's clock: a linger timer would never fire."""

    async def scenario() -> None:
        recorder = Recorder()
        writer = _writer(recorder, linger_seconds=0.005)
        for item in "abc":
            await writer.submit(item)
        assert recorder.batches == [["a"], ["b"], ["c"]]
        await writer.close(1)

    with freeze_time("2026-06-01 12:00:00"):
        assert _finishes(scenario), "a save under a frozen clock hung on the linger"
