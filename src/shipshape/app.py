"""The application factory: everything an instance needs is built here from Settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline.core import _STATIC_PATH as DOCS_ASSETS
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from shipshape import __version__
from shipshape.api.deps import Services
from shipshape.api.responses import JSON
from shipshape.api.routes import admin, chaos, hello, probes, system, visits
from shipshape.api.routes.system import prime_cpu_counters
from shipshape.api.routing import HotPath
from shipshape.core.config import Settings, load_settings
from shipshape.core.faults import FaultInjectionMiddleware
from shipshape.core.liveness import LivenessFastPath
from shipshape.core.readiness import ReadinessChecker
from shipshape.core.state import RuntimeState
from shipshape.observability.logging import flush_logs
from shipshape.observability.metrics import Metrics
from shipshape.observability.middleware import RequestMiddleware
from shipshape.storage.birthday_writer import BirthdayWriter
from shipshape.storage.database import create_engine
from shipshape.storage.migrate import head_revision
from shipshape.storage.read_batcher import BatchedReader
from shipshape.storage.store import StorageUnavailable, create_store
from shipshape.storage.visit_writer import VisitWriter, WriterOverloaded

logger = logging.getLogger("shipshape")


class ShipshapeApp(FastAPI):
    """FastAPI with the service's per-request layers right inside the outermost error
    middleware, ahead of the framework's other layers (body limit, exception telemetry,
    exception handlers): request id, metrics, access log, faults and the liveness answer do
    not pay for them. The stack keeps Starlette's shape, so instrumentation still finds it."""

    wrap_stack: Callable[[ASGIApp], ASGIApp] = staticmethod(lambda stack: stack)

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if isinstance(stack, ServerErrorMiddleware):
            stack.app = self.wrap_stack(stack.app)
            return stack
        return self.wrap_stack(stack)


def create_app(settings: Settings | None = None) -> FastAPI:
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
            engine,
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
        ),
        birthdays=BatchedReader(metrics.timed("get_birthdays", store.birthdays)),
        birthday_writer=BirthdayWriter(
            store,
            metrics,
            queue_size=settings.birthday_queue_size,
            batch_size=settings.birthday_batch_size,
            linger_seconds=settings.birthday_linger_ms / 1000,
        ),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        prime_cpu_counters()
        await store.open()
        services.writer.start()
        services.birthday_writer.start()
        logger.info("shipshape %s ready to serve (%s)", __version__, engine.dialect.name)
        try:
            yield
        finally:
            # Both queues drain at once: the shutdown bound applies once, not per queue.
            await asyncio.gather(
                services.writer.close(settings.shutdown_timeout_seconds),
                services.birthday_writer.close(settings.shutdown_timeout_seconds),
            )
            await store.close()
            await engine.dispose()
            provider = getattr(app.state, "tracer_provider", None)
            if provider is not None:
                provider.shutdown()  # flush spans still buffered for export
            logger.info("shipshape stopped: visits flushed, pool closed")
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

    # The hot routes first: plain Starlette endpoints, documented by their contract routers.
    hot_routes = [*visits.routes, *hello.routes]
    app.router.routes[:0] = hot_routes
    _install_openapi(app, [visits.contract, hello.contract])
    routers = [visits.router, system.router, probes.router, admin.router]
    if settings.chaos_enabled:
        routers.append(chaos.router)
    for router in routers:
        # Flat route table: FastAPI >= 0.16x resolves included routers lazily through
        # wrapper objects on every request; plain APIRoutes match several times faster.
        app.router.routes.extend(router.routes)
    _install_docs(app)
    _install_error_handlers(app)
    try:
        from shipshape import web
    except ImportError:  # pragma: no cover - the dashboard package is part of the wheel
        pass
    else:
        web.install(app)

    if settings.otel_endpoint:
        from shipshape.observability.tracing import instrument

        instrument(app, engine, settings)

    request_middleware: dict[str, Any] = {
        "metrics": metrics,
        "state": state,
        "trusted_proxies": settings.trusted_proxies,
        "max_body_bytes": settings.max_body_bytes,
        "access_log": settings.access_log,
    }
    app.wrap_stack = lambda stack: RequestMiddleware(
        FaultInjectionMiddleware(
            LivenessFastPath(HotPath(stack, hot_routes, app.exception_handlers)), state=state
        ),
        **request_middleware,
    )
    return app


def _install_openapi(app: FastAPI, contracts: list[APIRouter]) -> None:
    """The OpenAPI document covers the served FastAPI routes and the hot routes' contracts."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=[*(r for c in contracts for r in c.routes), *app.routes],
                separate_input_output_schemas=app.separate_input_output_schemas,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


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


def _install_error_handlers(app: FastAPI) -> None:
    """Errors keep FastAPI's shape and never leak a stack trace or internals."""

    async def unavailable(request: Request, exc: Exception) -> Response:
        logger.warning("database unavailable: %s", type(exc).__name__)
        return JSON({"detail": "Database unavailable"}, 503, headers={"Retry-After": "1"})

    async def overloaded(request: Request, exc: Exception) -> Response:
        return JSON(
            {"detail": "Service overloaded, retry later"}, 503, headers={"Retry-After": "1"}
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSON({"detail": "Internal Server Error"}, 500)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = getattr(exc, "headers", None)
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=headers)
        return JSON({"detail": exc.detail}, exc.status_code, headers=headers)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = []
        for error in exc.errors():
            # Never echo the offending input back (it can be huge or sensitive).
            clean = {k: v for k, v in error.items() if k in ("loc", "msg", "type")}
            ctx = error.get("ctx")
            if isinstance(ctx, dict):
                clean["ctx"] = {k: str(v) for k, v in ctx.items() if k != "error"}
            errors.append(clean)
        return JSON({"detail": errors}, 422)

    app.add_exception_handler(OperationalError, unavailable)
    app.add_exception_handler(DBAPIError, unavailable)
    app.add_exception_handler(PoolTimeout, unavailable)
    app.add_exception_handler(StorageUnavailable, unavailable)
    app.add_exception_handler(OSError, unavailable)
    app.add_exception_handler(WriterOverloaded, overloaded)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)
