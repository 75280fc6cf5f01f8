"""One pure-ASGI middleware for the per-request cross-cutting work: request id, client address,
body limit, RED metrics per route template, access log, and Connection: close while draining.

It is the first layer inside Starlette's error middleware and answers an unexpected error
itself, with the app's error handler, so every response (a 500 included) carries
`X-Request-ID` and every log line of the request, the error's included, carries its id.
Pure ASGI (not BaseHTTPMiddleware) keeps it cheap and streaming-safe."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipshape.core.state import RuntimeState
from shipshape.domain.network import IPNetwork, TrustedProxies, forwarded_chain
from shipshape.observability.logging import log_access, request_id_var
from shipshape.observability.metrics import HTTP_METHODS, UNMATCHED_ROUTE, Metrics

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
KNOWN_METHODS = frozenset(HTTP_METHODS) - {"OTHER"}
TOO_LARGE = b'{"detail":"Request body too large"}'


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        error_handler: Callable[[Request, Exception], Awaitable[Response]] | None,
        metrics: Metrics,
        state: RuntimeState,
        trusted_proxies: list[IPNetwork],
        forwarded_header: str,
        max_body_bytes: int,
        access_log: bool,
    ) -> None:
        self.app = app
        self.error_handler = error_handler
        self.metrics = metrics
        self.state = state
        self.trusted_proxies = TrustedProxies(trusted_proxies)
        self.forwarded_header_name = forwarded_header
        self.forwarded_header = forwarded_header.encode("latin-1")
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming_id: str | None = None
        user_agent: str | None = None
        declared_length: str | None = None
        chunked = False
        forwarded: list[str] = []
        for key, raw in scope["headers"]:
            if key == self.forwarded_header:
                forwarded.append(raw.decode("latin-1"))  # every line, in order
            elif key == b"x-request-id" and incoming_id is None:
                incoming_id = raw.decode("latin-1")
            elif key == b"user-agent" and user_agent is None:
                user_agent = raw.decode("latin-1")
            elif key == b"content-length" and declared_length is None:
                declared_length = raw.decode("latin-1")
            elif key == b"transfer-encoding":
                chunked = True
        request_id = (
            incoming_id if incoming_id and REQUEST_ID.match(incoming_id) else secrets.token_hex(16)
        )
        token = request_id_var.set(request_id)
        peer = scope["client"][0] if scope.get("client") else None
        client_ip = self.trusted_proxies.client_ip(
            peer, forwarded_chain(self.forwarded_header_name, forwarded)
        )
        scope.setdefault("state", {})["client_ip"] = client_ip
        scope["state"]["request_id"] = request_id
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        status = 500
        response_started = False
        rejected = False
        http = self.metrics.http
        http.in_progress[method] += 1
        self.metrics.total_requests += 1

        if (
            declared_length is not None
            and declared_length.isdigit()
            and int(declared_length) > self.max_body_bytes
        ):
            await self._reject_too_large(send, request_id)
            status, response_started = 413, True
            receive_checked = receive
        elif declared_length is None and not chunked:
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
                except Exception as exc:
                    if rejected:
                        pass  # the 413 is the answer; the app failed reading the cut body
                    elif response_started or self.error_handler is None:
                        raise  # too late to answer: the server closes the connection
                    else:
                        # The handler logs the error under this request's id and answers
                        # 500; the error is not raised further, so nothing logs it twice.
                        response = await self.error_handler(Request(scope), exc)
                        await response(scope, receive, send_wrapped)
        finally:
            duration = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            status_class = STATUS_CLASSES.get(status // 100, "5xx")
            http.in_progress[method] -= 1
            http.finished(method, template, status_class, duration)
            if self.access_log:
                log_access(
                    {
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(duration * 1000, 2),
                        "client_ip": client_ip,
                        "user_agent": user_agent,
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
