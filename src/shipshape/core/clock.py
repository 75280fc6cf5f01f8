"""The service's clock, injected (`Services.clock`) so tests can fix "now" and "today"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]
"""Returns the current time, timezone-aware, in UTC."""


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
