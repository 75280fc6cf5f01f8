"""Group commit: concurrent requests' writes share one transaction.

Each request waits for the commit that contains its write, so a 2xx still means "durable",
while the database does one round trip and one fsync per batch instead of one per request.
The queue is bounded: under overload new writes fail fast (503) instead of growing memory
without limit. `close()` writes everything queued before the pool closes (shutdown flush).

Used for visits (`visit_writer.py`, ADR 0003) and for birthday saves (`PUT /hello`): one
machine, two kinds of rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from shipshape.observability.metrics import Metrics

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
    ) -> None:
        self.write_batch = write_batch
        self.metrics = metrics
        self.operation = operation  # the `operation` label of the database metrics
        self.batch_size = batch_size
        self.writers = writers
        self.queue: asyncio.Queue[tuple[T, asyncio.Future[None]]] = asyncio.Queue(
            maxsize=queue_size
        )
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False

    def start(self) -> None:
        self.tasks = [
            asyncio.create_task(self._run(), name=f"{self.operation}-{n}")
            for n in range(self.writers)
        ]

    async def submit(self, item: T) -> None:
        """Return once `item` is committed; raise if it could not be."""
        if self.closed:
            raise WriterOverloaded("shutting down")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            self.queue.put_nowait((item, future))
        except asyncio.QueueFull:
            self.rejected()
            raise WriterOverloaded(f"{self.operation} queue full") from None
        # A client that disconnects cancels only this future: the item is already queued and
        # the writer task commits it with the batch (it skips futures that are done).
        await future

    def rejected(self) -> None:
        """Hook: a write refused because the queue was full."""

    def committed(self, batch: Sequence[T]) -> None:
        """Hook: a batch is durable."""

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self.queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            items = [item for item, _ in batch]
            try:
                with self.metrics.db_operation(self.operation):
                    await self.write_batch(items)
            except Exception as exc:
                logger.warning(
                    "%s: batch of %d failed: %s", self.operation, len(batch), type(exc).__name__
                )
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                self.committed(items)
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def close(self, grace_seconds: float) -> None:
        """Refuse new writes, commit every queued one, then stop the writer tasks."""
        self.closed = True
        try:
            await asyncio.wait_for(self.queue.join(), grace_seconds)
        except TimeoutError:
            logger.error(
                "%s: %d writes not flushed before timeout", self.operation, self.queue.qsize()
            )
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
