"""Every route is a FastAPI route behind the same middleware stack: a user's middleware and
`dependency_overrides` reach every route, and a 500 carries its request id like any answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.routing import APIRoute
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse

from shipshape.api.deps import client_ip, get_services
from shipshape.observability.logging import ContextFilter
from tests.support.clock import at

ORIGIN = "https://dashboard.example"
REQUESTS = [
    ("GET", "/", None),
    ("GET", "/list", None),
    ("GET", "/visitors", None),
    ("PUT", "/hello/alice", {"dateOfBirth": "1990-01-01"}),
    ("GET", "/hello/alice", None),
    ("GET", "/livez", None),
    ("GET", "/readyz", None),
    ("GET", "/stats", None),
    ("GET", "/version", None),
]


async def test_user_middleware_applies_to_every_route(app_factory):
    async with app_factory() as client:
        app = client.app
        app.add_middleware(CORSMiddleware, allow_origins=[ORIGIN], allow_methods=["*"])
        for method, path, body in REQUESTS:
            response = await client.request(method, path, json=body, headers={"origin": ORIGIN})
            assert response.status_code < 400, (method, path, response.text)
            assert response.headers.get("access-control-allow-origin") == ORIGIN, (method, path)
            assert response.headers["x-request-id"]
        preflight = await client.options(
            "/hello/alice",
            headers={"origin": ORIGIN, "access-control-request-method": "PUT"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN


async def test_an_auth_middleware_guards_every_route(app_factory):
    async def require_key(request, call_next):
        if request.headers.get("x-api-key") != "let-me-in":
            return JSONResponse({"detail": "no key"}, status_code=401)
        return await call_next(request)

    async with app_factory() as client:
        client.app.add_middleware(BaseHTTPMiddleware, dispatch=require_key)
        for method, path, body in REQUESTS:
            refused = await client.request(method, path, json=body)
            assert refused.status_code == 401, (method, path)
            assert refused.headers["x-request-id"]  # the service's layer is outside it
            allowed = await client.request(
                method, path, json=body, headers={"x-api-key": "let-me-in"}
            )
            assert allowed.status_code < 400, (method, path, allowed.text)
        # Nothing reached the store while the key was missing: one visit, the allowed one.
        assert len((await client.get("/list", headers={"x-api-key": "let-me-in"})).json()) == 1


async def test_gzip_compresses_the_api_routes(app_factory):
    async with app_factory() as client:
        client.app.add_middleware(GZipMiddleware, minimum_size=10)
        for _ in range(5):
            await client.get("/")
        response = await client.get("/list", headers={"accept-encoding": "gzip"})
        assert response.headers.get("content-encoding") == "gzip"
        assert len(response.json()) == 5


async def test_dependency_overrides_reach_every_route(app_factory):
    async with app_factory() as client:
        app = client.app
        services = app.state.services
        app.dependency_overrides[client_ip] = lambda: "192.0.2.99"
        assert (await client.get("/")).json()["ip"] == "192.0.2.99"
        assert (await client.get("/list")).json()[0]["ip"] == "192.0.2.99"

        # Services with another clock: both birthday routes see it.
        frozen = dataclasses.replace(services, clock=at(dt.date(2025, 6, 15)))
        app.dependency_overrides[get_services] = lambda: frozen
        assert (
            await client.put("/hello/bob", json={"dateOfBirth": "1990-06-16"})
        ).status_code == 204
        assert (await client.get("/hello/bob")).json() == {
            "message": "Hello, bob! Your birthday is in 1 day(s)"
        }
        # 2025-06-16 is in the future only for the overridden clock.
        assert (
            await client.put("/hello/bob", json={"dateOfBirth": "2025-06-16"})
        ).status_code == 422
        app.dependency_overrides.clear()
        assert (
            await client.put("/hello/bob", json={"dateOfBirth": "2025-06-16"})
        ).status_code == 204
        assert (await client.get("/")).json()["ip"] == "203.0.113.7"


async def test_every_route_is_a_documented_fastapi_route(client):
    """One declaration per endpoint: each API route's endpoint is the function the OpenAPI
    document describes (by operation), none is served beside the framework."""
    app = client.app
    schema = (await client.get("/openapi.json")).json()
    documented = {
        (method.upper(), path): operation["operationId"]
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }
    api_routes = {
        (method, route.path): route
        for route in app.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods
    }
    assert set(documented) == set(api_routes)
    for key, route in api_routes.items():
        assert documented[key] == route.unique_id, key
    for expected in [
        ("GET", "/"),
        ("GET", "/list"),
        ("PUT", "/hello/{username}"),
        ("GET", "/livez"),
    ]:
        assert expected in documented


async def test_a_500_carries_the_request_id_in_its_answer_and_its_log(client, monkeypatch, caplog):
    services = client.app.state.services

    async def broken(**_: object) -> list[dict[str, object]]:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services.store, "visitors_page", broken)
    caplog.handler.addFilter(ContextFilter([]))  # the filter the service's log handlers have
    with caplog.at_level(logging.ERROR, logger="shipshape"):
        response = await client.get("/visitors", headers={"x-request-id": "trace-me-500"})
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert "secret internals" not in response.text
    assert response.headers["x-request-id"] == "trace-me-500"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors, "the error was not logged"
    assert all(getattr(r, "request_id", None) == "trace-me-500" for r in errors)
    metrics = (await client.get("/metrics")).text
    assert 'route="/visitors",status="5xx"' in metrics.replace('method="GET",', "")
