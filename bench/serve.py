"""Serve any ASGI app the way `shipshape serve` does, for the anchors.

Same uvicorn settings as src/shipshape/server.py (uvloop, httptools with the same
per-connection limits (`shipshape.protocol`, default settings), no server header, no
uvicorn access log, backlog 2048, keep-alive 75 s, start-up heap frozen) and the same process
model: N independent processes on one SO_REUSEPORT port.
Usage: python -m bench.serve MODULE:APP --port P --workers N
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import signal
import socket
from types import FrameType

import uvicorn

from shipshape.core.config import Settings
from shipshape.core.heap import freeze_startup_heap
from shipshape.protocol import bounded_protocol
from shipshape.server import client_limits


def _socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _load(target: str) -> object:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr or "app")


class Server(uvicorn.Server):
    """Like `shipshape serve`, the heap alive after start-up is frozen (src/shipshape/server.py)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        freeze_startup_heap()


def anchor_config(app: object, host: str, port: int) -> uvicorn.Config:
    """The uvicorn configuration of an anchor (tests compare it with `uvicorn_config`)."""
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        loop="uvloop",
        http=bounded_protocol(client_limits(Settings())),
        lifespan="auto",
        proxy_headers=False,
        server_header=False,
        date_header=True,
        access_log=False,
        log_config=None,
        log_level="warning",
        timeout_keep_alive=75,
        backlog=2048,
    )


def serve_one(target: str, host: str, port: int) -> None:
    Server(anchor_config(_load(target), host, port)).run(sockets=[_socket(host, port)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.workers <= 1:
        serve_one(args.target, args.host, args.port)
        return
    ctx = multiprocessing.get_context("spawn")
    children = [
        ctx.Process(target=serve_one, args=(args.target, args.host, args.port))
        for _ in range(args.workers)
    ]
    for child in children:
        child.start()

    def forward(sig: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                child.terminate()

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.join()


if __name__ == "__main__":
    main()
