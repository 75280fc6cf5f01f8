"""`shipshape serve`: uvicorn with a Kubernetes-friendly shutdown.

On SIGTERM the instance turns not-ready at once but keeps accepting and serving requests for
`drain_seconds` (endpoints and load balancers need that long to stop sending traffic), then
stops accepting, finishes in-flight requests within `shutdown_timeout_seconds`, flushes
pending visit writes, closes the pool and exits 0. A second signal exits at once.
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

import uvicorn

from shipshape.app import create_app
from shipshape.core.config import Settings
from shipshape.core.state import RuntimeState

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

    async def on_tick(self, counter: int) -> bool:
        if self.drain_deadline is not None and time.monotonic() >= self.drain_deadline:
            logger.info("drain period over: closing listeners, finishing in-flight requests")
            return True
        return await super().on_tick(counter)


def serve(settings: Settings) -> None:
    app = create_app(settings)
    state: RuntimeState = app.state.services.state
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
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
    DrainingServer(config, state, settings.drain_seconds).run()
