"""GET / (record a visit), /list and /visitors (keyset-paginated, bounded)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Header, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from shipshape import __version__
from shipshape.api.deps import ClientIP, ServicesDep
from shipshape.api.params import MAX_ID, Before, Cursor, IpFilter, Limit
from shipshape.api.responses import JSON
from shipshape.domain.network import anonymize_ip
from shipshape.domain.pagination import InvalidCursor, decode_cursor, encode_cursor
from shipshape.domain.records import NewVisit, utc_naive

USER_AGENT_MAX = 512  # longer user agents are stored truncated


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


def _invalid(location: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", location), "msg": message, "type": "value_error"}]
    )


def _address(ip: str | None) -> str | None:
    if ip is None:
        return None
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        raise _invalid("ip", "Value is not a valid IP address") from None


def _next_link(request: Request, cursor: str) -> str:
    params = {k: v for k, v in request.query_params.items() if k not in ("cursor", "before")}
    params["cursor"] = cursor
    return f'<{request.url.path}?{urlencode(params)}>; rel="next"'


async def index(
    request: Request,
    services: ServicesDep,
    ip: ClientIP,
    user_agent: Annotated[str | None, Header()] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Records the visit durably (group commit) before answering; browsers
    (`Accept: text/html`) get the dashboard page, the visit recorded all the same."""
    now = services.clock()
    stored_ip = anonymize_ip(ip) if services.settings.anonymize_ips else ip
    agent = user_agent[:USER_AGENT_MAX] if user_agent else None
    await services.writer.record(NewVisit(ip=stored_ip, user_agent=agent, created_at=now))
    if accept and "text/html" in accept:
        from shipshape.web import dashboard_response

        return dashboard_response(request)
    return JSON(
        {
            "message": "Hello from shipshape!",
            "ip": ip,
            "hostname": services.hostname,
            "version": __version__,
            "environment": services.settings.environment,
            "time": now,
        }
    )


async def list_visits(
    request: Request,
    services: ServicesDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    before: Before = None,
    ip: IpFilter = None,
) -> Response:
    """Keyset-paginated, newest first: follow the `Link: <...>; rel="next"` header."""
    before_id = before
    if cursor is not None:
        try:
            (before_id,) = decode_cursor(cursor, (int,))
        except InvalidCursor:
            raise _invalid("cursor", "Invalid cursor") from None
        if not 1 <= before_id <= MAX_ID:
            raise _invalid("cursor", "Invalid cursor")
    address = _address(ip)
    with services.metrics.db_operation("list_visits"):
        rows = await services.store.visits_page(limit=limit, before_id=before_id, ip=address)
    headers = {}
    if len(rows) == limit:
        headers["Link"] = _next_link(request, encode_cursor(rows[-1]["id"]))
    return JSON(rows, headers=headers)


async def list_visitors(
    request: Request,
    services: ServicesDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    ip: IpFilter = None,
) -> Response:
    """Per-IP aggregates, most recently seen first, keyset-paginated like /list."""
    after: tuple[dt.datetime, str] | None = None
    if cursor is not None:
        try:
            last_seen, last_ip = decode_cursor(cursor, (str, str))
            after = (utc_naive(dt.datetime.fromisoformat(last_seen)), last_ip)
        except (InvalidCursor, ValueError, OverflowError):
            raise _invalid("cursor", "Invalid cursor") from None
    address = _address(ip)
    with services.metrics.db_operation("list_visitors"):
        rows = await services.store.visitors_page(limit=limit, after=after, ip=address)
    headers = {}
    if len(rows) == limit:
        last = rows[-1]
        headers["Link"] = _next_link(
            request, encode_cursor(last["last_seen"].isoformat(), last["ip"])
        )
    return JSON(rows, headers=headers)
