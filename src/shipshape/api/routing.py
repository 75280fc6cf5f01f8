"""The hot endpoints' route type and the layer that serves them (ADR 0005)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send


class HotRoute(Route):
    """Records itself in `scope["route"]` like FastAPI's routes (metrics, access log and traces
    are labelled by its template), and answers only the methods given: no implicit HEAD, so
    `HEAD /` cannot record a visit."""

    def __init__(
        self, path: str, endpoint: Callable[[Request], Awaitable[Response]], *, methods: list[str]
    ) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.methods: set[str] = set(methods)

    def matches(self, scope: Scope) -> tuple[Match, MutableMapping[str, Any]]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


class HotPath:
    """Serves the hot routes ahead of the framework's remaining layers.

    Between the service middleware and a hot endpoint, Starlette/FastAPI add an exception
    telemetry layer, a body-limit layer, the exception middleware, an exit-stack layer, the
    router and two exception-handling wrappers: each an extra coroutine frame and `send`
    closure per message, a large share of a request that does little else. This layer
    matches the hot routes itself and maps their exceptions with the app's own exception
    handlers (so responses are the same); anything else, including a wrong method on a hot
    path (405), goes on to the framework, whose route table lists the hot routes too.
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: list[HotRoute],
        exception_handlers: Mapping[Any, Callable[[Request, Exception], Any]],
    ) -> None:
        self.app = app
        # Paths without parameters are found with one dict lookup; the rest by their regex.
        self.static = {r.path: r for r in routes if not r.param_convertors}
        self.routes: dict[str, list[HotRoute]] = {}  # by method: one regex match per request
        for route in routes:
            if route.param_convertors:
                for method in route.methods:
                    self.routes.setdefault(method, []).append(route)
        self.exception_handlers = exception_handlers

    def _handler_for(self, exc: Exception) -> Callable[[Request, Exception], Any] | None:
        for cls in type(exc).__mro__:
            handler = self.exception_handlers.get(cls)
            if handler is not None:
                return handler
        return None

    def _match(self, scope: Scope) -> HotRoute | None:
        route = self.static.get(get_route_path(scope))
        if route is not None:
            if scope["method"] not in route.methods:
                return None
            scope["endpoint"] = route.endpoint
            scope["path_params"] = {}
            scope["route"] = route
            return route
        for route in self.routes.get(scope["method"], ()):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope.update(child_scope)
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._match(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)
