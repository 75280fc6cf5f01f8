"""Exception handlers: errors keep FastAPI's shape and never leak a stack trace or internals.

The HTTP layer maps the domain's storage errors and the writers' overload, nothing of a
database driver: adapters translate those (storage/errors.py)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from shipshape.api.responses import JSON
from shipshape.domain.errors import StorageRejected, StorageUnavailable
from shipshape.storage.group_commit import WriterOverloaded

logger = logging.getLogger("shipshape")
RETRY_AFTER = {"Retry-After": "1"}


async def unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("database unavailable: %s", exc)
    return JSON({"detail": "Database unavailable"}, 503, headers=RETRY_AFTER)


async def rejected(request: Request, exc: Exception) -> Response:
    logger.info("database rejected a value: %s", exc)
    return JSON(
        {
            "detail": [
                {"loc": ["request"], "msg": "Value rejected by the database", "type": "value_error"}
            ]
        },
        422,
    )


async def overloaded(request: Request, exc: Exception) -> Response:
    return JSON({"detail": "Service overloaded, retry later"}, 503, headers=RETRY_AFTER)


async def unexpected(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSON({"detail": "Internal Server Error"}, 500)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = getattr(exc, "headers", None)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    return JSON({"detail": exc.detail}, exc.status_code, headers=headers)


async def validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 body without `input` and `url`, which echo client data back."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        clean = {k: v for k, v in error.items() if k in ("loc", "msg", "type")}
        ctx = error.get("ctx")
        if isinstance(ctx, dict):
            clean["ctx"] = {k: str(v) for k, v in ctx.items() if k != "error"}
        errors.append(clean)
    return JSON({"detail": errors}, 422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StorageUnavailable, unavailable)
    app.add_exception_handler(StorageRejected, rejected)
    app.add_exception_handler(WriterOverloaded, overloaded)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)
