"""Request parameter types shared by the routes: what they validate is what OpenAPI declares."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2**63 - 1  # BIGINT: larger values cannot be ids (and overflow database drivers)

Username = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z]+$",
        description="ASCII letters only, 1-64 characters.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (1-1000).")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="Opaque cursor from the Link header.")
]
Before = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only visits with a smaller id.")]
IpFilter = Annotated[str | None, Query(max_length=45, description="Only this address.")]
