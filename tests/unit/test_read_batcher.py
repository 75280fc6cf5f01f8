"""Batched point reads: shared queries, exact answers, failures and ordering."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from shipshape.storage.read_batcher import BatchedReader

TABLE = {f"user{n}": n for n in range(100)}


class Recorder:
    """A fetch_many over a dict that records the keys of every query it is sent."""

    def __init__(self) -> None:
        self.queries: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.fail_next = False

    async def __call__(self, keys: Sequence[str]) -> dict[str, int]:
        self.queries.append(list(keys))
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("database went away")
        return {key: TABLE[key] for key in keys if key in TABLE}


async def test_concurrent_lookups_share_queries_and_get_exact_answers() -> None:
    fetch = Recorder()
    reader = BatchedReader(fetch, max_in_flight=1)
    keys = [f"user{n}" for n in range(50)] + ["nobody", "user7", "user7"]
    results = await asyncio.gather(*(reader.get(key) for key in keys))
    assert results == [TABLE.get(key) for key in keys]
    assert len(fetch.queries) == 1  # 53 lookups, one query
    assert sorted(fetch.queries[0]) == sorted(set(keys))  # each key asked once


async def test_a_lone_lookup_is_sent_at_once() -> None:
    fetch = Recorder()
    reader = BatchedReader(fetch)
    assert await asyncio.wait_for(reader.get("user3"), 1) == 3
    assert fetch.queries == [["user3"]]


async def test_batches_are_bounded() -> None:
    fetch = Recorder()
    reader = BatchedReader(fetch, max_batch=10, max_in_flight=1)
    keys = [f"user{n}" for n in range(35)]
    assert await asyncio.gather(*(reader.get(k) for k in keys)) == list(range(35))
    assert [len(q) for q in fetch.queries] == [10, 10, 10, 5]


async def test_a_key_arriving_during_a_query_goes_into_a_later_one() -> None:
    """Read-your-writes: a lookup never joins a query that was sent before it arrived."""
    fetch = Recorder()
    fetch.gate = asyncio.Event()
    reader = BatchedReader(fetch, max_in_flight=1)
    first = asyncio.create_task(reader.get("user1"))
    await asyncio.sleep(0.01)
    assert fetch.queries == [["user1"]]  # in flight, held by the gate
    second = asyncio.create_task(reader.get("user2"))
    await asyncio.sleep(0.01)
    fetch.gate.set()
    assert await asyncio.gather(first, second) == [1, 2]
    assert fetch.queries == [["user1"], ["user2"]]


async def test_a_failed_query_fails_its_batch_only() -> None:
    fetch = Recorder()
    fetch.fail_next = True
    reader = BatchedReader(fetch, max_in_flight=1)
    results = await asyncio.gather(
        *(reader.get(k) for k in ("user1", "user2")), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await reader.get("user1") == 1  # the next query works
    assert reader.in_flight == 0


async def test_a_cancelled_caller_does_not_cancel_the_shared_query() -> None:
    fetch = Recorder()
    fetch.gate = asyncio.Event()
    reader = BatchedReader(fetch, max_in_flight=1)
    leaving = asyncio.create_task(reader.get("user5"))
    staying = asyncio.create_task(reader.get("user5"))
    await asyncio.sleep(0.01)
    leaving.cancel()
    fetch.gate.set()
    assert await staying == 5
    with pytest.raises(asyncio.CancelledError):
        await leaving


@pytest.mark.parametrize(
    ("gather_turns", "queries"),
    [(3, [["user1", "user2", "user3"]]), (0, [["user1"], ["user2"], ["user3"]])],
)
async def test_lookups_a_few_loop_turns_behind_join_the_query(
    gather_turns: int, queries: list[list[str]]
) -> None:
    """Requests read from their sockets over the next turns of the loop share the query."""
    fetch = Recorder()
    reader = BatchedReader(fetch, max_in_flight=1, gather_turns=gather_turns)

    async def get_after(turns: int, key: str) -> int | None:
        for _ in range(turns):
            await asyncio.sleep(0)
        return await reader.get(key)

    keys = ["user1", "user2", "user3"]
    assert await asyncio.gather(*(get_after(n, k) for n, k in enumerate(keys))) == [1, 2, 3]
    assert fetch.queries == queries
