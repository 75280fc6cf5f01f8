"""Kubernetes probes and Prometheus exposition. Probes never get chaos faults."""

from __future__ import annotations

from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shipshape.api.deps import ServicesDep
from shipshape.api.responses import JSON

LIVE = {"status": "ok"}


async def livez() -> Response:
    """The process can serve; never touches the database."""
    return JSON(LIVE)


async def readyz(services: ServicesDep) -> Response:
    """The database answers (short timeout), migrations are at head, the writers run, the
    instance is not draining and not disabled by an operator; 503 names the failed check."""
    report = await services.readiness.check()
    services.metrics.ready.set(1 if report.ready else 0)
    return JSON(
        {"status": "ready" if report.ready else "not ready", "checks": report.checks},
        status_code=200 if report.ready else 503,
    )


async def health(services: ServicesDep) -> Response:
    """`{"status": "UP"}`, or 503 `{"status": "DOWN", "checks": {...}}`."""
    report = await services.readiness.check()
    if report.ready:
        return JSON({"status": "UP"})
    return JSON({"status": "DOWN", "checks": report.checks}, status_code=503)


async def metrics(services: ServicesDep) -> Response:
    """Prometheus text exposition."""
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
