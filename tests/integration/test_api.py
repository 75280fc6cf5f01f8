"""The API contract, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.support.clock import at


async def test_index_records_visit_and_greets(client):
    response = await client.get("/", headers={"user-agent": "pytest-agent"})
    assert response.status_code == 200
    body = response.json()
    assert {"message", "ip", "hostname", "version"} <= body.keys()
    assert body["ip"] == "203.0.113.7"
    visits = (await client.get("/list")).json()
    assert len(visits) == 1
    assert visits[0]["ip"] == "203.0.113.7"
    assert visits[0]["user_agent"] == "pytest-agent"
    assert visits[0]["created_at"].endswith("Z")


async def test_browser_gets_dashboard_and_visit_is_recorded(client):
    response = await client.get("/", headers={"accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert len((await client.get("/list")).json()) == 1


async def test_list_is_newest_first_plain_list_with_link_paging(client):
    for n in range(5):
        await client.get("/", headers={"user-agent": f"agent-{n}"})
    first = await client.get("/list", params={"limit": 2})
    assert isinstance(first.json(), list)
    assert [v["user_agent"] for v in first.json()] == ["agent-4", "agent-3"]
    link = first.headers["link"]
    match = re.fullmatch(r'<(/list\?[^>]+)>; rel="next"', link)
    assert match, link
    second = await client.get(match.group(1))
    assert [v["user_agent"] for v in second.json()] == ["agent-2", "agent-1"]
    third = await client.get(re.fullmatch(r"<([^>]+)>.*", second.headers["link"]).group(1))
    assert [v["user_agent"] for v in third.json()] == ["agent-0"]
    assert "link" not in third.headers


async def test_list_before_and_ip_filter(client, app_factory):
    await client.get("/")
    await client.get("/")
    ids = [v["id"] for v in (await client.get("/list")).json()]
    older = (await client.get("/list", params={"before": ids[0]})).json()
    assert [v["id"] for v in older] == ids[1:]
    assert (await client.get("/list", params={"ip": "203.0.113.7"})).json()
    assert (await client.get("/list", params={"ip": "198.51.100.1"})).json() == []


async def test_list_default_limit_is_bounded(client):
    response = await client.get("/list")
    assert response.status_code == 200
    assert response.json() == []


async def test_visitors_aggregates_per_ip(client):
    import httpx

    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=client.app, client=("198.51.100.20", 1)),
        base_url="http://shipshape.test",
    )
    await client.get("/")
    await client.get("/")
    async with other:
        await other.get("/")
    visitors = (await client.get("/visitors")).json()
    by_ip = {v["ip"]: v for v in visitors}
    assert by_ip["203.0.113.7"]["count"] == 2
    assert by_ip["198.51.100.20"]["count"] == 1
    assert by_ip["203.0.113.7"]["first_seen"] <= by_ip["203.0.113.7"]["last_seen"]
    assert visitors[0]["ip"] == "198.51.100.20"  # most recently seen first


async def test_visitors_pagination(client):
    await client.get("/")
    page = await client.get("/visitors", params={"limit": 1})
    assert len(page.json()) == 1
    nxt = re.fullmatch(r"<([^>]+)>.*", page.headers["link"]).group(1)
    assert (await client.get(nxt)).json() == []


@pytest.mark.parametrize(
    ("today", "dob", "message"),
    [
        (dt.date(2025, 6, 15), "1990-06-15", "Hello, alice! Happy birthday!"),
        (dt.date(2025, 6, 15), "1990-06-16", "Hello, alice! Your birthday is in 1 day(s)"),
        (dt.date(2025, 6, 15), "1990-06-20", "Hello, alice! Your birthday is in 5 day(s)"),
        (dt.date(2025, 6, 15), "1990-06-14", "Hello, alice! Your birthday is in 364 day(s)"),
        (dt.date(2023, 6, 15), "1990-06-14", "Hello, alice! Your birthday is in 365 day(s)"),
        # 29 February: on the day in a leap year, on 28 February otherwise.
        (dt.date(2024, 2, 29), "2000-02-29", "Hello, alice! Happy birthday!"),
        (dt.date(2025, 2, 28), "2000-02-29", "Hello, alice! Happy birthday!"),
        (dt.date(2024, 2, 28), "2000-02-29", "Hello, alice! Your birthday is in 1 day(s)"),
        (dt.date(2024, 12, 31), "1990-01-01", "Hello, alice! Your birthday is in 1 day(s)"),
    ],
)
async def test_hello_put_then_get(app_factory, today, dob, message):
    """The exact text existing clients compare, on a fixed clock ("today" is UTC)."""
    async with app_factory(clock=at(today)) as client:
        put = await client.put("/hello/alice", json={"dateOfBirth": dob})
        assert put.status_code == 204
        assert put.content == b""
        got = await client.get("/hello/alice")
        assert got.status_code == 200
        assert got.json() == {"message": message}


async def test_hello_update_replaces_the_date(app_factory):
    async with app_factory(clock=at(dt.date(2025, 6, 15))) as client:
        await client.put("/hello/bob", json={"dateOfBirth": "1990-01-01"})
        await client.put("/hello/bob", json={"dateOfBirth": "1990-06-17"})
        message = (await client.get("/hello/bob")).json()["message"]
        assert message == "Hello, bob! Your birthday is in 2 day(s)"


async def test_future_date_is_judged_by_the_service_clock(app_factory):
    clock = at(dt.date(2025, 6, 15))
    async with app_factory(clock=clock) as client:
        tomorrow = await client.put("/hello/bob", json={"dateOfBirth": "2025-06-16"})
        assert tomorrow.status_code == 422
        assert "Date of birth cannot be in the future" in tomorrow.text
        assert (
            await client.put("/hello/bob", json={"dateOfBirth": "2025-06-15"})
        ).status_code == 204
        clock.set_today(dt.date(2025, 6, 16))
        assert (
            await client.put("/hello/bob", json={"dateOfBirth": "2025-06-16"})
        ).status_code == 204


async def test_hello_unknown_user(client):
    response = await client.get("/hello/nobody")
    assert response.status_code == 404
    assert response.json() == {"detail": "User nobody not found"}


async def test_usernames_are_case_sensitive(client):
    await client.put("/hello/Carol", json={"dateOfBirth": "1990-01-01"})
    assert (await client.get("/hello/carol")).status_code == 404
    assert (await client.get("/hello/Carol")).status_code == 200


async def test_stats_has_compatibility_keys(client):
    body = (await client.get("/stats")).json()
    assert isinstance(body["cpu"], (int, float))
    assert 0 <= body["ram"] <= 100
    assert {
        "load_average",
        "disk",
        "process",
        "uptime_seconds",
        "hostname",
        "requests_total",
    } <= body.keys()


async def test_config_and_version(client):
    config = (await client.get("/config")).json()
    assert config["port"] == 8000
    assert "database_url" in config
    version = (await client.get("/version")).json()
    assert {"version", "commit", "build_date", "python"} <= version.keys()


async def test_probes(client):
    assert (await client.get("/livez")).json() == {"status": "ok"}
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["migrations"] == "ok"
    assert (await client.get("/ready")).status_code == 200
    assert (await client.get("/health")).json() == {"status": "UP"}


async def test_docs_work_offline(client):
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert asset.startswith("/"), asset
        assert (await client.get(asset)).status_code == 200, asset
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "shipshape"


async def test_request_id_propagated(client):
    response = await client.get("/livez", headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = await client.get("/livez", headers={"x-request-id": "bad id\n"})
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])


async def test_anonymised_ips(app_factory):
    async with app_factory(anonymize_ips=True, client_addr=("198.51.100.77", 1)) as client:
        assert (await client.get("/")).json()["ip"] == "198.51.100.77"
        assert (await client.get("/list")).json()[0]["ip"] == "198.51.100.0"


async def test_hot_routes_answer_wrong_methods_like_the_framework(client):
    """The hot routes are served ahead of the framework (api/routing.py); other methods on
    their paths still get the framework's 405, and HEAD / records no visit."""
    for method, path in [
        ("POST", "/"),
        ("HEAD", "/"),
        ("DELETE", "/hello/alice"),
        ("PUT", "/list"),
    ]:
        response = await client.request(method, path)
        assert response.status_code == 405, (method, path)
        assert "allow" in response.headers
    assert (await client.get("/list")).json() == []


async def test_unexpected_error_in_a_hot_route_is_a_clean_500(client, monkeypatch):
    services = client.app.state.services

    async def broken(**_: object) -> list[dict[str, object]]:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services.store, "visits_page", broken)
    response = await client.get("/list")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert "secret internals" not in response.text
    assert response.headers["x-request-id"]
