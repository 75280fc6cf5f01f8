"""Races and durability under concurrency, on the server databases (and SQLite)."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import func, select

from shipshape.storage.models import User, Visit


async def test_concurrent_upserts_leave_one_row(client):
    dates = [(dt.date(1980, 1, 1) + dt.timedelta(days=n)).isoformat() for n in range(200)]
    responses = await asyncio.gather(
        *(client.put("/hello/alice", json={"dateOfBirth": d}) for d in dates)
    )
    assert [r.status_code for r in responses] == [204] * 200
    engine = client.app.state.services.engine
    async with engine.connect() as conn:
        rows = (
            await conn.execute(select(User.date_of_birth).where(User.username == "alice"))
        ).all()
    assert len(rows) == 1
    assert rows[0][0].isoformat() in dates


async def test_concurrent_visits_are_all_recorded(client):
    responses = await asyncio.gather(*(client.get("/") for _ in range(1000)))
    assert sum(r.status_code == 200 for r in responses) == 1000
    engine = client.app.state.services.engine
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Visit))).scalar_one() == 1000
    visitors = (await client.get("/visitors")).json()
    assert visitors[0]["count"] == 1000
