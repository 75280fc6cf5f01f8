"""The group-commit machinery itself (storage/group_commit.py): batching, the gathering
turns, the linger, the bounded queue and the shutdown flush. The database side is covered
on every backend in tests/integration/ (test_birthday_group_commit.py, test_concurrency.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import pytest

from shipshape.observability.metrics import Metrics
from shipshape.storage.group_commit import GroupCommit, WriterOverloaded


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
    write_batch: Callable[[Sequence[str]], Awaitable[None]], **options: float
) -> GroupCommit[str]:
    """A started writer (inside the test's event loop)."""
    settings: dict = {"queue_size": 100, "batch_size": 100, "writers": 1} | options
    writer = GroupCommit(write_batch, Metrics("0", "x"), operation="test", **settings)
    writer.start()
    return writer


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
    ("gather_turns", "batches"), [(3, [["a", "b", "c"]]), (0, [["a"], ["b"], ["c"]])]
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


async def test_a_cancelled_writer_task_does_not_swallow_the_next_wake_up() -> None:
    recorder = Recorder()
    writer = _writer(recorder)
    await asyncio.sleep(0)  # the writer is idle, waiting for work
    for task in writer.tasks:
        task.cancel()
    await asyncio.sleep(0)
    writer.start()  # a new writer task; the cancelled one left a done waiter behind
    await asyncio.sleep(0)
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
