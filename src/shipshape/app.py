"""The application factory: everything an instance needs is built here from Settings."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psutil
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline.core import _STATIC_PATH as DOCS_ASSETS
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp

from shipshape import __version__
from shipshape.api.deps import Services
from shipshape.api.errors import install_error_handlers, unexpected
from shipshape.api.faults import FaultInjectionMiddleware
from shipshape.api.responses import JSON
from shipshape.api.router import add_routes
from shipshape.api.routes.system import prime_cpu_counters
from shipshape.core.clock import Clock, system_clock
from shipshape.core.config import Settings, load_settings
from shipshape.core.heap import freeze_startup_heap
from shipshape.core.readiness import ReadinessChecker
from shipshape.core.state import RuntimeState
from shipshape.observability.logging import flush_logs
from shipshape.observability.metrics import Metrics
from shipshape.observability.middleware import RequestMiddleware
from shipshape.storage.birthday_writer import BirthdayWriter
from shipshape.storage.database import create_engine
from shipshape.storage.factory import create_store
from shipshape.storage.migrate import head_revision
from shipshape.storage.read_batcher import BatchedReader
from shipshape.storage.visit_writer import VisitWriter

logger = logging.getLogger("shipshape")


class ShipshapeApp(FastAPI):
    """FastAPI with the service's request middleware first inside Starlette's outermost
    error middleware (where OpenTelemetry's instrumentation expects that one): request id,
    metrics and access log cover every route, and the request middleware answers an
    unexpected error itself with the app's handler, so a 500 carries its request id and its
    log line the id too. The rest is FastAPI's own stack: middleware added with
    `add_middleware` applies to every route."""

    def build_middleware_stack(self) -> ASGIApp:
        services: Services = self.state.services
        settings = services.settings
        stack = super().build_middleware_stack()
        assert isinstance(stack, ServerErrorMiddleware), type(stack)
        stack.app = RequestMiddleware(
            stack.app,
            error_handler=unexpected,
            metrics=services.metrics,
            state=services.state,
            trusted_proxies=settings.trusted_proxies,
            forwarded_header=settings.forwarded_header,
            max_body_bytes=settings.max_body_bytes,
            access_log=settings.access_log,
        )
        return stack


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> FastAPI:
    settings = settings or load_settings()
    engine = create_engine(settings)
    store = create_store(engine, settings)
    metrics = Metrics(__version__, settings.git_commit)
    metrics.watch_pool(store.pool_stats)
    state = RuntimeState()
    services = Services(
        settings=settings,
        engine=engine,
        store=store,
        metrics=metrics,
        state=state,
        readiness=ReadinessChecker(
            store,
            state,
            head_revision(),
            settings.readiness_timeout_seconds,
            settings.readiness_cache_seconds,
        ),
        writer=VisitWriter(
            store,
            metrics,
            queue_size=settings.visit_queue_size,
            batch_size=settings.visit_batch_size,
            writers=settings.visit_writers,
            batch_timeout_seconds=settings.write_timeout_seconds,
        ),
        birthdays=BatchedReader(metrics.timed("get_birthdays", store.birthdays)),
        birthday_writer=BirthdayWriter(
            store,
            metrics,
            queue_size=settings.birthday_queue_size,
            batch_size=settings.birthday_batch_size,
            linger_seconds=settings.birthday_linger_ms / 1000,
            batch_timeout_seconds=settings.write_timeout_seconds,
        ),
        clock=clock,
        process=psutil.Process(),
        hostname=socket.gethostname(),
    )
    services.readiness.writers = (services.writer, services.birthday_writer)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        prime_cpu_counters(services.process)
        await store.open()
        services.writer.start()
        services.birthday_writer.start()
        if settings.freeze_heap:  # under any server: `shipshape serve`, `uvicorn ...asgi:app`
            freeze_startup_heap()
        logger.info("shipshape %s ready to serve (%s)", __version__, engine.dialect.name)
        try:
            yield
        finally:
            # Both queues drain at once, within what the server left of the shutdown budget:
            # the bound applies once, not per queue nor again after the in-flight requests.
            grace = state.shutdown_budget(settings.shutdown_timeout_seconds)
            await asyncio.gather(
                services.writer.close(grace), services.birthday_writer.close(grace)
            )
            await store.close()
            await engine.dispose()
            provider = getattr(app.state, "tracer_provider", None)
            if provider is not None:
                provider.shutdown()  # flush spans still buffered for export
            logger.info("shipshape stopped: writes flushed, pool closed")
            flush_logs()

    app = ShipshapeApp(
        title="shipshape",
        version=__version__,
        description="A production-grade Python web service and the kit to ship it.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        default_response_class=JSON,
        # Tracing is ours (observability/tracing.py, opt-in); FastAPI's built-in telemetry
        # would otherwise look up the global OpenTelemetry providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = services
    add_routes(app, settings)
    _install_docs(app)
    install_error_handlers(app)
    app.add_middleware(FaultInjectionMiddleware, state=state)
    try:
        from shipshape import web
    except ImportError:  # pragma: no cover - the dashboard package is part of the wheel
        pass
    else:
        web.install(app)

    if settings.otel_endpoint:
        from shipshape.observability.tracing import instrument

        instrument(app, engine, settings)
    return app


def _install_docs(app: FastAPI) -> None:
    """Swagger UI from assets shipped in the wheel: works with no internet access."""
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title="shipshape - API",
            swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs-assets/favicon.png",
        )
