"""Mutable runtime state of one instance: drain and operator switches, injected faults."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Faults:
    error_rate: float = 0.0
    latency_rate: float = 0.0
    latency_seconds: float = 0.0

    @property
    def active(self) -> bool:
        return self.error_rate > 0 or self.latency_rate > 0


@dataclass
class RuntimeState:
    started_at: float = field(default_factory=time.time)
    draining: bool = False
    disabled_by_operator: bool = False
    faults: Faults = field(default_factory=Faults)
    # time.monotonic() by which shutdown must be over, set when the server stops accepting:
    # finishing in-flight requests and flushing the write queues share this one budget.
    shutdown_deadline: float | None = None

    def begin_drain(self) -> None:
        self.draining = True

    def shutdown_budget(self, total: float) -> float:
        """Seconds left of the shutdown budget; all of `total` if the server set no deadline
        (another ASGI server, a test client)."""
        if self.shutdown_deadline is None:
            return total
        return max(0.0, self.shutdown_deadline - time.monotonic())
