"""Readiness: the pool serving the API answers (short timeout), schema at head, not draining,
not disabled.

Results are cached briefly so that probes and load balancers cannot hammer the database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from shipshape.core.state import RuntimeState


class Database(Protocol):
    """What readiness asks of the store serving the API (storage/store.py's `Store`)."""

    async def ping(self) -> None: ...

    async def schema_revision(self) -> str | None: ...


class Writer(Protocol):
    """A supervised background writer (storage/group_commit.py)."""

    operation: str

    @property
    def healthy(self) -> bool: ...


@dataclass(frozen=True)
class Report:
    ready: bool
    checks: dict[str, str]


class ReadinessChecker:
    def __init__(
        self,
        database: Database,
        state: RuntimeState,
        head: str | None,
        timeout: float,
        cache_seconds: float,
    ) -> None:
        self.database = database
        self.state = state
        self.head = head
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, dict[str, str]] | None = None
        self._lock = asyncio.Lock()
        # Not ready while a group-commit writer is not running (died, not yet replaced).
        self.writers: Sequence[Writer] = ()

    async def _database_checks(self) -> dict[str, str]:
        async with self._lock:  # one probe query at a time, the rest reuse its answer
            now = time.monotonic()
            if self._cached and now - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            checks: dict[str, str] = {}
            try:
                async with asyncio.timeout(self.timeout):
                    await self.database.ping()
                    checks["database"] = "ok"
                    revision = await self.database.schema_revision()
                checks["migrations"] = (
                    "ok" if revision == self.head else f"not at head ({revision or 'empty'})"
                )
            except TimeoutError:
                checks["database"] = f"timeout after {self.timeout}s"
                checks.setdefault("migrations", "unknown")
            except Exception as exc:
                checks["database"] = f"error: {exc or type(exc).__name__}"
                checks.setdefault("migrations", "unknown")
            self._cached = (time.monotonic(), checks)
            return checks

    async def check(self) -> Report:
        checks = dict(await self._database_checks())
        checks["draining"] = "yes" if self.state.draining else "no"
        checks["operator"] = "disabled" if self.state.disabled_by_operator else "enabled"
        down = [writer.operation for writer in self.writers if not writer.healthy]
        checks["writers"] = f"not running: {', '.join(down)}" if down else "ok"
        ready = (
            checks["database"] == "ok"
            and checks["migrations"] == "ok"
            and not down
            and not self.state.draining
            and not self.state.disabled_by_operator
        )
        return Report(ready=ready, checks=checks)
