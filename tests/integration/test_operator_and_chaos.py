"""Operator endpoints (bearer token) and chaos endpoints (off by default, capped)."""

from __future__ import annotations

import pytest

TOKEN = "operator-token-0123456789"
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@sqlite_only
async def test_operator_endpoints_disabled_without_token(client):
    assert (await client.post("/admin/readiness/disable")).status_code == 404
    response = await client.post(
        "/admin/readiness/disable", headers={"authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 404
    assert (await client.get("/readyz")).status_code == 200


@sqlite_only
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong-token-0123456789"},
        {"authorization": TOKEN},
        {"authorization": f"Basic {TOKEN}"},
    ],
    ids=["missing", "wrong", "no-scheme", "basic"],
)
async def test_operator_rejects_bad_credentials(app_factory, headers):
    async with app_factory(admin_token=TOKEN) as client:
        response = await client.post("/admin/readiness/disable", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert TOKEN not in response.text
        assert (await client.get("/readyz")).status_code == 200


@sqlite_only
async def test_operator_drains_and_restores_readiness(app_factory):
    auth = {"authorization": f"Bearer {TOKEN}"}
    async with app_factory(admin_token=TOKEN, readiness_cache_seconds=0) as client:
        assert (await client.post("/admin/readiness/disable", headers=auth)).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["operator"] == "disabled"
        assert (await client.get("/health")).json()["status"] == "DOWN"
        assert (await client.get("/livez")).status_code == 200  # liveness unaffected
        assert (await client.post("/admin/readiness/enable", headers=auth)).status_code == 200
        assert (await client.get("/readyz")).status_code == 200


@sqlite_only
async def test_chaos_endpoints_off_by_default(client):
    assert (await client.get("/status/503")).status_code == 404
    assert (await client.get("/delay/1")).status_code == 404


@sqlite_only
async def test_chaos_status_and_delay_cap(app_factory):
    async with app_factory(chaos_enabled=True, chaos_max_delay_seconds=0.2) as client:
        assert (await client.get("/status/503")).status_code == 503
        assert (await client.get("/status/418")).status_code == 418
        assert (await client.get("/status/999")).status_code == 422
        assert (await client.get("/status/100")).status_code == 422
        delayed = await client.get("/delay/30")
        assert delayed.status_code == 200
        assert delayed.json() == {"delay_seconds": 0.2}
        assert (await client.get("/delay/-1")).status_code == 422


@sqlite_only
async def test_fault_injection_spares_probes_and_metrics(app_factory):
    auth = {"authorization": f"Bearer {TOKEN}"}
    async with app_factory(admin_token=TOKEN, chaos_enabled=True) as client:
        response = await client.put(
            "/admin/faults", headers=auth, json={"error_rate": 1.0, "latency_seconds": 999}
        )
        assert response.status_code == 200
        assert response.json()["latency_seconds"] == 10.0  # capped by chaos_max_delay_seconds
        assert (await client.get("/list")).status_code == 500
        for path in ("/livez", "/readyz", "/health", "/metrics"):
            assert (await client.get(path)).status_code == 200, path
        assert (await client.delete("/admin/faults", headers=auth)).status_code == 200
        assert (await client.get("/list")).status_code == 200


@sqlite_only
async def test_fault_injection_needs_chaos_enabled(app_factory):
    auth = {"authorization": f"Bearer {TOKEN}"}
    async with app_factory(admin_token=TOKEN) as client:
        response = await client.put("/admin/faults", headers=auth, json={"error_rate": 1.0})
        assert response.status_code == 409
        assert (await client.get("/list")).status_code == 200
        bad = await client.put("/admin/faults", headers=auth, json={"error_rate": 2})
        assert bad.status_code == 422
