"""PUT/GET /hello/{username}: save a date of birth, greet with the days until the birthday."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import HTTPException, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shipshape.api.deps import ServicesDep
from shipshape.api.params import Username
from shipshape.api.responses import JSON
from shipshape.domain.birthday import greeting
from shipshape.domain.records import BirthdaySave

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_only(value: object) -> object:
    """Only the documented YYYY-MM-DD string; no timestamps or numbers sneaking in."""
    if not isinstance(value, str) or not ISO_DATE.match(value):
        raise ValueError("Input should be a date in YYYY-MM-DD format")
    return value


class BirthdayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date_of_birth: Annotated[dt.date, BeforeValidator(_iso_date_only)] = Field(
        alias="dateOfBirth", description="YYYY-MM-DD, not in the future (UTC)."
    )


class Message(BaseModel):
    message: str


def _not_in_future(date_of_birth: dt.date, today: dt.date) -> None:
    if date_of_birth > today:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "dateOfBirth"),
                    "msg": "Value error, Date of birth cannot be in the future",
                    "type": "value_error",
                }
            ]
        )


async def save_birthday(username: Username, body: BirthdayIn, services: ServicesDep) -> Response:
    """One atomic upsert: concurrent saves of the same user never race or duplicate.
    Answers once the save is committed (group commit)."""
    now = services.clock()
    _not_in_future(body.date_of_birth, now.date())
    save = BirthdaySave(username, body.date_of_birth, now)
    with services.metrics.db_operation("save_birthday"):
        await services.birthday_writer.submit(save)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def get_birthday(username: Username, services: ServicesDep) -> Response:
    """Days until the next birthday (29 February counts as 28 February in common years)."""
    # Timed per batched query (`get_birthdays`), not per request: app.py wraps the store.
    date_of_birth = await services.birthdays.get(username)
    if date_of_birth is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"User {username} not found")
    today = services.clock().date()
    return JSON({"message": greeting(username, date_of_birth, today)})
