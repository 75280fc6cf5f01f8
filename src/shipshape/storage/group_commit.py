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

Failure handling (ADR 0003, addendum of 2026-12-02 evening), so that no request waits
without bound and one client's row cannot fail the others':

- every waiter is answered (its future resolved) before any post-commit hook runs;
- the writer tasks are supervised: a task that dies fails the writes of the batch it held
  with `WriterUnavailable` (503), is logged and counted (`shipshape_writer_restarts_total`)
  and replaced; `healthy` is false until the replacement runs (readiness reads it);
- a batch has a deadline (`batch_timeout_seconds`, SHIPSHAPE_WRITE_TIMEOUT_SECONDS): a batch
  the database has not committed by then fails with `WriterUnavailable`, and so do the writes
  queued behind it (they would wait as long again), and a write that has waited in the queue
  longer than the deadline fails instead of being written late;
- a batch refused for a non-transient reason (the database rejects the data, not: is
  unavailable) is retried row by row, so only the bad row fails;
- `submit()` before `start()` raises `WriterNotStarted` at once (an app served without its
  lifespan) instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from shipshape.domain.errors import StorageUnavailable
from shipshape.observability.metrics import Metrics
from shipshape.storage.gathering import GATHER_TURNS, let_arrivals_join

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BATCH_TIMEOUT_SECONDS = 5.0
MAX_RESTART_DELAY_SECONDS = 5.0


# "The database is unavailable" (down, unreachable, pool exhausted, connection lost), as the
# stores raise it: a batch failing so fails as a whole. Anything else (`StorageRejected`: the
# database refuses the data) is retried row by row.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (StorageUnavailable, OSError)


class WriterOverloaded(Exception):
    """The write queue is full or closed: answer 503 so clients retry elsewhere."""


class WriterUnavailable(WriterOverloaded):
    """The write was not acknowledged: the database did not commit its batch within the
    deadline, or the writer task holding it died. Its outcome is unknown (the commit may have
    happened), so the client gets a 503 with Retry-After (the `WriterOverloaded` handler)."""


class WriterNotStarted(RuntimeError):
    """`submit()` before `start()`: the app's lifespan has not run."""


class _DeadlineMissed(Exception):
    pass


def _discard_outcome(write: asyncio.Future[None]) -> None:
    """An abandoned write: its outcome was already reported as unknown (503)."""
    if not write.cancelled() and write.exception() is not None:
        logger.debug("abandoned write ended with %r", write.exception())


# (item, the waiter's future, time.monotonic() when it was queued)
Entry = tuple[T, "asyncio.Future[None]", float]


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
        batch_timeout_seconds: float = DEFAULT_BATCH_TIMEOUT_SECONDS,
        transient: tuple[type[BaseException], ...] = (OSError,),
    ) -> None:
        self.write_batch = write_batch
        self.metrics = metrics
        self.operation = operation  # the `operation` label of the database metrics
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.writers = writers
        self.linger_seconds = linger_seconds
        self.gather_turns = gather_turns
        self.batch_timeout_seconds = batch_timeout_seconds
        # Failures that say "the database is unavailable", not "it refuses this data": the
        # batch fails as a whole (a row-by-row retry would only add load to a sick database).
        self.transient = transient
        self.pending: deque[Entry[T]] = deque()
        self.unfinished = 0  # queued or being written: what close() and join() wait for
        self.idle_writers: deque[asyncio.Future[None]] = deque()
        self.drained: asyncio.Future[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.last_arrival = -1e9  # time.monotonic() of the latest write
        self.arrival_gap = 1e9  # seconds between the latest two writes
        self.tasks: list[asyncio.Task[None]] = []
        self.running: set[asyncio.Task[None]] = set()  # tasks inside their loop
        self.deaths_without_progress = 0
        self.closed = False  # refusing new writes (close() has begun)
        self.stopping = False  # close() is stopping the tasks: no restarts
        self._restarts = metrics.writer_restarts.labels(operation)

    def start(self) -> None:
        if self.loop is not None:
            raise RuntimeError(f"{self.operation}: writer already started")
        self.loop = asyncio.get_running_loop()
        for _ in range(self.writers):
            self._spawn()

    @property
    def healthy(self) -> bool:
        """Started, not closed, and every writer task running (readiness reads this)."""
        return self.loop is not None and not self.closed and len(self.running) == self.writers

    def _spawn(self) -> None:
        if self.stopping or self.loop is None:
            return
        task = self.loop.create_task(self._run(), name=f"{self.operation}-writer")
        self.tasks.append(task)
        task.add_done_callback(self._writer_ended)

    def _writer_ended(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        with contextlib.suppress(ValueError):
            self.tasks.remove(task)
        error = None if task.cancelled() else task.exception()  # retrieved: no asyncio warning
        if self.stopping or self.loop is None:
            return
        # A task that keeps dying without writing anything backs off (no busy crash loop).
        self.deaths_without_progress += 1
        delay = 0.0
        if self.deaths_without_progress > 1:
            delay = min(0.05 * 2 ** (self.deaths_without_progress - 2), MAX_RESTART_DELAY_SECONDS)
        self._restarts.inc()
        logger.error(
            "%s: writer task died (%s); its writes failed with 503; restarting it in %.2fs",
            self.operation,
            "cancelled" if error is None else repr(error),
            delay,
            exc_info=error,
        )
        self.loop.call_later(delay, self._spawn)

    async def submit(self, item: T) -> None:
        """Return once `item` is committed; raise if it could not be."""
        if self.closed:
            raise WriterOverloaded("shutting down")
        # The loop is looked up once, at start(): asyncio.get_running_loop() costs a getpid()
        # system call on Python 3.11.
        loop = self.loop
        if loop is None:
            raise WriterNotStarted(
                f"{self.operation}: the writer is not started; start() runs in the app's "
                "lifespan (serve the app with its lifespan, e.g. `with TestClient(app):`)"
            )
        if len(self.pending) >= self.queue_size:
            self.rejected()
            raise WriterOverloaded(f"{self.operation} queue full")
        future: asyncio.Future[None] = loop.create_future()
        now = time.monotonic()
        self.pending.append((item, future, now))
        self.unfinished += 1
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
        """Hook: a batch is durable (its waiters are already answered)."""

    async def _next_batch(self) -> list[Entry[T]]:
        while not self.pending:
            waiter = asyncio.get_running_loop().create_future()
            self.idle_writers.append(waiter)
            await waiter
        await let_arrivals_join(self.pending, self.batch_size, self.gather_turns)
        # Writes arriving closer together than the linger: the wait is likely to bring
        # company, and a commit shared by more writes costs less per write (bench/NOTES.md).
        # A lone write (an idle server) is committed at once. A gap of exactly 0 means the
        # clock does not move (a frozen clock, e.g. freezegun's default, freezes asyncio's
        # timers too): no linger then, so no request depends on a timer firing.
        linger = self.linger_seconds
        if linger and 0 < self.arrival_gap < linger and len(self.pending) < self.batch_size:
            await asyncio.sleep(linger)
        pending = self.pending
        if len(pending) <= self.batch_size:
            batch = list(pending)
            pending.clear()
        else:
            batch = [pending.popleft() for _ in range(self.batch_size)]
        # A write that has waited as long as the bound fails now rather than commit late.
        oldest_allowed = time.monotonic() - self.batch_timeout_seconds
        if batch[0][2] < oldest_allowed:
            late = [entry for entry in batch if entry[2] < oldest_allowed]
            batch = [entry for entry in batch if entry[2] >= oldest_allowed]
            self._fail(late, WriterUnavailable(f"{self.operation}: not written in time"))
            self._settle(len(late))
        return batch

    async def _run(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.running.add(task)
        batch: list[Entry[T]] = []
        try:
            while True:
                batch = await self._next_batch()
                written = await self._write(batch)
                self._settle(len(batch))
                batch = []
                if written is not None:
                    self.deaths_without_progress = 0
                    self.committed(written)  # may raise: the waiters are answered already
        except BaseException:
            # Stopped by close() after its grace period, or died: the outcome of the batch
            # it held is unknown, so its requests get a 503 instead of waiting forever.
            if batch:
                if self.stopping:
                    self._fail(batch, WriterOverloaded("shutting down"))
                else:
                    self._fail(batch, WriterUnavailable(f"{self.operation}: writer died"))
                self._settle(len(batch))
            raise

    async def _attempt(self, items: Sequence[T]) -> None:
        """One write within the deadline. The write runs as its own task and is abandoned
        (cancelled, not awaited) at the deadline: a driver that cannot be interrupted at once
        (aiosqlite in its busy wait, a rollback on a stalled connection) finishes in the
        background instead of holding the requests past their bound."""
        with self.metrics.db_operation(self.operation):
            write = asyncio.ensure_future(self.write_batch(items))
            try:
                done, _ = await asyncio.wait((write,), timeout=self.batch_timeout_seconds)
            except asyncio.CancelledError:  # close() after its grace period
                write.cancel()
                raise
            if not done:
                write.cancel()
                write.add_done_callback(_discard_outcome)
                raise _DeadlineMissed
            write.result()

    async def _write(self, batch: list[Entry[T]]) -> list[T] | None:
        """Write `batch`, answer its waiters; the items committed together, or None."""
        if not batch:
            return None
        items = [item for item, _, _ in batch]
        try:
            await self._attempt(items)
        except _DeadlineMissed:
            self._missed_deadline(batch)
            return None
        except self.transient as exc:
            logger.warning(
                "%s: batch of %d failed: %s", self.operation, len(batch), type(exc).__name__
            )
            self._fail(batch, exc)
            return None
        except Exception as exc:
            if len(batch) == 1:
                logger.warning("%s: write refused: %s", self.operation, type(exc).__name__)
                self._fail(batch, exc)
                return None
            logger.warning(
                "%s: batch of %d refused (%s): retrying row by row",
                self.operation,
                len(batch),
                type(exc).__name__,
            )
            await self._write_one_by_one(batch)
            return None
        self._succeed(batch)
        return items

    async def _write_one_by_one(self, batch: list[Entry[T]]) -> None:
        for index, entry in enumerate(batch):
            item = entry[0]
            try:
                await self._attempt([item])
            except _DeadlineMissed:
                self._missed_deadline(batch[index:])
                return
            except Exception as exc:
                logger.warning("%s: write refused: %s", self.operation, type(exc).__name__)
                self._fail([entry], exc)
            else:
                self._succeed([entry])
                self.committed([item])

    def _missed_deadline(self, batch: list[Entry[T]]) -> None:
        """The database did not commit within the deadline: fail the batch and what is
        queued behind it (it would wait as long again); later writes get a new attempt."""
        behind = list(self.pending)
        self.pending.clear()
        logger.error(
            "%s: no commit within %.1fs: %d writes in the batch and %d queued failed with 503",
            self.operation,
            self.batch_timeout_seconds,
            len(batch),
            len(behind),
        )
        error = WriterUnavailable(
            f"{self.operation}: no commit within {self.batch_timeout_seconds}s"
        )
        self._fail(batch, error)
        self._fail(behind, error)
        self._settle(len(behind))

    def _settle(self, count: int) -> None:
        self.unfinished -= count
        if not self.unfinished and self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    @staticmethod
    def _succeed(batch: Sequence[Entry[T]]) -> None:
        for _, future, _ in batch:
            if not future.done():
                future.set_result(None)

    @staticmethod
    def _fail(batch: Sequence[Entry[T]], exc: BaseException) -> None:
        for _, future, _ in batch:
            if not future.done():
                future.set_exception(exc)

    async def close(self, grace_seconds: float) -> None:
        """Refuse new writes, commit every queued one, then stop the writer tasks.

        Writes still queued or in flight when the grace period ends fail with
        `WriterOverloaded` (a 503), so no request waits for a writer that is gone."""
        self.closed = True
        if self.loop is None:  # never started: nothing can be queued
            return
        try:
            if self.unfinished:
                await asyncio.wait_for(self.join(), grace_seconds)
        except TimeoutError:
            logger.error(
                "%s: %d writes not flushed before timeout", self.operation, self.unfinished
            )
        self.stopping = True
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        unwritten = list(self.pending)
        self.pending.clear()
        self._fail(unwritten, WriterOverloaded("not written before the shutdown timeout"))
        self._settle(len(unwritten))
