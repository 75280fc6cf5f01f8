"""`RequestMetrics` exposes what prometheus_client's own Counter, Histogram and Gauge would.

The request middleware keeps its RED metrics as plain numbers (docs/adr/0005, addendum 4);
this pins the exposition against the library's metric objects fed the same observations."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from shipshape.observability.metrics import HTTP_METHODS, LATENCY_BUCKETS, RequestMetrics

# (method, route, status class, seconds): bucket bounds exactly, between, above the last.
OBSERVATIONS = [
    ("GET", "/livez", "2xx", 0.0004),
    ("GET", "/livez", "2xx", 0.001),
    ("GET", "/livez", "2xx", 0.0011),
    ("GET", "/", "2xx", 0.03),
    ("GET", "/", "5xx", 7.5),
    ("PUT", "/hello/{username}", "4xx", 0.0),
    ("PUT", "/hello/{username}", "2xx", 12.0),
    ("OTHER", "<unmatched>", "4xx", 0.25),
]
IN_PROGRESS = {"GET": 3, "PUT": 1}
CREATED = re.compile(rb"^(\S+_created\S*) \S+$", re.MULTILINE)


def reference() -> bytes:
    registry = CollectorRegistry()
    requests = Counter(
        "shipshape_http_requests",
        "HTTP requests answered, by method, route template and status class.",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "shipshape_http_request_duration_seconds",
        "HTTP request latency by method and route template.",
        ["method", "route"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    in_progress = Gauge(
        "shipshape_http_requests_in_progress",
        "HTTP requests being served.",
        ["method"],
        registry=registry,
    )
    for method in HTTP_METHODS:
        in_progress.labels(method)
    for method, route, status, seconds in OBSERVATIONS:
        requests.labels(method, route, status).inc()
        latency.labels(method, route).observe(seconds)
    for method, count in IN_PROGRESS.items():
        in_progress.labels(method).set(count)
    return generate_latest(registry)


def ours() -> bytes:
    registry = CollectorRegistry()
    metrics = RequestMetrics(HTTP_METHODS)
    registry.register(metrics)
    for method, route, status, seconds in OBSERVATIONS:
        metrics.finished(method, route, status, seconds)
    for method, count in IN_PROGRESS.items():
        metrics.in_progress[method] += count
    return generate_latest(registry)


def without_created_values(text: bytes) -> bytes:
    return CREATED.sub(rb"\1 <created>", text)


def test_the_exposition_is_prometheus_clients_for_the_same_observations():
    expected, got = reference(), ours()
    assert b"shipshape_http_request_duration_seconds_bucket" in expected
    assert without_created_values(got) == without_created_values(expected)


def test_created_series_carry_the_time_a_series_first_appeared():
    text = ours().decode()
    created = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if "_created{" in line]
    assert len(created) == 6 + 4  # one per counter series, one per histogram series
    assert all(value > 1.6e9 for value in created)


@pytest.mark.parametrize("seconds", [*LATENCY_BUCKETS, 0.0, 1e-9, 99.0])
def test_a_duration_on_a_bound_counts_in_that_bucket(seconds):
    """Prometheus buckets are `le` (less than or equal): a value equal to a bound is in it."""
    metrics = RequestMetrics(HTTP_METHODS)
    metrics.finished("GET", "/", "2xx", seconds)
    reference = Histogram("h", "h", buckets=LATENCY_BUCKETS, registry=CollectorRegistry())
    reference.observe(seconds)
    expected = [bucket.get() for bucket in reference._buckets]
    assert metrics.latency[("GET", "/")].buckets == expected
