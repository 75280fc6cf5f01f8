"""Liveness answered in front of the framework.

Kubelets, load balancers and uptime checks call `/livez` constantly; it must stay cheap and
answer whatever the routing and dependency machinery is doing. This layer sits inside the
request middleware (so request id, access log and metrics still apply) and answers the
liveness paths without entering FastAPI's router. The FastAPI route of the same path stays
for the OpenAPI document and as the behaviour reference (`tests/` compare the two).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

BODY = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


@dataclass(frozen=True)
class _Route:
    """What the metrics middleware reads from scope["route"]: the route template."""

    path: str


class LivenessFastPath:
    PATHS = frozenset({"/livez", "/healthz"})

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.routes = {path: _Route(path) for path in self.PATHS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] == "http" and path in self.PATHS and scope["method"] in ("GET", "HEAD"):
            scope["route"] = self.routes[path]
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            body = b"" if scope["method"] == "HEAD" else BODY
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
