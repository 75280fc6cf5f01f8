"""Kubernetes probes and Prometheus exposition. Probes never get chaos faults."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shipshape.api.deps import ServicesDep
from shipshape.api.responses import JSON

router = APIRouter(tags=["probes"])


@router.get("/livez", summary="Liveness: the process can serve (never touches the database)")
@router.get("/healthz", include_in_schema=False)
async def livez() -> Response:
    return JSON({"status": "ok"})


@router.get("/readyz", summary="Readiness: database, migrations, drain and operator state")
@router.get("/ready", include_in_schema=False)
async def readyz(services: ServicesDep) -> Response:
    report = await services.readiness.check()
    services.metrics.ready.set(1 if report.ready else 0)
    return JSON(
        {"status": "ready" if report.ready else "not ready", "checks": report.checks},
        status_code=200 if report.ready else 503,
    )


@router.get("/health", summary="Aggregate health for humans and old load balancers")
async def health(services: ServicesDep) -> Response:
    report = await services.readiness.check()
    if report.ready:
        return JSON({"status": "UP"})
    return JSON({"status": "DOWN", "checks": report.checks}, status_code=503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
