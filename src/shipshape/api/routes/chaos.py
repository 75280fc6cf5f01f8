"""Chaos endpoints for testing platforms (retries, circuit breakers, alerts). Off by default:
the router is only mounted when SHIPSHAPE_CHAOS_ENABLED=true."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Response

from shipshape.api.deps import ServicesDep
from shipshape.api.responses import JSON

router = APIRouter(tags=["chaos"])


@router.get("/status/{code}", summary="Answer with the given HTTP status")
async def status_code(code: Annotated[int, Path(ge=200, le=599)]) -> Response:
    if code in (204, 304) or code < 200:
        return Response(status_code=code)
    return JSON({"status": code}, status_code=code)


@router.get("/delay/{seconds}", summary="Answer after a delay (capped)")
async def delay(seconds: Annotated[float, Path(ge=0)], services: ServicesDep) -> Response:
    applied = min(seconds, services.settings.chaos_max_delay_seconds)
    await asyncio.sleep(applied)
    return JSON({"delay_seconds": applied})
