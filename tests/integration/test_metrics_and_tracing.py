"""Metrics labels stay bounded; tracing emits HTTP and database spans, and loads nothing when off."""

from __future__ import annotations

import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def samples(text: str, name: str) -> list:
    return [
        s
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


@sqlite_only
async def test_route_templates_and_bounded_cardinality(client):
    await client.get("/hello/alice")
    await client.get("/hello/bob")
    for n in range(20):
        await client.get(f"/random/path/{n}")
    text = (await client.get("/metrics")).text
    routes = {s.labels["route"] for s in samples(text, "shipshape_http_requests_total")}
    assert "/hello/{username}" in routes
    assert "<unmatched>" in routes
    assert not any(route.startswith("/random") for route in routes)
    unmatched = [
        s
        for s in samples(text, "shipshape_http_requests_total")
        if s.labels["route"] == "<unmatched>"
    ]
    assert unmatched[0].labels["status"] == "4xx"
    assert unmatched[0].value == 20
    assert samples(text, "shipshape_build_info")[0].labels["version"]
    assert {s.labels["state"] for s in samples(text, "shipshape_db_pool_connections")} == {
        "checked_out",
        "idle",
    }


@sqlite_only
async def test_visits_and_db_metrics(client):
    for _ in range(3):
        await client.get("/")
    text = (await client.get("/metrics")).text
    assert samples(text, "shipshape_visits_recorded_total")[0].value == 3
    operations = {
        s.labels["operation"] for s in samples(text, "shipshape_db_query_duration_seconds_count")
    }
    assert "insert_visits" in operations


@sqlite_only
async def test_batched_birthday_reads_are_timed_per_query(client):
    await client.put("/hello/alice", json={"dateOfBirth": "1990-01-01"})
    for _ in range(3):
        assert (await client.get("/hello/alice")).status_code == 200
    text = (await client.get("/metrics")).text
    counts = {
        s.labels["operation"]: s.value
        for s in samples(text, "shipshape_db_query_duration_seconds_count")
    }
    assert 1 <= counts["get_birthdays"] <= 3  # one per query (sequential GETs: one each)
    assert "get_birthday" not in counts


async def test_tracing_produces_http_and_db_spans(make_settings):
    import httpx
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from shipshape.app import create_app
    from shipshape.observability.tracing import instrument

    settings = make_settings(otel_service_name="shipshape-test")
    app = create_app(settings)
    exporter = InMemorySpanExporter()
    instrument(app, app.state.services.engine, settings, processor=SimpleSpanProcessor(exporter))
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                await client.put("/hello/alice", json={"dateOfBirth": "2000-01-01"})
                await client.get("/hello/alice")
                await client.get("/livez")
    finally:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        # Both are process-wide singletons: undo them so the next database's app is traced.
        AsyncPGInstrumentor().uninstrument()
        SQLAlchemyInstrumentor().uninstrument()
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind.name == "SERVER"]
    assert any(s.name == "GET /hello/{username}" for s in server), [s.name for s in server]
    get_span = next(s for s in server if s.name == "GET /hello/{username}")
    assert get_span.attributes.get("http.route") == "/hello/{username}"
    assert get_span.resource.attributes["service.name"] == "shipshape-test"
    system = app.state.services.store.dialect  # sqlite, postgresql or mysql
    db = [s for s in spans if s.kind.name == "CLIENT" and s.attributes.get("db.system") == system]
    assert db, [s.name for s in spans]
    assert any(s.context.trace_id == get_span.context.trace_id for s in db)
    assert not any("/livez" in s.name for s in spans)  # probes are not traced


def test_tracing_off_loads_no_tracing_machinery(tmp_path):
    """Off means no SDK, exporter or instrumentation is imported or configured. (FastAPI itself
    imports the no-op opentelemetry *API* when the package is installed; that records nothing.)"""
    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from shipshape.app import create_app\n"
        "from shipshape.core.config import Settings\n"
        f"app = create_app(Settings(database_url='sqlite:///{tmp_path}/x.db'))\n"
        "TestClient(app).get('/livez')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', "
        "'opentelemetry.exporter', 'opentelemetry.instrumentation', 'shipshape.observability.tracing'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


@sqlite_only
async def test_liveness_answers_get_and_head_on_both_paths(client):
    from shipshape.api.routes.probes import livez

    fast = await client.get("/livez", headers={"x-request-id": "probe-1"})
    assert (await client.head("/livez")).status_code == 200
    reference = await livez()
    assert fast.status_code == reference.status_code == 200
    assert fast.content == reference.body
    assert fast.headers["content-type"] == "application/json"
    assert fast.headers["x-request-id"] == "probe-1"
    assert (await client.head("/healthz")).status_code == 200
    assert (await client.post("/livez")).status_code == 405  # other methods reach the router
    text = (await client.get("/metrics")).text
    routes = {s.labels["route"] for s in samples(text, "shipshape_http_requests_total")}
    assert {"/livez", "/healthz"} <= routes
