"""Prometheus metrics in a registry per app instance (no global state; one process per pod)."""

from __future__ import annotations

import platform
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import ParamSpec, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
UNMATCHED_ROUTE = "<unmatched>"

P = ParamSpec("P")
R = TypeVar("R")


class DbTimer:
    __slots__ = ("errors", "latency", "start")

    def __init__(self, latency: Histogram, errors: Counter) -> None:
        self.latency = latency
        self.errors = errors

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.latency.observe(time.perf_counter() - self.start)
        if exc_type is not None and issubclass(exc_type, Exception):
            self.errors.inc()


class PoolCollector(Collector):
    def __init__(self, stats: Callable[[], tuple[int, int]]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "shipshape_db_pool_connections",
            "Database connections held by the pool, by state.",
            labels=["state"],
        )
        checked_out, idle = self.stats()
        family.add_metric(["checked_out"], float(checked_out))
        family.add_metric(["idle"], float(idle))
        yield family


class Metrics:
    def __init__(self, version: str, commit: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "shipshape_http_requests",
            "HTTP requests answered, by method, route template and status class.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "shipshape_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_progress = Gauge(
            "shipshape_http_requests_in_progress",
            "HTTP requests being served.",
            ["method"],
            registry=r,
        )
        self.db_latency = Histogram(
            "shipshape_db_query_duration_seconds",
            "Database operation latency by operation.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.db_errors = Counter(
            "shipshape_db_errors",
            "Database operations that failed, by operation.",
            ["operation"],
            registry=r,
        )
        self.visits_recorded = Counter(
            "shipshape_visits_recorded", "Visits durably committed.", registry=r
        )
        self.visit_batch_size = Histogram(
            "shipshape_visit_batch_size",
            "Visits per group commit.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=r,
        )
        self.visits_rejected = Counter(
            "shipshape_visits_rejected",
            "Visits refused with 503 because the write queue was full.",
            registry=r,
        )
        self.writer_restarts = Counter(
            "shipshape_writer_restarts",
            "Group-commit writer tasks that died and were replaced, by operation.",
            ["operation"],
            registry=r,
        )
        self.ready = Gauge(
            "shipshape_ready", "1 when the instance reports ready, else 0.", registry=r
        )
        self.build_info = Info("shipshape_build", "Build information.", registry=r)
        self.build_info.info(
            {"version": version, "commit": commit, "python": platform.python_version()}
        )
        self.total_requests = 0
        self._db_children: dict[str, tuple[Histogram, Counter]] = {}

    def watch_pool(self, stats: Callable[[], tuple[int, int]]) -> None:
        """`stats` returns (checked out, idle) connections of the API's pool."""
        self.registry.register(PoolCollector(stats))

    def db_operation(self, operation: str) -> DbTimer:
        """`with metrics.db_operation("name"):` times the block, counts it as an error if it
        raises. A plain class: a generator-based context manager costs more per request."""
        # `labels()` takes a lock and builds a key on every call; a few operations exist.
        children = self._db_children.get(operation)
        if children is None:
            children = self._db_children[operation] = (
                self.db_latency.labels(operation),
                self.db_errors.labels(operation),
            )
        return DbTimer(*children)

    def timed(self, operation: str, call: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        """`call` with every call timed as one database operation: used where a call is one
        query shared by many requests (batched reads), so it is timed once, not per request."""

        async def timed_call(*args: P.args, **kwargs: P.kwargs) -> R:
            with self.db_operation(operation):
                return await call(*args, **kwargs)

        return timed_call
