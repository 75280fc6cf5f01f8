"""Group commit for visits (ADR 0003): `GET /` answers only once its visit row is durable.

Visits of one batch are inserted, and folded into the per-IP aggregates, in one statement
and one transaction (`Store.insert_visits`). The machinery is `group_commit.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

from shipshape.domain.records import NewVisit
from shipshape.observability.metrics import Metrics
from shipshape.storage.group_commit import (
    DEFAULT_BATCH_TIMEOUT_SECONDS,
    TRANSIENT_ERRORS,
    GroupCommit,
    WriterOverloaded,
)
from shipshape.storage.store import Store

__all__ = ["VisitWriter", "WriterOverloaded"]


class VisitWriter(GroupCommit[NewVisit]):
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        queue_size: int,
        batch_size: int,
        writers: int,
        batch_timeout_seconds: float = DEFAULT_BATCH_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(
            store.insert_visits,
            metrics,
            operation="insert_visits",
            queue_size=queue_size,
            batch_size=batch_size,
            writers=1 if store.dialect == "sqlite" else writers,
            batch_timeout_seconds=batch_timeout_seconds,
            transient=TRANSIENT_ERRORS,
        )

    async def record(self, visit: NewVisit) -> None:
        """Return once the visit is committed; raise if it could not be."""
        await self.submit(visit)

    def rejected(self) -> None:
        self.metrics.visits_rejected.inc()

    def committed(self, batch: Sequence[NewVisit]) -> None:
        self.metrics.visits_recorded.inc(len(batch))
        self.metrics.visit_batch_size.observe(len(batch))
