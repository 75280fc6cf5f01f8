"""Birthday arithmetic: pure functions, unit-tested on their edge cases."""

from __future__ import annotations

import datetime as dt


def next_birthday(date_of_birth: dt.date, today: dt.date) -> dt.date:
    """The next occurrence on or after `today`; 29 February is celebrated on 28 February
    in common years (the convention most civil registries use)."""
    for year in (today.year, today.year + 1):
        candidate = _anniversary(date_of_birth, year)
        if candidate >= today:
            return candidate
    raise AssertionError("unreachable: next year's anniversary is always in the future")


def _anniversary(date_of_birth: dt.date, year: int) -> dt.date:
    try:
        return date_of_birth.replace(year=year)
    except ValueError:  # 29 February in a common year
        return dt.date(year, 2, 28)


def days_until_birthday(date_of_birth: dt.date, today: dt.date) -> int:
    return (next_birthday(date_of_birth, today) - today).days


def greeting(username: str, date_of_birth: dt.date, today: dt.date) -> str:
    days = days_until_birthday(date_of_birth, today)
    if days == 0:
        return f"Hello, {username}! Happy birthday!"
    # `day(s)` literally, for every N: existing clients compare the message exactly.
    return f"Hello, {username}! Your birthday is in {days} day(s)"
