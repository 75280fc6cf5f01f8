"""`shipshape serve` bounds what one client can hold: a request head above
SHIPSHAPE_MAX_HEADER_BYTES or with more than SHIPSHAPE_MAX_HEADERS lines is answered 431 and
read no further (memory stays bounded whatever the client streams); a head not complete within
SHIPSHAPE_CLIENT_HEADER_TIMEOUT_SECONDS, or a body not complete within
SHIPSHAPE_CLIENT_BODY_TIMEOUT_SECONDS, is answered 408 and its connection closed (slowloris);
well-behaved clients (keep-alive, pipelining, bodies) are served as before.

The real uvicorn server with the configuration `shipshape serve` uses
(`shipshape.server.uvicorn_config`), on a loopback socket, in a thread; the app is a tiny ASGI
app that reads the whole body, so only the server's limits are under test here (the service's
own app behind them: tests/faults/test_abuse.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from shipshape.core.config import Settings
from shipshape.server import uvicorn_config
from tests.support.databases import free_port

HEADER_TIMEOUT = 1.5
BODY_TIMEOUT = 1.5
SLACK = 3.0  # a loaded 2-core machine: the bound is the timeout plus this


async def reading_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, answers its size; lifespan accepted."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["path"] == "/slow":  # an answer that takes longer than both timeouts
        await asyncio.sleep(max(HEADER_TIMEOUT, BODY_TIMEOUT) * 2)
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = json.dumps({"bytes": size}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    settings = Settings(
        host="127.0.0.1",
        port=free_port(),
        client_header_timeout_seconds=HEADER_TIMEOUT,
        client_body_timeout_seconds=BODY_TIMEOUT,
    )
    running = uvicorn.Server(uvicorn_config(reading_app, settings))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert thread.is_alive(), "the server thread died"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield settings.host, settings.port
    finally:
        running.should_exit = True
        thread.join(15)


@contextlib.contextmanager
def connection(server: tuple[str, int]) -> Iterator[socket.socket]:
    sock = socket.create_connection(server, timeout=10)
    try:
        yield sock
    finally:
        sock.close()


def read_until_closed(sock: socket.socket, bound: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed
    (seconds from the call); fails if it is still open after `bound`."""
    started = time.monotonic()
    sock.settimeout(0.2)
    data = b""
    while time.monotonic() - started < bound:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return data, time.monotonic() - started
        if not chunk:
            return data, time.monotonic() - started
        data += chunk
    raise AssertionError(f"the server kept the connection open for {bound:.1f} s: {data[:200]!r}")


def responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Parse the HTTP/1.1 responses (Content-Length framed) in `data`."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:length]))
        data = rest[length:]
    return out


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response on a connection that stays open."""
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":", 1)[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
    )
    while len(body) < length:
        body += sock.recv(65536)
    return responses(head + b"\r\n\r\n" + body)[0]


def request(path: str = "/", headers: list[tuple[str, str]] = (), body: bytes = b"") -> bytes:
    method = "PUT" if body else "GET"
    lines = [f"{method} {path} HTTP/1.1", "Host: test"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_keep_alive_pipelining_and_bodies_are_served(server) -> None:
    with connection(server) as sock:
        sock.sendall(request(body=b"x" * 1000))
        assert read_response(sock)[0] == 200
        # Idle between requests longer than the header timeout: that is keep-alive (75 s),
        # not a slow head.
        time.sleep(HEADER_TIMEOUT + 0.5)
        sock.sendall(
            request() + request(body=b"y" * 10) + request(headers=[("Connection", "close")])
        )
        answers = responses(read_until_closed(sock, 10)[0])
    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert json.loads(answers[1][2]) == {"bytes": 10}


@pytest.mark.parametrize("waiting", ["head", "body"])
def test_a_pipelined_request_waiting_for_a_slow_answer_is_not_timed_out(
    server, waiting: str
) -> None:
    """The server stops reading a pipelined request while it answers the one before: that
    wait is the server's, so neither deadline runs out on the client."""
    last = request(body=b"z" * 100, headers=[("Connection", "close")])
    if waiting == "head":  # a third request begun behind a queued second one
        sent, rest = request("/slow") + request() + last[:10], last[10:]
    else:  # the second's head read and queued, its body not read until the first is answered
        split = last.index(b"\r\n\r\n") + 4
        sent, rest = request("/slow") + last[:split], last[split:]
    with connection(server) as sock:
        sock.sendall(sent)
        time.sleep(0.3)
        sock.sendall(rest)
        answers = responses(read_until_closed(sock, 20)[0])
    assert [status for status, _, _ in answers] == [200] * (3 if waiting == "head" else 2)
    assert json.loads(answers[-1][2]) == {"bytes": 100}


def test_a_head_sent_slowly_but_within_the_timeout_is_served(server) -> None:
    with connection(server) as sock:
        for byte in request(headers=[("Connection", "close")]):
            sock.sendall(bytes([byte]))
            time.sleep(HEADER_TIMEOUT / 3 / 40)
        answers = responses(read_until_closed(sock, 10)[0])
    assert [status for status, _, _ in answers] == [200]


def test_a_header_line_of_64_kib_is_answered_431(server) -> None:
    with connection(server) as sock:
        sock.sendall(request(headers=[("X-Big", "a" * 65536)]))
        answers = responses(read_until_closed(sock, 10)[0])
    assert [(status, body) for status, _, body in answers] == [
        (431, b'{"detail":"Request header fields too large"}')
    ]
    assert answers[0][1]["content-type"] == "application/json"
    assert answers[0][1]["connection"] == "close"


def test_more_header_lines_than_the_limit_are_answered_431(server) -> None:
    limit = Settings().max_headers
    with connection(server) as sock:  # Host plus limit-1: at the limit, served
        sock.sendall(
            request(headers=[(f"X-{n}", "v") for n in range(limit - 2)] + [("Connection", "close")])
        )
        assert [s for s, _, _ in responses(read_until_closed(sock, 10)[0])] == [200]
    with connection(server) as sock:
        sock.sendall(request(headers=[(f"X-{n}", "v") for n in range(limit)]))
        assert [s for s, _, _ in responses(read_until_closed(sock, 10)[0])] == [431]


def test_an_endless_head_is_cut_short_not_buffered(server) -> None:
    """32 MiB of one header value: the server answers 431 and stops reading long before."""
    sent = 0
    with connection(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\nX-Endless: ")
        with contextlib.suppress(OSError):  # the server closed: EPIPE / ECONNRESET
            for _ in range(512):
                sock.sendall(b"a" * 65536)
                sent += 65536
        data, _ = read_until_closed(sock, 10)
    assert [s for s, _, _ in responses(data)] == [431]
    # What the kernel's socket buffers absorbed after the server stopped reading, not 32 MiB.
    assert sent < 16 * 1024 * 1024


@pytest.mark.parametrize("connection_kind", ["new", "kept alive"])
def test_a_head_that_never_ends_is_answered_408_after_the_header_timeout(
    server, connection_kind: str
) -> None:
    with connection(server) as sock:
        if connection_kind == "kept alive":  # the timer starts again at a request's first byte
            sock.sendall(request())
            assert read_response(sock)[0] == 200
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n")
        stop = threading.Event()

        def trickle() -> None:  # slowloris: one byte of a header every 0.2 s
            with contextlib.suppress(OSError):
                while not stop.wait(0.2):
                    sock.sendall(b"X")

        dripping = threading.Thread(target=trickle, daemon=True)
        dripping.start()
        try:
            data, closed_after = read_until_closed(sock, HEADER_TIMEOUT + SLACK)
        finally:
            stop.set()
            dripping.join(5)
    assert [(s, b) for s, _, b in responses(data)] == [(408, b'{"detail":"Request timeout"}')]
    assert closed_after >= HEADER_TIMEOUT * 0.8  # not cut before its time


def test_a_connection_that_never_sends_is_closed_after_the_header_timeout(server) -> None:
    with connection(server) as sock:
        data, _ = read_until_closed(sock, HEADER_TIMEOUT + SLACK)
    assert data == b""  # nothing to answer: no request was started


def test_a_body_that_never_ends_is_answered_408_after_the_body_timeout(server) -> None:
    with connection(server) as sock:
        sock.sendall(b"PUT / HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        data, _ = read_until_closed(sock, BODY_TIMEOUT + SLACK)
    assert [s for s, _, _ in responses(data)] == [408]
