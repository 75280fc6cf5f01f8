"""FastAPI's error contract, exactly: a corpus of bad requests answered by the service and by
a plain FastAPI app declared here from the same endpoint functions and models (default route
class, default exception handlers, no middleware). Status and every `detail` entry's `loc`,
`msg` and `type` must be identical; the service may leave out `input` and `url` (they echo
client data). The service's own layers (DirectRoute, request middleware, exception handlers)
are what this compares against the framework."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from shipshape.domain.pagination import encode_cursor

JSON_TYPE = {"content-type": "application/json"}


def _body(content: bytes | str, content_type: str | None = "application/json") -> dict[str, Any]:
    headers = {} if content_type is None else {"content-type": content_type}
    return {"content": content, "headers": headers}


PUT = "PUT", "/hello/alice"
BODIES: list[tuple[str, str, dict[str, Any]]] = [
    (*PUT, _body(b"{bad json")),
    (*PUT, _body(b'{"dateOfBirth": "1990-01-01"', "application/json")),  # truncated
    (*PUT, _body(b'{"dateOfBirth": "1990-01-01"}', "text/plain")),
    (*PUT, _body(b'{"dateOfBirth": "1990-01-01"}', "text/x+json")),
    (*PUT, _body(b'{"dateOfBirth": "1990-01-01"}', None)),
    (*PUT, _body(b'{"dateOfBirth": "1990-01-01"}', "application/x-www-form-urlencoded")),
    (*PUT, _body(b'{"dateOfBirth": "1990-01-01"}', "multipart/form-data; boundary=x")),
    (*PUT, _body(b'[{"dateOfBirth": "1990-01-01"}]')),
    (*PUT, _body(b"[]")),
    (*PUT, _body(b"null")),
    (*PUT, _body(b'"1990-01-01"')),
    (*PUT, _body(b"42")),
    (*PUT, _body(b"{}")),
    (*PUT, _body(b"")),
    (*PUT, _body(b'{"dateOfBirth": "1990-13-01"}')),
    (*PUT, _body(b'{"dateOfBirth": "1990-02-30"}')),
    (*PUT, _body(b'{"dateOfBirth": "19900101"}')),
    (*PUT, _body(b'{"dateOfBirth": "1990-01-01T00:00:00"}')),
    (*PUT, _body(b'{"dateOfBirth": 631152000}')),
    (*PUT, _body(b'{"dateOfBirth": null}')),
    (*PUT, _body(b'{"dateOfBirth": ["1990-01-01"]}')),
    (*PUT, _body(b'{"dateOfBirth": "1990-01-01", "extra": 1}')),
    (*PUT, _body(b'{"date_of_birth": "1990-01-01"}')),
    (*PUT, _body(b'{"dateOfBirth": "9999-12-31"}')),  # in the future
    (*PUT, _body(b'{"dateOfBirth": "1990-01-01"}', "application/json; charset=latin-1")),
    (*PUT, _body('{"dateOfBirth": "1990-01-01\u00e9"}'.encode())),
    (*PUT, _body(b"\xff\xfe{}")),
    (*PUT, _body(b'{"dateOfBirth": "1990-01-01"}', "APPLICATION/JSON")),
    (*PUT, _body(b'{"dateOfBirth": "1990-01-01"}', "application/vnd.api+json")),
    (*PUT, _body(b'{"dateOfBirth": 1e400}')),
    (*PUT, _body(b'{"dateOfBirth": NaN}')),
]
BAD_NAMES = ["b0b", "bob!", "b%20b", "%C3%A9", "a" * 65, "bob.json", "_", "%00", "bob%0A"]
PATHS = (
    [(method, f"/hello/{name}", {}) for name in BAD_NAMES for method in ("GET",)]
    + [("PUT", f"/hello/{name}", _body(b'{"dateOfBirth": "1990-01-01"}')) for name in BAD_NAMES]
    + [
        ("PUT", "/hello/b0b", _body(b"{bad")),  # both the path and the body are wrong
        ("PUT", "/hello/b0b", _body(b'{"dateOfBirth": 1}')),
        ("GET", "/hello/", {}),
        ("GET", "/nowhere", {}),
        ("POST", "/", {}),
        ("HEAD", "/", {}),
        ("DELETE", "/hello/alice", {}),
        ("PUT", "/list", {}),
        ("PATCH", "/visitors", {}),
    ]
)
future = encode_cursor("2024-01-01T00:00:00+05:00", "198.51.100.1")
QUERIES = [
    ("GET", f"{path}?{query}", {})
    for path in ("/list", "/visitors")
    for query in [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "limit=-1",
        "limit=1.5",
        "limit=",
        "limit=10&limit=abc",
        "cursor=",
        "cursor=!!!",
        "cursor=" + "a" * 513,
        "cursor=" + encode_cursor("x"),
        "cursor=" + encode_cursor(1, 2, 3),
        "cursor=" + encode_cursor(None),
        "cursor=" + encode_cursor("not-a-time", "1.2.3.4"),
        "cursor=" + encode_cursor(-1),
        "cursor=" + encode_cursor(2**63),
        "cursor=" + encode_cursor(True),
        "cursor=W10",
        "ip=not-an-ip",
        "ip=" + "1" * 46,
        "ip=1.2.3.4.5",
        "limit=0&ip=bad&cursor=!!",
    ]
] + [
    ("GET", "/list?before=0", {}),
    ("GET", f"/list?before={2**63}", {}),
    ("GET", "/list?before=x", {}),
    ("GET", "/visitors?cursor=" + encode_cursor("0001-01-01T00:00:00+05:00", "1.2.3.4"), {}),
    ("GET", "/visitors?cursor=" + future, {}),  # offset-aware: valid, an empty page
]
HEADERS = [
    ("GET", "/", {"headers": {"x-request-id": "bad id with spaces"}}),
    ("GET", "/", {"headers": {"accept": "text/html;q=0.9"}}),
    ("GET", "/", {"headers": {"user-agent": "x" * 4000}}),
    ("GET", "/list", {"headers": {"x-forwarded-for": "garbage, 1.2.3.4"}}),
    (
        "PUT",
        "/hello/alice",
        {"headers": {"content-type": "application/json", "content-length": "x"}},
    ),
]
CORPUS = BODIES + PATHS + QUERIES + HEADERS


def reference_app(service: FastAPI) -> FastAPI:
    """Plain FastAPI from the service's own endpoint functions and models."""
    reference = FastAPI()
    reference.state.services = service.state.services
    for route in service.routes:
        if isinstance(route, APIRoute):
            reference.add_api_route(
                route.path,
                route.endpoint,
                methods=list(route.methods),
                response_model=route.response_model,
                status_code=route.status_code,
                dependencies=route.dependencies,
                response_class=route.response_class,
            )
    return reference


def _shape(response: httpx.Response) -> tuple[int, Any]:
    if response.status_code < 400:
        return response.status_code, "ok"  # bodies carry times and ids; the status matters
    if not response.content:
        return response.status_code, None
    try:
        body = response.json()
    except json.JSONDecodeError:
        return response.status_code, response.text
    detail = body.get("detail") if isinstance(body, dict) else body
    if isinstance(detail, list):
        detail = [(tuple(e["loc"]), e["msg"], e["type"]) for e in detail]
    return response.status_code, detail


@pytest.fixture
async def both(client):
    reference = reference_app(client.app)
    transport = httpx.ASGITransport(
        app=reference, client=("203.0.113.7", 51000), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://shipshape.test") as ref:
        yield client, ref


async def test_bad_requests_answer_exactly_like_fastapi(both, capsys):
    service, reference = both
    mismatches, echo_crashes = [], []
    for method, url, options in CORPUS:
        ours = _shape(await service.request(method, url, **options))
        theirs = _shape(await reference.request(method, url, **options))
        if theirs[0] == 500 and ours[0] == 422:
            # Plain FastAPI echoes `input` and cannot encode it (inf, NaN): a 500 instead of
            # its 422. The service leaves `input` out and answers the 422.
            echo_crashes.append((method, url))
        elif ours != theirs:
            mismatches.append((method, url, options, ours, theirs))
    with capsys.disabled():
        print(
            f"\nerror parity: {len(CORPUS)} requests compared, {len(mismatches)} differ, "
            f"{len(echo_crashes)} where plain FastAPI fails to encode the echoed input"
        )
    assert len(echo_crashes) <= 2, echo_crashes
    assert not mismatches, "\n".join(map(repr, mismatches))
    assert len(CORPUS) >= 100


async def test_the_corpus_hits_errors(both):
    """A corpus of requests that all succeed would prove nothing."""
    service, _ = both
    statuses = [(await service.request(m, u, **o)).status_code for m, u, o in CORPUS]
    assert sum(1 for s in statuses if s == 422) >= 60
    assert {404, 405, 422} <= set(statuses)


async def test_a_lone_surrogate_is_a_422_not_an_echo(client):
    """Plain FastAPI echoes the input back and fails to encode a lone surrogate (a 500); the
    service leaves `input` out, so it answers the 422 FastAPI means to."""
    response = await client.put(
        "/hello/alice", content=b'{"dateOfBirth": "\\ud800"}', headers=JSON_TYPE
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "dateOfBirth"], "value_error")
    assert "input" not in error
