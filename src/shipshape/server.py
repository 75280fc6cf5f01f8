"""`shipshape serve`: uvicorn with a Kubernetes-friendly shutdown.

On SIGTERM the instance turns not-ready at once but keeps accepting and serving requests for
`drain_seconds` (endpoints and load balancers need that long to stop sending traffic), then
stops accepting, finishes in-flight requests and flushes the pending writes within one
`shutdown_timeout_seconds` budget (the flush gets what the requests left), closes the pool
and exits 0. A second signal exits at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from shipshape.app import create_app
from shipshape.core.config import Settings
from shipshape.core.state import RuntimeState
from shipshape.protocol import ClientLimits, bounded_protocol

logger = logging.getLogger("shipshape.server")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: RuntimeState, drain_seconds: float) -> None:
        super().__init__(config)
        self.state = state
        self.drain_seconds = drain_seconds
        self.drain_deadline: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Deliberately not recorded in _captured_signals: uvicorn would re-raise the signal
        # after shutdown and the process would die by SIGTERM instead of exiting 0.
        if self.drain_deadline is None and sig == signal.SIGTERM and self.drain_seconds > 0:
            self.state.begin_drain()
            self.drain_deadline = time.monotonic() + self.drain_seconds
            logger.info("SIGTERM: not ready, draining for %.1fs", self.drain_seconds)
            return
        self.state.begin_drain()
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # One budget from here: uvicorn waits for in-flight requests within it, and the
        # lifespan's queue flush gets what is left of it (not a second full timeout).
        self.state.shutdown_deadline = (
            time.monotonic() + self.config.timeout_graceful_shutdown
            if self.config.timeout_graceful_shutdown is not None
            else None
        )
        await super().shutdown(sockets=sockets)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_deadline is not None and time.monotonic() >= self.drain_deadline:
            logger.info("drain period over: closing listeners, finishing in-flight requests")
            return True
        return await super().on_tick(counter)


def _listen_socket(host: str, port: int) -> socket.socket:
    """A listening socket with SO_REUSEPORT: several independent worker processes share the
    port and the kernel spreads connections across them (like pods behind a Service)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings, workers: int = 1) -> None:
    """One process serves by default (one per pod: metrics and drain stay per instance).
    `workers > 1` starts independent processes on a shared SO_REUSEPORT port, for using a
    whole VM; each has its own metrics, so scrape them per process or prefer replicas."""
    if workers <= 1:
        _serve_one(settings, None)
        return
    ctx = multiprocessing.get_context("spawn")
    children = [
        ctx.Process(target=_serve_one, args=(settings, True), name=f"shipshape-worker-{n}")
        for n in range(workers)
    ]
    for child in children:
        child.start()

    def forward(sig: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = []
    for child in children:
        child.join()
        codes.append(child.exitcode)
    if any(codes):
        raise SystemExit(1)


def client_limits(settings: Settings) -> ClientLimits:
    """The per-connection limits of `shipshape serve` (the benchmark's anchors use them too)."""
    return ClientLimits(
        header_timeout=settings.client_header_timeout_seconds,
        body_timeout=settings.client_body_timeout_seconds,
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
    )


def uvicorn_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    """The uvicorn configuration `shipshape serve` runs `app` with (tests run the same one)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        # httptools with per-connection limits: head/body deadlines and a head size bound.
        http=bounded_protocol(client_limits(settings)),
        lifespan="on",
        proxy_headers=False,  # client IPs are resolved by the app from trusted proxies only
        server_header=False,
        date_header=True,
        access_log=False,
        log_config=None,
        timeout_keep_alive=75,  # above typical load balancer idle timeouts (ALB: 60 s)
        timeout_graceful_shutdown=int(max(1, settings.shutdown_timeout_seconds)),
        backlog=2048,
    )


def _serve_one(settings: Settings, reuse_port: bool | None) -> None:
    if reuse_port:
        from shipshape.observability.logging import configure_logging

        configure_logging(settings.log_format, settings.log_level, settings.secret_values())
    app = create_app(settings)
    state: RuntimeState = app.state.services.state
    server = DrainingServer(uvicorn_config(app, settings), state, settings.drain_seconds)
    if reuse_port:
        server.run(sockets=[_listen_socket(settings.host, settings.port)])
    else:
        server.run()
