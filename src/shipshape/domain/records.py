"""The records the service writes: plain values, created by routes, stored by adapters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NewVisit:
    ip: str
    user_agent: str | None
    created_at: dt.datetime  # UTC, naive (the columns are TIMESTAMP WITHOUT TIME ZONE)


@dataclass(frozen=True, slots=True)
class BirthdaySave:
    username: str
    date_of_birth: dt.date
    updated_at: dt.datetime  # UTC, naive


def utc_naive(moment: dt.datetime) -> dt.datetime:
    """The columns hold UTC without an offset: an aware value is converted, a naive one is
    taken as UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)
