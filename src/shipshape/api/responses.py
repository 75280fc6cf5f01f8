"""JSON responses rendered by orjson (datetimes as UTC with a `Z`), used by every route."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from starlette.responses import JSONResponse


def _other(value: Any) -> Any:
    """What orjson leaves to us: subclasses of date/datetime (freezegun's FakeDatetime)."""
    if isinstance(value, dt.date):
        return orjson.loads(orjson.dumps(value.isoformat()))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class JSON(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_other, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z)
