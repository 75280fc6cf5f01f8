"""DirectRoute serves the requests FastAPI would accept by calling the endpoint itself, and
hands everything else to FastAPI's own handler (api/routing.py; docs/adr/0005 addendum 2)."""

from __future__ import annotations

from typing import Annotated

import fastapi.routing
import pytest
from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import AliasChoices, BaseModel

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


class Conflict(Exception):
    pass


async def raises(kind: str) -> Response:
    if kind == "http":
        from fastapi import HTTPException

        raise HTTPException(status_code=409, detail="taken", headers={"x-why": "taken"})
    raise Conflict(kind)


async def sees_scope(request: Request) -> Response:
    return JSON({"exit_stacks": "fastapi_inner_astack" in request.scope})


def _raising_app(route_class: type[APIRoute]) -> FastAPI:
    app = FastAPI()
    app.router.route_class = route_class

    async def conflict(_request: Request, exc: Exception) -> Response:
        return JSON({"conflict": str(exc)}, status_code=409)

    app.add_exception_handler(Conflict, conflict)
    app.add_api_route("/raise/{kind}", raises, methods=["GET"])
    app.add_api_route("/scope", sees_scope, methods=["GET"])
    return app


@pytest.mark.parametrize("kind", ["http", "custom"])
def test_errors_raised_by_endpoints_meet_the_same_handlers(kind):
    ours = TestClient(_raising_app(DirectRoute)).get(f"/raise/{kind}")
    theirs = TestClient(_raising_app(APIRoute)).get(f"/raise/{kind}")
    assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json())
    assert ours.headers.get("x-why") == theirs.headers.get("x-why")


def test_direct_routes_run_without_fastapis_per_request_exit_stacks():
    """The route's own ASGI app replaces FastAPI's request wrapper (docs/adr/0005, addendum
    3): its exit stacks serve only what the binder hands to FastAPI (yield dependencies)."""
    assert TestClient(_raising_app(DirectRoute)).get("/scope").json() == {"exit_stacks": False}
    assert TestClient(_raising_app(APIRoute)).get("/scope").json() == {"exit_stacks": True}


async def many_params(
    tag: int,
    q: str = "x",
    n: Annotated[int | None, fastapi.Query(ge=0, le=9)] = None,
    named: Annotated[str | None, fastapi.Query(alias="the-name")] = None,
    chosen: Annotated[
        str | None, fastapi.Query(validation_alias=AliasChoices("first", "second"))
    ] = None,
    user_agent: Annotated[str | None, Header()] = None,
    x_kept: Annotated[str | None, Header(convert_underscores=False)] = None,
    x_needed: Annotated[str, Header()] = "d",
    x_default: Annotated[int, Header()] = 3,
) -> Response:
    return Response()


async def with_list(
    tag: int, many: Annotated[list[int] | None, fastapi.Query()] = None
) -> Response:
    return Response()


QUERIES = [
    "",
    "tag=1",
    "tag=x",
    "tag=1&q=",
    "tag=1&q=a&q=b",
    "tag=1&n=3",
    "tag=1&n=10",
    "tag=1&n=-1",
    "tag=1&n=",
    "tag=1&the-name=a",
    "tag=1&named=a",
    "tag=1&second=b",
    "tag=1&first=a&second=b",
    "tag=1&many=1&many=2",
    "tag=1&many=x",
    "tag=1&many=",
]
HEADERS = [
    {},
    {"user-agent": "wrk"},
    {"User-Agent": "a", "x_kept": "k"},
    {"x-kept": "k"},
    {"x-needed": ""},
    {"x-default": "7"},
    {"x-default": "seven"},
]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("headers", HEADERS, ids=str)
def test_compiled_parameter_readers_bind_what_fastapi_binds(query, headers):
    """Values and errors of the per-route readers equal `request_params_to_args` (FastAPI's
    own, which works the same things out per request), for query and header parameters:
    plain values, defaults, bounds, aliases, alias choices, lists, underscores kept."""
    from fastapi.dependencies.utils import request_params_to_args
    from starlette.datastructures import Headers, QueryParams

    from shipshape.api.routing import _param_reader

    route = APIRoute("/p", many_params, methods=["GET"])
    received = {
        "query": QueryParams(query),
        "header": Headers({k.lower(): v for k, v in headers.items()}),
    }
    for fields, kind in (
        (route.dependant.query_params, "query"),
        (route.dependant.header_params, "header"),
    ):
        assert fields
        got = _param_reader(fields)(received[kind])
        assert got == request_params_to_args(fields, received[kind])


def test_compiled_readers_are_used_for_plain_parameters_only():
    """Lists (and parameter models, JSON values) keep FastAPI's own function: the reader of
    a group with one of them is FastAPI's; a group of plain values gets the compiled one."""
    from fastapi.dependencies.utils import request_params_to_args
    from starlette.datastructures import QueryParams

    from shipshape.api.routing import _param_reader

    listed = _param_reader(APIRoute("/p", with_list, methods=["GET"]).dependant.query_params)
    plain = _param_reader(APIRoute("/p", many_params, methods=["GET"]).dependant.query_params)
    assert "request_params_to_args" in listed.__code__.co_names
    assert "request_params_to_args" not in plain.__code__.co_names
    for query in QUERIES:
        fields = APIRoute("/p", with_list, methods=["GET"]).dependant.query_params
        assert listed(QueryParams(query)) == request_params_to_args(fields, QueryParams(query))
