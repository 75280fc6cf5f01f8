"""One pure-ASGI middleware for the per-request cross-cutting work: request id, body limit,
RED metrics per route template, access log, and Connection: close while draining.

Pure ASGI (not BaseHTTPMiddleware) keeps it cheap on the hot path and streaming-safe."""

from __future__ import annotations

import functools
import os
import random
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipshape.core.state import RuntimeState
from shipshape.domain.network import forwarded_for_chain, resolve_client_ip
from shipshape.observability.logging import log_access, request_id_var
from shipshape.observability.metrics import UNMATCHED_ROUTE, Metrics

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
TOO_LARGE = b'{"detail":"Request body too large"}'
# Request ids need uniqueness, not secrecy: a generator seeded once from the OS, instead of a
# getrandom() system call per request.
_ids = random.Random(os.urandom(32))


_READ_HEADERS = frozenset(
    {
        b"x-request-id",
        b"x-forwarded-for",
        b"forwarded",
        b"content-length",
        b"transfer-encoding",
        b"user-agent",
    }
)


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        state: RuntimeState,
        trusted_proxies: list[Any],
        max_body_bytes: int,
        access_log: bool,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.state = state
        self.trusted_proxies = trusted_proxies
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log
        # Both caches are bounded by what they key on: a few peers and header values, and
        # method x route template x status class.
        self._client_ip = functools.lru_cache(maxsize=4096)(self._resolve_client_ip)
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._in_progress: dict[str, Any] = {}

    def _resolve_client_ip(self, peer: str | None, xff: str | None, fwd: str | None) -> str:
        return resolve_client_ip(peer, forwarded_for_chain(xff, fwd), self.trusted_proxies)

    def _observe(self, method: str, template: str, status_class: str, duration: float) -> None:
        key = (method, template, status_class)
        children = self._children.get(key)
        if children is None:
            children = (
                self.metrics.requests.labels(method, template, status_class),
                self.metrics.latency.labels(method, template),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(duration)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers: dict[bytes, str] = {}
        for key, value in scope["headers"]:  # one pass; the first of repeated headers wins
            if key in _READ_HEADERS and key not in headers:
                headers[key] = value.decode("latin-1")
        incoming = headers.get(b"x-request-id")
        request_id = (
            incoming if incoming and REQUEST_ID.match(incoming) else f"{_ids.getrandbits(128):032x}"
        )
        token = request_id_var.set(request_id)
        peer = scope["client"][0] if scope.get("client") else None
        client_ip = self._client_ip(
            peer, headers.get(b"x-forwarded-for"), headers.get(b"forwarded")
        )
        scope.setdefault("state", {})["client_ip"] = client_ip
        scope["state"]["request_id"] = request_id
        method = scope["method"]
        status = 500
        response_started = False
        rejected = False
        in_progress = self._in_progress.get(method)
        if in_progress is None:
            in_progress = self._in_progress[method] = self.metrics.in_progress.labels(method)
        in_progress.inc()
        self.metrics.total_requests += 1

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._reject_too_large(send, request_id)
            status, response_started = 413, True
            receive_checked = receive
        elif declared is None and b"transfer-encoding" not in headers:
            receive_checked = receive  # no body to count (RFC 9112 §6.3)
        else:
            received = 0

            async def receive_checked() -> Message:
                nonlocal received, status, response_started, rejected
                if rejected:
                    return {"type": "http.disconnect"}
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body_bytes:
                        # Answer now and make the app see a disconnect: frameworks turn
                        # exceptions raised while reading a body into a vague 400.
                        rejected = True
                        if not response_started:
                            await self._reject_too_large(send, request_id)
                            status, response_started = 413, True
                        return {"type": "http.disconnect"}
                return message

        async def send_wrapped(message: Message) -> None:
            nonlocal status, response_started
            if rejected:
                return  # the 413 has been sent; drop whatever the app answers
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                if self.state.draining:
                    headers.append((b"connection", b"close"))
                message["headers"] = headers
            await send(message)

        try:
            if status != 413:
                try:
                    await self.app(scope, receive_checked, send_wrapped)
                except Exception:
                    if not rejected:
                        raise
        finally:
            duration = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            if status == 404 and route is None:
                template = UNMATCHED_ROUTE
            status_class = STATUS_CLASSES.get(status // 100, "5xx")
            self._observe(method, template, status_class, duration)
            in_progress.dec()
            if self.access_log:
                log_access(
                    {
                        "method": method,
                        "path": scope["path"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(duration * 1000, 2),
                        "client_ip": client_ip,
                        "user_agent": headers.get(b"user-agent"),
                    }
                )
            request_id_var.reset(token)

    async def _reject_too_large(self, send: Send, request_id: str) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(TOO_LARGE)).encode()),
                    (b"x-request-id", request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": TOO_LARGE})
