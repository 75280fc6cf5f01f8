"""Operator endpoints (bearer token; 404 when no token is configured)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from shipshape.api.deps import Operator, ServicesDep
from shipshape.api.responses import JSON
from shipshape.core.state import Faults

router = APIRouter(prefix="/admin", tags=["operator"], dependencies=[Operator])


class FaultsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error_rate: float = Field(default=0.0, ge=0, le=1, description="Share of requests given 500.")
    latency_rate: float = Field(default=0.0, ge=0, le=1, description="Share of requests delayed.")
    latency_seconds: float = Field(default=0.0, ge=0, description="Added delay (capped).")


@router.post("/readiness/disable", summary="Take this instance out of load balancing")
async def disable_readiness(services: ServicesDep) -> Response:
    services.state.disabled_by_operator = True
    return JSON({"readiness": "disabled"})


@router.post("/readiness/enable", summary="Put this instance back")
async def enable_readiness(services: ServicesDep) -> Response:
    services.state.disabled_by_operator = False
    return JSON({"readiness": "enabled"})


@router.get("/faults", summary="Current fault injection")
async def get_faults(services: ServicesDep) -> Response:
    return JSON(services.state.faults.__dict__)


@router.put("/faults", summary="Inject random errors and latency (needs chaos enabled)")
async def set_faults(body: FaultsIn, services: ServicesDep) -> Response:
    if not services.settings.chaos_enabled:
        return JSON({"detail": "Chaos is disabled (SHIPSHAPE_CHAOS_ENABLED=false)"}, 409)
    latency = min(body.latency_seconds, services.settings.chaos_max_delay_seconds)
    services.state.faults = Faults(body.error_rate, body.latency_rate, latency)
    return JSON(services.state.faults.__dict__)


@router.delete("/faults", summary="Stop fault injection")
async def clear_faults(services: ServicesDep) -> Response:
    services.state.faults = Faults()
    return JSON(services.state.faults.__dict__)
