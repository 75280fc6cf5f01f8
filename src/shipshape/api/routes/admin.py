"""Operator endpoints. The route table guards them all with the bearer token (404 when no
token is configured)."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field

from shipshape.api.deps import ServicesDep
from shipshape.api.responses import JSON
from shipshape.core.state import Faults


class FaultsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error_rate: float = Field(default=0.0, ge=0, le=1, description="Share of requests given 500.")
    latency_rate: float = Field(default=0.0, ge=0, le=1, description="Share of requests delayed.")
    latency_seconds: float = Field(default=0.0, ge=0, description="Added delay (capped).")


async def disable_readiness(services: ServicesDep) -> Response:
    """Take this instance out of load balancing (readiness answers 503)."""
    services.state.disabled_by_operator = True
    return JSON({"readiness": "disabled"})


async def enable_readiness(services: ServicesDep) -> Response:
    """Put this instance back."""
    services.state.disabled_by_operator = False
    return JSON({"readiness": "enabled"})


async def get_faults(services: ServicesDep) -> Response:
    """Current fault injection."""
    return JSON(services.state.faults.__dict__)


async def set_faults(body: FaultsIn, services: ServicesDep) -> Response:
    """Inject random errors and latency (needs chaos enabled; latency capped)."""
    if not services.settings.chaos_enabled:
        return JSON({"detail": "Chaos is disabled (SHIPSHAPE_CHAOS_ENABLED=false)"}, 409)
    latency = min(body.latency_seconds, services.settings.chaos_max_delay_seconds)
    services.state.faults = Faults(body.error_rate, body.latency_rate, latency)
    return JSON(services.state.faults.__dict__)


async def clear_faults(services: ServicesDep) -> Response:
    """Stop fault injection."""
    services.state.faults = Faults()
    return JSON(services.state.faults.__dict__)
