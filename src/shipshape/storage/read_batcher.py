"""Batched point reads: concurrent lookups of single keys share one query.

The read-side twin of group commit (visit_writer.py). Under load, many `GET /hello/{username}`
requests are waiting at once; instead of a pool checkout and a round trip each, the keys
waiting when a query is sent go into that one query (`WHERE username = ANY($1)`). A lone
request still gets its own query at once, so nothing waits for a timer.

One query is in flight per process by default: keys that arrive meanwhile wait for it and
go together into the next one. With two in flight, batches under load were half as large:
measured under W4 at 2 workers (medians of 3 runs), 174 instead of 160 µs of server CPU per
request and 7.7k instead of 8.6k requests/s; a lone request still gets one round trip.

Before each query the drain lets the event loop turn a few times (`gather_turns`,
`gathering.py`, as group commit does), so that lookups of requests already read from their
sockets join it: W4 at 2 workers 22 -> 18 µs of PostgreSQL CPU per request (bench/NOTES.md).

Consistency is unchanged: a key joins only a query sent after the key arrived, so a read that
starts after a write was acknowledged sees that write (read-your-writes holds across pods).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from shipshape.storage.gathering import GATHER_TURNS, let_arrivals_join

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

FetchMany = Callable[[Sequence[K]], Awaitable[dict[K, V]]]


class BatchedReader(Generic[K, V]):
    def __init__(
        self,
        fetch_many: FetchMany[K, V],
        *,
        max_batch: int = 256,
        max_in_flight: int = 1,
        gather_turns: int = GATHER_TURNS,
    ) -> None:
        self.fetch_many = fetch_many
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self.gather_turns = gather_turns
        self.pending: dict[K, list[asyncio.Future[V | None]]] = {}
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V | None:
        """The value for `key` (None when absent), read by a query sent after this call."""
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        waiters = self.pending.get(key)
        if waiters is None:
            self.pending[key] = [future]
        else:
            waiters.append(future)
        if self.in_flight < self.max_in_flight:
            self.in_flight += 1
            task = asyncio.create_task(self._drain())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        # A client that disconnects cancels only its own future; the shared query goes on
        # (_drain skips futures that are done).
        return await future

    async def _drain(self) -> None:
        try:
            while self.pending:
                await let_arrivals_join(self.pending, self.max_batch, self.gather_turns)
                keys = list(self.pending)[: self.max_batch]
                batch = {key: self.pending.pop(key) for key in keys}
                try:
                    found = await self.fetch_many(keys)
                except Exception as exc:
                    for waiters in batch.values():
                        for future in waiters:
                            if not future.done():
                                future.set_exception(exc)
                else:
                    for key, waiters in batch.items():
                        value = found.get(key)
                        for future in waiters:
                            if not future.done():
                                future.set_result(value)
        finally:
            self.in_flight -= 1
