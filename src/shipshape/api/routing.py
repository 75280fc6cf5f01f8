"""The route type of the hot endpoints: a plain Starlette route, as the rest of the app sees it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope


class HotRoute(Route):
    """Records itself in `scope["route"]` like FastAPI's routes (metrics, access log and traces
    are labelled by its template), and answers only the methods given: no implicit HEAD, so
    `HEAD /` cannot record a visit."""

    def __init__(
        self, path: str, endpoint: Callable[[Request], Awaitable[Response]], *, methods: list[str]
    ) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.methods = set(methods)

    def matches(self, scope: Scope) -> tuple[Match, MutableMapping[str, Any]]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope
