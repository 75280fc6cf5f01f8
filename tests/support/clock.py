"""A clock tests set by hand (the app's `clock=`): "now" and "today" without racing midnight."""

from __future__ import annotations

import datetime as dt


class FixedClock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now.astimezone(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def set_today(self, day: dt.date) -> None:
        self.now = dt.datetime.combine(day, dt.time(12, 0), tzinfo=dt.UTC)


def at(day: dt.date) -> FixedClock:
    return FixedClock(dt.datetime.combine(day, dt.time(12, 0), tzinfo=dt.UTC))
