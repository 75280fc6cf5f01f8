"""Typed dependencies: routes receive services, never globals or os.environ.

Every dependency is `async def`: FastAPI runs plain `def` dependencies in a thread pool, a
thread hop per dependency per request. `Services` is built once per app by `create_app`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Annotated

import psutil
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine

from shipshape.core.clock import Clock
from shipshape.core.config import Settings
from shipshape.core.readiness import ReadinessChecker
from shipshape.core.state import RuntimeState
from shipshape.observability.metrics import Metrics
from shipshape.storage.birthday_writer import BirthdayWriter
from shipshape.storage.read_batcher import BatchedReader
from shipshape.storage.store import Store
from shipshape.storage.visit_writer import VisitWriter


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine  # migrations and maintenance statements (SQLAlchemy)
    store: Store  # the API's data operations (PostgreSQL: asyncpg directly)
    metrics: Metrics
    state: RuntimeState
    readiness: ReadinessChecker
    writer: VisitWriter
    birthdays: BatchedReader[str, dt.date]  # GET /hello: concurrent lookups share one query
    birthday_writer: BirthdayWriter  # PUT /hello: concurrent saves share one commit
    clock: Clock  # "now" in UTC; tests fix it
    process: psutil.Process  # this process, for /stats (CPU percentages need one handle)
    hostname: str


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def client_ip(request: Request) -> str:
    """Resolved once per request by the request middleware, from trusted proxies only."""
    value = request.scope.get("state", {}).get("client_ip")
    return str(value) if value else "unknown"


ServicesDep = Annotated[Services, Depends(get_services)]
ClientIP = Annotated[str, Depends(client_ip)]

_bearer = HTTPBearer(auto_error=False)


async def require_operator(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    token = services.settings.admin_token
    if token is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    presented = credentials.credentials if credentials else ""
    if not secrets.compare_digest(presented.encode(), token.get_secret_value().encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Invalid or missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


Operator = Depends(require_operator)
