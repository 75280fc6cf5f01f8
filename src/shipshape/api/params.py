"""Request parameters of the hot routes, validated once, in one place.

The hot routes (`/`, `/list`, `/hello/{username}`) are plain Starlette endpoints (see
`api/routes/visits.py`, `api/routes/hello.py` and ADR 0005). The types here are both what
they validate with and what the OpenAPI contract declares, so the document and the behaviour
cannot drift apart. Errors keep FastAPI's 422 shape
(`{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Path
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

MAX_ID = 2**63 - 1  # BIGINT: larger values cannot be ids (and overflow database drivers)
USERNAME_PATTERN = r"^[A-Za-z]+$"
USERNAME_MAX_LENGTH = 64

Username = Annotated[
    str,
    Path(
        min_length=1,
        max_length=USERNAME_MAX_LENGTH,
        pattern=USERNAME_PATTERN,
        description="ASCII letters only, 1-64 characters.",
    ),
]
_username = TypeAdapter(
    Annotated[
        str,
        StringConstraints(min_length=1, max_length=USERNAME_MAX_LENGTH, pattern=USERNAME_PATTERN),
    ]
)


class ListQuery(BaseModel):
    """Query of `GET /list`."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(100, ge=1, le=1000, description="Page size (1-1000).")
    cursor: str | None = Field(
        None, max_length=512, description="Opaque cursor from the Link header."
    )
    before: int | None = Field(None, ge=1, le=MAX_ID, description="Only visits with a smaller id.")
    ip: str | None = Field(None, max_length=45, description="Only this address.")


def located(exc: ValidationError, *prefix: str | int) -> list[dict[str, Any]]:
    return [{**error, "loc": (*prefix, *error["loc"])} for error in exc.errors()]


_VALID_USERNAME = re.compile(f"[A-Za-z]{{1,{USERNAME_MAX_LENGTH}}}")


def username_errors(value: str) -> list[dict[str, Any]]:
    if _VALID_USERNAME.fullmatch(value):  # the common case, without building a validator call
        return []
    try:
        _username.validate_python(value)
    except ValidationError as exc:
        return located(exc, "path", "username")
    return []


def list_query(params: Any) -> ListQuery:
    """`params`: the request's query parameters (the last value wins, as in FastAPI)."""
    try:
        return ListQuery.model_validate(dict(params))
    except ValidationError as exc:
        raise RequestValidationError(located(exc, "query")) from None
