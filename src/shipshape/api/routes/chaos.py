"""Chaos endpoints for testing platforms (retries, circuit breakers, alerts). Off by default:
the route table adds them only when SHIPSHAPE_CHAOS_ENABLED=true."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Path, Response

from shipshape.api.deps import ServicesDep
from shipshape.api.responses import JSON


async def status_code(code: Annotated[int, Path(ge=200, le=599)]) -> Response:
    """Answer with the given HTTP status."""
    if code in (204, 304) or code < 200:
        return Response(status_code=code)
    return JSON({"status": code}, status_code=code)


async def delay(seconds: Annotated[float, Path(ge=0)], services: ServicesDep) -> Response:
    """Answer after a delay, capped by SHIPSHAPE_CHAOS_MAX_DELAY_SECONDS."""
    applied = min(seconds, services.settings.chaos_max_delay_seconds)
    await asyncio.sleep(applied)
    return JSON({"delay_seconds": applied})
