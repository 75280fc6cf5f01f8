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


async def test_concurrent_greetings_are_exact_and_read_their_writes(client):
    """GET /hello lookups share queries under load (read_batcher.py): every answer must still
    be the right user's, unknown users 404, and a GET after a PUT sees that PUT."""
    users = [f"user{chr(97 + n // 26)}{chr(97 + n % 26)}" for n in range(60)]
    for n, user in enumerate(users):
        date = (dt.date(1970, 1, 1) + dt.timedelta(days=97 * n)).isoformat()
        assert (await client.put(f"/hello/{user}", json={"dateOfBirth": date})).status_code == 204
    names = [*users, *users, "nobody", "Nobody", "usera"]
    responses = await asyncio.gather(*(client.get(f"/hello/{name}") for name in names))
    for name, response in zip(names, responses, strict=True):
        if name in users:
            assert response.status_code == 200, response.text
            assert response.json()["message"].startswith(f"Hello, {name}!")
        else:
            assert response.status_code == 404, (name, response.text)

    from shipshape.domain.birthday import greeting

    today = dt.datetime.now(dt.UTC).date()

    async def write_then_read(user: str, n: int) -> None:
        birthday = dt.date(1990, 1, 1) + dt.timedelta(days=n)
        put = await client.put(f"/hello/{user}", json={"dateOfBirth": birthday.isoformat()})
        assert put.status_code == 204
        got = (await client.get(f"/hello/{user}")).json()["message"]
        assert got == greeting(user, birthday, today)  # never the previous date's answer

    await asyncio.gather(*(write_then_read(user, n) for n, user in enumerate(users)))


async def test_visits_of_cancelled_requests_are_still_committed(client):
    """A client that disconnects while its visit waits for the group commit cancels only its
    own wait: the row is queued and committed with the batch, the other requests unharmed."""
    from shipshape.domain.records import NewVisit

    writer = client.app.state.services.writer
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    tasks = [
        asyncio.create_task(
            writer.record(NewVisit(ip=f"192.0.2.{n}", user_agent=None, created_at=now))
        )
        for n in range(100)
    ]
    await asyncio.sleep(0)  # every task has queued its visit
    for task in tasks[::2]:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert sum(isinstance(r, asyncio.CancelledError) for r in results) == 50
    assert [r for r in results if not isinstance(r, asyncio.CancelledError)] == [None] * 50
    await asyncio.wait_for(writer.join(), 10)
    engine = client.app.state.services.engine
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Visit))).scalar_one() == 100
