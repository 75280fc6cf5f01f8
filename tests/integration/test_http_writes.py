"""One socket write per response (core/http_writes.py), on a real uvicorn server and socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from shipshape.core.http_writes import CoalescingHttpToolsProtocol, CoalescingTransport


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0


async def test_headers_and_body_leave_in_one_write():
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert raw.writes == []  # held back for the body
    transport.write(b"body")
    assert raw.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    assert transport.get_write_buffer_size() == 0  # everything else reaches the transport


async def test_a_lone_write_is_sent_on_the_next_loop_turn_and_before_close():
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"headers only")
    await asyncio.sleep(0)
    assert raw.writes == [b"headers only"]
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    transport.close()
    assert raw.writes[-1] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert raw.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing left and a closed transport
    assert len(raw.writes) == 2


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first;", "more_body": True})
        await asyncio.sleep(0.5)
        await send({"type": "http.response.body", "body": b"second"})
        return
    if path == "/slow-body":
        headers = [(b"content-length", b"4")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await asyncio.sleep(0.5)
        await send({"type": "http.response.body", "body": b"late"})
        return
    body = path.encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    config = uvicorn.Config(
        app, http=CoalescingHttpToolsProtocol, loop="none", lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done()
            await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def read_until(reader: asyncio.StreamReader, marker: bytes, timeout: float) -> bytes:
    data = b""
    async with asyncio.timeout(timeout):
        while marker not in data:
            chunk = await reader.read(65536)
            assert chunk, data
            data += chunk
    return data


async def test_pipelined_requests_get_whole_responses_in_order():
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /one HTTP/1.1\r\nHost: t\r\n\r\nGET /two HTTP/1.1\r\nHost: t\r\n\r\n")
        data = await read_until(reader, b"/two", 5)
        assert data.count(b"HTTP/1.1 200 OK") == 2
        assert data.index(b"/one") < data.index(b"/two")
        writer.close()


async def test_a_response_is_one_segment_with_headers_and_body():
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(20):  # one read returns the whole response, every time
            writer.write(b"GET /whole HTTP/1.1\r\nHost: t\r\n\r\n")
            first = await asyncio.wait_for(reader.read(65536), 5)
            assert first.startswith(b"HTTP/1.1 200 OK")
            assert first.endswith(b"\r\n\r\n/whole")
        writer.close()


async def test_streaming_and_slow_bodies_are_not_held_back():
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        started = time.monotonic()
        data = await read_until(reader, b"first;", 5)
        assert time.monotonic() - started < 0.4  # long before the second chunk (0.5 s)
        assert b"second" not in data
        data += await read_until(reader, b"second", 5)
        assert b"transfer-encoding: chunked" in data

        writer.write(b"GET /slow-body HTTP/1.1\r\nHost: t\r\n\r\n")
        started = time.monotonic()
        data = await read_until(reader, b"\r\n\r\n", 5)  # the headers come at once
        assert time.monotonic() - started < 0.4
        assert (await read_until(reader, b"late", 5)).endswith(b"late")
        writer.close()
