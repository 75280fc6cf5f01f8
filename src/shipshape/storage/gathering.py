"""Let work that is already on its way join a batch: shared by group commit (writes) and the
batched reads.

With every connection of a closed loop waiting on the previous commit or query, taking a batch
the moment the first item arrives leaves the rest of the wave for the next round trip, and the
requests settle into two half-size waves, each paying for its own round trip. Three turns of
the event loop are enough for the wave to arrive: one runs the requests the last round trip
woke (they send their responses), the next reads the requests that arrived on their
connections meanwhile, the third lets those reach the queue. No timer: a few µs per batch.
W2 at 2 workers 10.5k -> 12.4k visits/s, PostgreSQL 27 -> 17 µs per visit; one or two turns
did nothing measurable (bench/NOTES.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sized

GATHER_TURNS = 3


async def let_arrivals_join(pending: Sized, limit: int, turns: int = GATHER_TURNS) -> None:
    """Yield to the event loop up to `turns` times, stopping once `limit` items are pending."""
    for _ in range(turns):
        if len(pending) >= limit:
            return
        await asyncio.sleep(0)
