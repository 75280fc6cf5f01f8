"""Random error / latency injection (operator-controlled), never on probes or /metrics."""

from __future__ import annotations

import asyncio
import random

from starlette.types import ASGIApp, Receive, Scope, Send

from shipshape.core.state import RuntimeState

EXEMPT_PREFIXES = ("/livez", "/healthz", "/readyz", "/ready", "/health", "/metrics", "/admin")
FAULT_BODY = b'{"detail":"Injected fault"}'


class FaultInjectionMiddleware:
    def __init__(self, app: ASGIApp, state: RuntimeState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.state.faults
        if (
            scope["type"] != "http"
            or not faults.active
            or scope["path"].startswith(EXEMPT_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        if faults.latency_rate and random.random() < faults.latency_rate:
            await asyncio.sleep(faults.latency_seconds)
        if faults.error_rate and random.random() < faults.error_rate:
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": FAULT_BODY})
            return
        await self.app(scope, receive, send)
