"""PUT/GET /hello/{username}: save a date of birth, greet with the days until the birthday."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from shipshape.api.deps import ServicesDep
from shipshape.api.responses import JSON
from shipshape.domain.birthday import greeting

router = APIRouter(tags=["hello"])

Username = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z]+$",
        description="ASCII letters only, 1-64 characters.",
    ),
]


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


@router.put(
    "/hello/{username}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Save or update a user's date of birth",
)
async def save_birthday(username: Username, body: BirthdayIn, services: ServicesDep) -> Response:
    with services.metrics.db_operation("save_birthday"):
        # One upsert statement: atomic and durable without an explicit transaction.
        async with services.autocommit.begin() as conn:
            await services.users.save_birthday(
                conn, username, body.date_of_birth, dt.datetime.now(dt.UTC).replace(tzinfo=None)
            )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/hello/{username}",
    response_model=Message,
    responses={404: {"description": "Unknown user"}},
    summary="Birthday greeting",
)
async def get_birthday(username: Username, services: ServicesDep) -> Response:
    with services.metrics.db_operation("get_birthday"):
        async with services.autocommit.connect() as conn:
            date_of_birth = await services.users.birthday(conn, username)
    if date_of_birth is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"User {username} not found")
    return JSON({"message": greeting(username, date_of_birth, utc_today())})
