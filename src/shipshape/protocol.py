"""uvicorn's httptools protocol with the limits a server facing clients needs.

uvicorn (0.54) bounds neither how long a client may take to send a request nor how large its
head may be: a connection that trickles a header byte now and then (slowloris), or never
sends at all, is held forever, and a header streamed without end is buffered whole (50 MiB
of one header value grew the process by ~70 MiB). Its keep-alive timer only runs between
requests. This subclass adds, per connection:

- a head deadline: the request line and headers must be complete within
  `client_header_timeout` of the connection's accept, or of the first byte of a request on a
  kept-alive connection; else 408 (nothing if no byte came) and the connection is closed;
- a body deadline: the body must be complete within `client_body_timeout` of the head; else
  408 (if no response was started yet) and closed;
- a head size bound: more than `max_header_bytes` of request line and headers, or more than
  `max_headers` header lines, is answered 431 and the connection closed; what the client
  sends beyond is never read, so memory is bounded by the limit plus one socket read.

Idle time between requests stays governed by uvicorn's keep-alive timeout. The answers are
JSON with a `detail`, like the app's own errors.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol


@dataclass(frozen=True)
class ClientLimits:
    header_timeout: float
    body_timeout: float
    max_header_bytes: int
    max_headers: int


class HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head above the limits."""


def _error(status: int, detail: str) -> bytes:
    body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


TIMEOUT_ANSWER = _error(408, "Request timeout")
TOO_LARGE_ANSWER = _error(431, "Request header fields too large")


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Set `limits` on a subclass (`bounded_protocol`); uvicorn makes one per connection."""

    limits: ClientLimits

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._reading_head = False  # between a request's first byte and its headers' end
        self._head_started = False  # a byte of the current head arrived (408 vs silence)
        self._head_bytes = 0  # bytes read while the head was incomplete
        self._head_size = 0  # request line and headers as parsed
        self._head_lines = 0
        self._rejected = False
        # A connection that never sends a byte is a slow head too.
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def handle_websocket_upgrade(self) -> None:
        self._cancel_timers()  # the connection now belongs to the WebSocket protocol
        super().handle_websocket_upgrade()

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._rejected:
                return  # a callback answered 431 and stopped the parser
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        if self._reading_head and not self._rejected:
            # Counted per read, before the parser's callbacks see a whole header: a single
            # header streamed without end is cut here, one read past the limit.
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._reject(TOO_LARGE_ANSWER)

    def _reject(self, answer: bytes) -> None:
        self._rejected = True
        self._cancel_timers()
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()

    # Parser callbacks (httptools calls them from feed_data).
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = self._head_started = True
        self._head_bytes = self._head_size = self._head_lines = 0
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout, self._head_timed_out
            )

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_lines += 1
        self._head_size += len(name) + len(value) + 4  # ": " and CRLF
        if self._head_lines > self.limits.max_headers:
            self._reject(TOO_LARGE_ANSWER)
            raise HeadTooLarge
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        if self._head_size > self.limits.max_header_bytes:
            # The whole head came in one read: the per-read count never saw it incomplete.
            self._reject(TOO_LARGE_ANSWER)
            raise HeadTooLarge
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    # Deadlines.
    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head began while the previous response is still being produced:
            # the wait is the server's, not the client's; give the head another period.
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout, self._head_timed_out
            )
            return
        if self._head_started:
            self._reject(TIMEOUT_ANSWER)
        else:
            self._rejected = True
            self.transport.close()

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        if self.pipeline:
            # A pipelined request waits (reading paused) for the one before it to be answered:
            # the server's wait, not the client's; give the body another period.
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)
            return
        if self.cycle is not None and self.cycle.response_started:
            self._rejected = True
            self.transport.close()  # the app answered already (e.g. 413): just stop reading
        else:
            self._reject(TIMEOUT_ANSWER)


def bounded_protocol(limits: ClientLimits) -> type[BoundedHttpToolsProtocol]:
    """A protocol class for uvicorn's `http=` with these limits."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"limits": limits})
