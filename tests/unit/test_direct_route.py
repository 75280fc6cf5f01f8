"""DirectRoute serves the requests FastAPI would accept by calling the endpoint itself, and
hands everything else to FastAPI's own handler (api/routing.py; docs/adr/0005 addendum 2)."""

from __future__ import annotations

from typing import Annotated

import fastapi.routing
import pytest
from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shipshape.api.responses import JSON
from shipshape.api.routing import DirectRoute


class Body(BaseModel):
    n: int


async def who(request: Request) -> str:
    return "direct"


async def endpoint(
    name: str,
    body: Body,
    caller: Annotated[str, Depends(who)],
    x_tag: Annotated[str | None, Header()] = None,
) -> Response:
    return JSON({"name": name, "n": body.n, "caller": caller, "tag": x_tag})


async def returns_dict(name: str) -> dict[str, str]:
    return {"name": name}


@pytest.fixture
def solved(monkeypatch):
    """How many requests reached FastAPI's dependency solver."""
    calls = []
    original = fastapi.routing.solve_dependencies

    async def counting(*args, **kwargs):
        calls.append(kwargs.get("request"))
        return await original(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return calls


def _app(route_class: type[APIRoute]) -> FastAPI:
    app = FastAPI()
    app.router.route_class = route_class
    app.add_api_route("/items/{name}", endpoint, methods=["PUT"])
    app.add_api_route("/plain/{name}", returns_dict, methods=["GET"])
    return app


def test_valid_requests_skip_the_solver_and_answer_like_fastapi(solved):
    direct, plain = TestClient(_app(DirectRoute)), TestClient(_app(APIRoute))
    request = {"json": {"n": 3}, "headers": {"x-tag": "t"}}
    ours = direct.put("/items/a", **request)
    assert solved == []
    theirs = plain.put("/items/a", **request)
    assert len(solved) == 1
    assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json())
    assert ours.json() == {"name": "a", "n": 3, "caller": "direct", "tag": "t"}


@pytest.mark.parametrize(
    ("request_options", "solver_calls"),
    [
        ({"json": {"n": "x"}}, 1),
        # FastAPI rejects malformed JSON while reading the body, before its solver runs.
        ({"content": b"{bad", "headers": {"content-type": "application/json"}}, 0),
        ({"content": b'{"n": 1}', "headers": {"content-type": "text/plain"}}, 1),
        ({"content": b'{"n": 1}', "headers": {"content-type": "application/vnd.x+json"}}, 1),
        ({"content": b""}, 1),
    ],
)
def test_anything_else_goes_to_fastapi(solved, request_options, solver_calls):
    direct, plain = TestClient(_app(DirectRoute)), TestClient(_app(APIRoute))
    ours = direct.put("/items/a", **request_options)
    assert len(solved) == solver_calls  # FastAPI's handler answered
    theirs = plain.put("/items/a", **request_options)
    assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json())


def test_dependency_overrides_go_through_fastapi(solved):
    app = _app(DirectRoute)

    async def other() -> str:
        return "override"

    app.dependency_overrides[who] = other
    response = TestClient(app).put("/items/a", json={"n": 1})
    assert response.json()["caller"] == "override"
    assert len(solved) == 1


def test_endpoints_not_returning_a_response_are_fastapis(solved):
    response = TestClient(_app(DirectRoute)).get("/plain/a")
    assert response.json() == {"name": "a"}
    assert len(solved) == 1
