"""The collector settings for a long-running server, kept free of imports so the benchmark
anchors can use them too."""

from __future__ import annotations

import gc

# Young-generation threshold (CPython's default is 700 net container allocations). A request
# allocates and frees hundreds of containers, so at 700 the collector ran a young collection
# every few requests, each walking every in-flight request's objects: 2,508 young and 227
# middle collections in ~10 s of W2 load, 4% of the server's CPU together with the full ones.
# At 10,000: 18 and 2, about 1%. Garbage without cycles is still freed at once by reference
# counting; only cycles wait a little longer.
YOUNG_THRESHOLD = 10_000


def freeze_startup_heap() -> None:
    """Move everything alive after start-up into the collector's permanent generation, and
    collect the young generation less often.

    Modules, the app, its routes and schemas live as long as the process, yet every full
    (generation 2) collection walks all of them again: measured under W2 load, full
    collections took 13% of the server's CPU time (2.2 s of ~17 s) before this and 0.2%
    after. Reference counting still frees them; only the cyclic collector skips them.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
