"""Group commit: concurrent requests' writes share one transaction.

Each request waits for the commit that contains its write, so a 2xx still means "durable",
while the database does one round trip and one fsync per batch instead of one per request.
The queue is bounded: under overload new writes fail fast (503) instead of growing memory
without limit. `close()` writes everything queued before the pool closes (shutdown flush).

Used for visits (`visit_writer.py`, ADR 0003) and for birthday saves (`PUT /hello`): one
machine, two kinds of rows.

Before it takes a batch, a writer lets the event loop turn a few times (`gather_turns`,
`gathering.py`), so that the writes of requests already on their way join it.

The queue is a plain deque with one wake-up future per idle writer task, not an
`asyncio.Queue`: a write costs an append and a future instead of the queue's bookkeeping on
put, get and `task_done` (~1 µs per write of a few tens per request; bench/NOTES.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from shipshape.observability.metrics import Metrics
from shipshape.storage.gathering import GATHER_TURNS, let_arrivals_join

logger = logging.getLogger(__name__)

T = TypeVar("T")


class WriterOverloaded(Exception):
    """The write queue is full or closed: answer 503 so clients retry elsewhere."""


class GroupCommit(Generic[T]):
    def __init__(
        self,
        write_batch: Callable[[Sequence[T]], Awaitable[None]],
        metrics: Metrics,
        *,
        operation: str,
        queue_size: int,
        batch_size: int,
        writers: int,
        linger_seconds: float = 0.0,
        gather_turns: int = GATHER_TURNS,
    ) -> None:
        self.write_batch = write_batch
        self.metrics = metrics
        self.operation = operation  # the `operation` label of the database metrics
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.writers = writers
        self.linger_seconds = linger_seconds
        self.gather_turns = gather_turns
        self.pending: deque[tuple[T, asyncio.Future[None]]] = deque()
        self.unfinished = 0  # queued or being written: what close() and join() wait for
        self.idle_writers: deque[asyncio.Future[None]] = deque()
        self.drained: asyncio.Future[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.last_arrival = -1e9  # time.monotonic() of the latest write
        self.arrival_gap = 1e9  # seconds between the latest two writes
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.tasks = [
            asyncio.create_task(self._run(), name=f"{self.operation}-{n}")
            for n in range(self.writers)
        ]

    async def submit(self, item: T) -> None:
        """Return once `item` is committed; raise if it could not be."""
        if self.closed:
            raise WriterOverloaded("shutting down")
        if len(self.pending) >= self.queue_size:
            self.rejected()
            raise WriterOverloaded(f"{self.operation} queue full")
        # The loop is looked up once, at start(): asyncio.get_running_loop() costs a getpid()
        # system call on Python 3.11.
        loop = self.loop or asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self.pending.append((item, future))
        self.unfinished += 1
        if self.linger_seconds:
            now = time.monotonic()
            self.arrival_gap, self.last_arrival = now - self.last_arrival, now
        while self.idle_writers:
            waiter = self.idle_writers.popleft()
            if not waiter.done():  # a cancelled writer leaves a done waiter behind
                waiter.set_result(None)
                break
        # A client that disconnects cancels only this future: the item is already queued and
        # the writer task commits it with the batch (it skips futures that are done).
        await future

    async def join(self) -> None:
        """Return once every write submitted so far is committed or failed."""
        if self.unfinished:
            if self.drained is None or self.drained.done():
                self.drained = asyncio.get_running_loop().create_future()
            await asyncio.shield(self.drained)

    def rejected(self) -> None:
        """Hook: a write refused because the queue was full."""

    def committed(self, batch: Sequence[T]) -> None:
        """Hook: a batch is durable."""

    async def _next_batch(self) -> list[tuple[T, asyncio.Future[None]]]:
        while not self.pending:
            waiter = asyncio.get_running_loop().create_future()
            self.idle_writers.append(waiter)
            await waiter
        await let_arrivals_join(self.pending, self.batch_size, self.gather_turns)
        # Writes arriving closer together than the linger: the wait is likely to bring
        # company, and a commit shared by more writes costs less per write (bench/NOTES.md).
        # A lone write (an idle server) is committed at once.
        linger = self.linger_seconds
        if linger and self.arrival_gap < linger and len(self.pending) < self.batch_size:
            await asyncio.sleep(linger)
        pending = self.pending
        if len(pending) <= self.batch_size:
            batch = list(pending)
            pending.clear()
        else:
            batch = [pending.popleft() for _ in range(self.batch_size)]
        return batch

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            items = [item for item, _ in batch]
            try:
                with self.metrics.db_operation(self.operation):
                    await self.write_batch(items)
            except asyncio.CancelledError:
                # Stopped by close() after its grace period, mid-write: the outcome is
                # unknown, so these requests get a 503 instead of waiting forever.
                self._fail(batch, WriterOverloaded("shutting down"))
                raise
            except Exception as exc:
                logger.warning(
                    "%s: batch of %d failed: %s", self.operation, len(batch), type(exc).__name__
                )
                self._fail(batch, exc)
            else:
                self.committed(items)
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
            finally:
                self.unfinished -= len(batch)
                if not self.unfinished and self.drained is not None and not self.drained.done():
                    self.drained.set_result(None)

    @staticmethod
    def _fail(batch: Sequence[tuple[T, asyncio.Future[None]]], exc: BaseException) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)

    async def close(self, grace_seconds: float) -> None:
        """Refuse new writes, commit every queued one, then stop the writer tasks.

        Writes still queued or in flight when the grace period ends fail with
        `WriterOverloaded` (a 503), so no request waits for a writer that is gone."""
        self.closed = True
        try:
            await asyncio.wait_for(self.join(), grace_seconds)
        except TimeoutError:
            logger.error(
                "%s: %d writes not flushed before timeout", self.operation, self.unfinished
            )
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        unwritten = list(self.pending)
        self.pending.clear()
        self._fail(unwritten, WriterOverloaded("not written before the shutdown timeout"))
