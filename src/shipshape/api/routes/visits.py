"""GET / (record a visit), /list and /visitors (keyset-paginated, bounded)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel

from shipshape import __version__
from shipshape.api.deps import ClientIP, ServicesDep
from shipshape.api.responses import JSON
from shipshape.domain.network import anonymize_ip
from shipshape.domain.pagination import InvalidCursor, decode_cursor, encode_cursor
from shipshape.storage.repositories import NewVisit

router = APIRouter(tags=["visits"])
MAX_ID = 2**63 - 1  # BIGINT: larger values cannot be ids (and overflow database drivers)

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


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept


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


@router.get(
    "/",
    response_model=Greeting,
    summary="Record a visit and greet (browsers get the dashboard)",
)
async def index(request: Request, services: ServicesDep, ip: ClientIP) -> Response:
    now = utcnow()
    stored_ip = anonymize_ip(ip) if services.settings.anonymize_ips else ip
    user_agent = request.headers.get("user-agent")
    await services.writer.record(
        NewVisit(ip=stored_ip, user_agent=user_agent[:512] if user_agent else None, created_at=now)
    )
    if _wants_html(request):
        from shipshape.web import dashboard_response

        return dashboard_response(request)
    return JSON(
        {
            "message": "Hello from shipshape!",
            "ip": ip,
            "hostname": socket.gethostname(),
            "version": __version__,
            "environment": services.settings.environment,
            "time": now,
        }
    )


@router.get("/list", response_model=list[VisitOut], summary="Recorded visits, newest first")
async def list_visits(
    request: Request,
    services: ServicesDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only visits with a smaller id.")
    ] = None,
    ip: Annotated[str | None, Query(max_length=45, description="Only this address.")] = None,
) -> Response:
    before_id = before
    if cursor is not None:
        try:
            (before_id,) = decode_cursor(cursor, (int,))
            if not 1 <= before_id <= MAX_ID:
                raise InvalidCursor("out of range")
        except InvalidCursor:
            raise _cursor_error() from None
    with services.metrics.db_operation("list_visits"):
        async with services.autocommit.connect() as conn:
            rows = await services.visits.page(
                conn, limit=limit, before_id=before_id, ip=_query_ip(ip)
            )
    headers = {}
    if len(rows) == limit:
        headers["Link"] = _next_link(request, encode_cursor(rows[-1]["id"]))
    return JSON(rows, headers=headers)


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
        async with services.autocommit.connect() as conn:
            rows: list[dict[str, Any]] = await services.visits.visitors_page(
                conn, limit=limit, after=after, ip=_query_ip(ip)
            )
    headers = {}
    if len(rows) == limit:
        last = rows[-1]
        headers["Link"] = _next_link(
            request, encode_cursor(last["last_seen"].isoformat(), last["ip"])
        )
    return JSON(rows, headers=headers)
