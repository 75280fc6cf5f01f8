"""PUT/GET /hello/{username}: save a date of birth, greet with the days until the birthday."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from starlette.requests import ClientDisconnect

from shipshape.api.deps import Services
from shipshape.api.params import Username, located, username_errors
from shipshape.api.responses import JSON
from shipshape.api.routing import HotRoute
from shipshape.domain.birthday import greeting
from shipshape.storage.repositories import BirthdaySave

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _iso_date_only(value: object) -> object:
    """Only the documented YYYY-MM-DD string; no timestamps or datetimes sneaking in."""
    if not isinstance(value, str) or not ISO_DATE.match(value):
        raise ValueError("Input should be a date in YYYY-MM-DD format")
    return value


class BirthdayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date_of_birth: Annotated[dt.date, BeforeValidator(_iso_date_only)] = Field(
        alias="dateOfBirth", description="YYYY-MM-DD, not in the future."
    )

    @field_validator("date_of_birth")
    @classmethod
    def _not_in_future(cls, value: dt.date) -> dt.date:
        if value > utc_today():
            raise ValueError("Date of birth cannot be in the future")
        return value


class Message(BaseModel):
    message: str


# The documented contract; `routes` serves it (plain Starlette endpoints, ADR 0005) with the
# same types, and app.py adds this router to the OpenAPI document only.
contract = APIRouter(tags=["hello"])


@contract.put(
    "/hello/{username}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Save or update a user's date of birth",
)
async def save_birthday(username: Username, body: BirthdayIn) -> None:
    """One atomic upsert: concurrent saves of the same user never race or duplicate."""


@contract.get(
    "/hello/{username}",
    response_model=Message,
    responses={404: {"description": "Unknown user"}},
    summary="Birthday greeting",
)
async def get_birthday(username: Username) -> None:
    """Days until the next birthday (29 February counts as 28 February in common years)."""


JSON_TYPES = ("application/json", "")


async def serve_save_birthday(request: Request) -> Response:
    services: Services = request.app.state.services
    username = request.path_params["username"]
    errors = username_errors(username)
    try:
        raw = await request.body()
    except ClientDisconnect:  # the body limit cut it off; the 413 is already sent
        return Response(status_code=status.HTTP_413_CONTENT_TOO_LARGE)
    body: BirthdayIn | None = None
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not raw:
        errors.append({"loc": ("body",), "msg": "Field required", "type": "missing"})
    elif media_type not in JSON_TYPES and not media_type.endswith("+json"):
        errors.append(
            {"loc": ("body",), "msg": "Content-Type must be application/json", "type": "json_type"}
        )
    else:
        try:
            body = BirthdayIn.model_validate_json(raw)
        except ValidationError as exc:
            errors.extend(located(exc, "body"))
    if errors or body is None:
        raise RequestValidationError(errors)
    save = BirthdaySave(username, body.date_of_birth, dt.datetime.now(dt.UTC).replace(tzinfo=None))
    with services.metrics.db_operation("save_birthday"):
        await services.birthday_writer.submit(save)  # returns once committed (group commit)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def serve_get_birthday(request: Request) -> Response:
    services: Services = request.app.state.services
    username = request.path_params["username"]
    errors = username_errors(username)
    if errors:
        raise RequestValidationError(errors)
    # Timed per batched query (`get_birthdays`), not per request: app.py wraps the store.
    date_of_birth = await services.birthdays.get(username)
    if date_of_birth is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"User {username} not found")
    return JSON({"message": greeting(username, date_of_birth, utc_today())})


routes = [
    HotRoute("/hello/{username}", serve_save_birthday, methods=["PUT"]),
    HotRoute("/hello/{username}", serve_get_birthday, methods=["GET"]),
]
