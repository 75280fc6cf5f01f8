"""Group commit for `PUT /hello/{username}`: concurrent saves share one transaction.

A save costs the database a commit (an fsync) and the server a pool checkout and a round
trip; batched, a burst of saves costs one of each (measured in `bench/NOTES.md`). Each PUT
is still answered only after the commit that holds it, so a `GET` that starts after the 204
reads the new date from any pod (read-your-writes, as with one statement per request).

One transaction is in flight per process: saves that arrive meanwhile wait for it and go
together into the next one. With two in flight, under W4 at 2 workers (medians of 3 runs)
a request cost 171 instead of 161 µs of server CPU and PostgreSQL 29 instead of 25 µs; a
PUT-only load at 1 worker did 5.5k instead of 8.2k saves/s.

Under a steady stream of saves a save waits up to `SHIPSHAPE_BIRTHDAY_LINGER_MS` (5 ms) for
others to share its commit; a lone save (the previous one arrived longer ago than that) is
committed at once, and so is a save under a clock that does not move (a frozen clock never
fires the linger's timer; group_commit.py). In the W4 mix at 2 workers a commit used to hold
one or two saves and cost the server and PostgreSQL as much as the save itself: with the
linger, 146 -> 123 µs of server and 26 -> 18 µs of PostgreSQL CPU per request, 9.4k -> 11.4k
requests/s (A/B, medians of 3; bench/NOTES.md). Visits do not linger: every W2 request is a
visit, so a wait leaves the CPUs idle instead of saving them (measured, bench/NOTES.md).

Saves of the same user in one batch: the one that arrived last wins, as it would have with
one transaction each. Rows are written in username order, so concurrent batches (other
writer tasks, other pods) lock users in the same order and cannot deadlock.
"""

from __future__ import annotations

from shipshape.domain.records import BirthdaySave
from shipshape.observability.metrics import Metrics
from shipshape.storage.group_commit import (
    DEFAULT_BATCH_TIMEOUT_SECONDS,
    TRANSIENT_ERRORS,
    GroupCommit,
)
from shipshape.storage.store import Store


class BirthdayWriter(GroupCommit[BirthdaySave]):
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        queue_size: int,
        batch_size: int,
        linger_seconds: float = 0.0,
        batch_timeout_seconds: float = DEFAULT_BATCH_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(
            store.save_birthdays,
            metrics,
            operation="save_birthdays",
            queue_size=queue_size,
            batch_size=batch_size,
            writers=1,
            linger_seconds=linger_seconds,
            batch_timeout_seconds=batch_timeout_seconds,
            transient=TRANSIENT_ERRORS,
        )
