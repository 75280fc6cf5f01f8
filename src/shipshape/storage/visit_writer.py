"""Group commit for visits: concurrent requests' inserts share one transaction.

Each request waits for the commit that contains its row, so a 2xx still means "durable",
while the database does one fsync per batch instead of one per request. The queue is
bounded: under overload new visits fail fast (503) instead of growing memory without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from shipshape.observability.metrics import Metrics
from shipshape.storage.repositories import NewVisit
from shipshape.storage.store import Store

logger = logging.getLogger(__name__)


class WriterOverloaded(Exception):
    """The write queue is full or closed: answer 503 so clients retry elsewhere."""


_Item = tuple[NewVisit, "asyncio.Future[None]"]


class VisitWriter:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        queue_size: int,
        batch_size: int,
        writers: int,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.batch_size = batch_size
        self.writers = 1 if store.dialect == "sqlite" else writers
        self.queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=queue_size)
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False

    def start(self) -> None:
        self.tasks = [
            asyncio.create_task(self._run(), name=f"visit-writer-{n}") for n in range(self.writers)
        ]

    async def record(self, visit: NewVisit) -> None:
        """Return once the visit is committed; raise if it could not be."""
        if self.closed:
            raise WriterOverloaded("shutting down")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            self.queue.put_nowait((visit, future))
        except asyncio.QueueFull:
            self.metrics.visits_rejected.inc()
            raise WriterOverloaded("visit queue full") from None
        # A client that disconnects cancels only this future: the row is already queued and
        # the writer task commits it with the batch (it skips futures that are done).
        await future

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self.queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                with self.metrics.db_operation("insert_visits"):
                    await self.store.insert_visits([visit for visit, _ in batch])
            except Exception as exc:
                logger.warning("visit batch of %d failed: %s", len(batch), type(exc).__name__)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                self.metrics.visits_recorded.inc(len(batch))
                self.metrics.visit_batch_size.observe(len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def close(self, grace_seconds: float) -> None:
        """Refuse new visits, write every queued one, then stop the writer tasks."""
        self.closed = True
        try:
            await asyncio.wait_for(self.queue.join(), grace_seconds)
        except TimeoutError:
            logger.error("visit writer: %d visits not flushed before timeout", self.queue.qsize())
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
