"""GET / (record a visit), /list and /visitors (keyset-paginated, bounded)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel
from starlette.types import Scope

from shipshape import __version__
from shipshape.api.deps import Services, ServicesDep
from shipshape.api.params import MAX_ID, ListQuery, list_query
from shipshape.api.responses import JSON
from shipshape.api.routing import HotRoute
from shipshape.domain.network import anonymize_ip
from shipshape.domain.pagination import InvalidCursor, decode_cursor, encode_cursor
from shipshape.storage.repositories import NewVisit

router = APIRouter(tags=["visits"])
HOSTNAME = socket.gethostname()

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (1-1000).")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="Opaque cursor from the Link header.")
]


class Greeting(BaseModel):
    message: str
    ip: str
    hostname: str
    version: str
    environment: str
    time: dt.datetime


class VisitOut(BaseModel):
    id: int
    ip: str
    user_agent: str | None
    created_at: dt.datetime


class VisitorOut(BaseModel):
    ip: str
    count: int
    first_seen: dt.datetime
    last_seen: dt.datetime


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _user_agent_and_accept(scope: Scope) -> tuple[str | None, str]:
    """The two headers `GET /` reads, in one pass over the raw list (Starlette's `Headers`
    would build an object and scan the list once per header). The first of repeats wins."""
    user_agent: str | None = None
    accept: str | None = None
    for key, value in scope["headers"]:
        if key == b"user-agent":
            if user_agent is None:
                user_agent = value.decode("latin-1")
        elif key == b"accept" and accept is None:
            accept = value.decode("latin-1")
    return user_agent, accept or ""


def _next_link(request: Request, cursor: str) -> str:
    params = {k: v for k, v in request.query_params.items() if k not in ("cursor", "before")}
    params["cursor"] = cursor
    return f'<{request.url.path}?{urlencode(params)}>; rel="next"'


def _query_ip(ip: str | None) -> str | None:
    if ip is None:
        return None
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        raise HTTPException(
            422,
            [
                {
                    "loc": ["query", "ip"],
                    "msg": "Value is not a valid IP address",
                    "type": "value_error",
                }
            ],
        ) from None


def _cursor_error() -> HTTPException:
    return HTTPException(
        422, [{"loc": ["query", "cursor"], "msg": "Invalid cursor", "type": "value_error"}]
    )


# The documented contract of the hot routes. `routes` below serves them as plain Starlette
# endpoints (FastAPI's per-request machinery costs more than the work; ADR 0005), validating
# with the same types (api/params.py); app.py adds this router to the OpenAPI document only.
contract = APIRouter(tags=["visits"])


@contract.get(
    "/", response_model=Greeting, summary="Record a visit and greet (browsers get the dashboard)"
)
async def index() -> None:
    """Records the visit durably (group commit) before answering."""


@contract.get("/list", response_model=list[VisitOut], summary="Recorded visits, newest first")
async def list_visits(query: Annotated[ListQuery, Query()]) -> None:
    """Keyset-paginated: follow the `Link: <...>; rel="next"` header."""


async def serve_index(request: Request) -> Response:
    services: Services = request.app.state.services
    now = utcnow()
    ip = request.scope["state"].get("client_ip") or "unknown"
    stored_ip = anonymize_ip(ip) if services.settings.anonymize_ips else ip
    user_agent, accept = _user_agent_and_accept(request.scope)
    await services.writer.record(
        NewVisit(ip=stored_ip, user_agent=user_agent[:512] if user_agent else None, created_at=now)
    )
    if "text/html" in accept:
        from shipshape.web import dashboard_response

        return dashboard_response(request)
    return JSON(
        {
            "message": "Hello from shipshape!",
            "ip": ip,
            "hostname": HOSTNAME,
            "version": __version__,
            "environment": services.settings.environment,
            "time": now,
        }
    )


async def serve_list_visits(request: Request) -> Response:
    services: Services = request.app.state.services
    query = list_query(request.query_params)
    before_id = query.before
    if query.cursor is not None:
        try:
            (before_id,) = decode_cursor(query.cursor, (int,))
            if not 1 <= before_id <= MAX_ID:
                raise InvalidCursor("out of range")
        except InvalidCursor:
            raise _cursor_error() from None
    ip = _query_ip(query.ip)
    with services.metrics.db_operation("list_visits"):
        rows = await services.store.visits_page(limit=query.limit, before_id=before_id, ip=ip)
    headers = {}
    if len(rows) == query.limit:
        headers["Link"] = _next_link(request, encode_cursor(rows[-1]["id"]))
    return JSON(rows, headers=headers)


routes = [
    HotRoute("/", serve_index, methods=["GET"]),
    HotRoute("/list", serve_list_visits, methods=["GET"]),
]


@router.get("/visitors", response_model=list[VisitorOut], summary="Per-IP visit aggregates")
async def list_visitors(
    request: Request,
    services: ServicesDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    ip: Annotated[str | None, Query(max_length=45, description="Only this address.")] = None,
) -> Response:
    after: tuple[dt.datetime, str] | None = None
    if cursor is not None:
        try:
            last_seen, last_ip = decode_cursor(cursor, (str, str))
            after = (dt.datetime.fromisoformat(last_seen), last_ip)
        except (InvalidCursor, ValueError):
            raise _cursor_error() from None
    with services.metrics.db_operation("list_visitors"):
        rows: list[dict[str, Any]] = await services.store.visitors_page(
            limit=limit, after=after, ip=_query_ip(ip)
        )
    headers = {}
    if len(rows) == limit:
        last = rows[-1]
        headers["Link"] = _next_link(
            request, encode_cursor(last["last_seen"].isoformat(), last["ip"])
        )
    return JSON(rows, headers=headers)
