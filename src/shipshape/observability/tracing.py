"""OpenTelemetry tracing, opt-in: this module is imported only when SHIPSHAPE_OTEL_ENDPOINT is
set, so an instance with tracing off loads no OpenTelemetry code at all."""

from __future__ import annotations

import socket

from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy.ext.asyncio import AsyncEngine

from shipshape import __version__
from shipshape.core.config import Settings

UNTRACED = "/livez,/healthz,/readyz,/ready,/metrics"


def instrument(
    app: FastAPI,
    engine: AsyncEngine,
    settings: Settings,
    processor: SpanProcessor | None = None,
) -> TracerProvider:
    """Trace HTTP requests (per route template) and database statements.

    `processor` lets tests plug an in-memory exporter; production exports OTLP/HTTP.
    """
    resource = Resource.create(
        {
            "service.name": settings.otel_service_name,
            "service.version": __version__,
            "deployment.environment": settings.environment,
            "host.name": socket.gethostname(),
        }
    )
    provider = TracerProvider(resource=resource)
    if processor is None:
        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otel_endpoint))
    provider.add_span_processor(processor)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED)
    SQLAlchemyInstrumentor().instrument(
        engine=engine.sync_engine, tracer_provider=provider, enable_commenter=False
    )
    if engine.dialect.name == "postgresql":
        # The API's PostgreSQL statements run on asyncpg directly (storage/postgres.py).
        AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    app.state.tracer_provider = provider
    return provider
