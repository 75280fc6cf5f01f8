"""Prometheus metrics in a registry per app instance (no global state; one process per pod)."""

from __future__ import annotations

import platform
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import ParamSpec, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
UNMATCHED_ROUTE = "<unmatched>"
# Metric labels stay bounded whatever method a client sends: anything else counts as OTHER.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER")

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


class _Latency:
    __slots__ = ("buckets", "created", "total")

    def __init__(self, bounds: int) -> None:
        self.buckets = [0] * (bounds + 1)  # per bucket, not cumulative; the last is +Inf
        self.total = 0.0
        self.created = time.time()


class RequestMetrics(Collector):
    """The RED metrics of HTTP requests: answered requests by method, route template and
    status class, latency by method and route template, requests in progress by method.

    The request middleware updates plain numbers on the event loop and they become metric
    families when scraped, with the names, labels, buckets and samples prometheus_client's
    Counter, Histogram and Gauge would expose (tests/unit/test_request_metrics.py): those
    take a lock and check their state on every update, several times per request
    (docs/adr/0005-hot-path-below-the-framework.md, addendum 4)."""

    def __init__(self, methods: Iterable[str], buckets: Iterable[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(float(bound) for bound in buckets)
        self.in_progress: dict[str, int] = dict.fromkeys(methods, 0)
        self.answered: dict[tuple[str, str, str], list[float]] = {}  # [count, created]
        self.latency: dict[tuple[str, str], _Latency] = {}

    def finished(self, method: str, route: str, status: str, seconds: float) -> None:
        answered = self.answered.get((method, route, status))
        if answered is None:
            answered = self.answered[(method, route, status)] = [0, time.time()]
        answered[0] += 1
        latency = self.latency.get((method, route))
        if latency is None:
            latency = self.latency[(method, route)] = _Latency(len(self.bounds))
        latency.buckets[bisect_left(self.bounds, seconds)] += 1  # the first bound >= seconds
        latency.total += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "shipshape_http_requests",
            "HTTP requests answered, by method, route template and status class.",
            labels=["method", "route", "status"],
        )
        for labels, (count, created) in list(self.answered.items()):
            requests.add_metric(labels, float(count), created=created)
        yield requests
        latency = HistogramMetricFamily(
            "shipshape_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            labels=["method", "route"],
        )
        bounds = [*map(floatToGoString, self.bounds), "+Inf"]
        for (method, route), observed in list(self.latency.items()):
            cumulative, buckets = 0.0, []
            for bound, count in zip(bounds, list(observed.buckets), strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric([method, route], buckets, observed.total)
            latency.samples.append(
                Sample(
                    f"{latency.name}_created", {"method": method, "route": route}, observed.created
                )
            )
        yield latency
        in_progress = GaugeMetricFamily(
            "shipshape_http_requests_in_progress", "HTTP requests being served.", labels=["method"]
        )
        for method, count in list(self.in_progress.items()):
            in_progress.add_metric([method], float(count))
        yield in_progress


class Metrics:
    def __init__(self, version: str, commit: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http = RequestMetrics(HTTP_METHODS)
        r.register(self.http)
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
