"""PUT /hello group commit (storage/birthday_writer.py), on every database backend."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select

from shipshape.domain.records import BirthdaySave
from shipshape.storage.models import User
from shipshape.storage.store import last_save_per_user

NOW = dt.datetime(2026, 12, 1, 12, 0)


def test_one_row_per_user_the_last_arrival_in_username_order() -> None:
    saves = [
        BirthdaySave("bob", dt.date(1990, 1, 1), NOW),
        BirthdaySave("alice", dt.date(1980, 1, 1), NOW),
        BirthdaySave("bob", dt.date(1991, 2, 2), NOW),
    ]
    assert last_save_per_user(saves) == [saves[1], saves[2]]


async def _birthdays(client) -> dict[str, dt.date]:
    async with client.app.state.services.engine.connect() as conn:
        rows = (await conn.execute(select(User.username, User.date_of_birth))).all()
    return {name: born for name, born in rows}


async def test_concurrent_saves_share_commits_and_each_answer_means_durable(client) -> None:
    users = [f"user{chr(97 + n // 26)}{chr(97 + n % 26)}" for n in range(300)]
    responses = await asyncio.gather(
        *(client.put(f"/hello/{u}", json={"dateOfBirth": "1990-05-17"}) for u in users)
    )
    assert [r.status_code for r in responses] == [204] * len(users)
    assert await _birthdays(client) == dict.fromkeys(users, dt.date(1990, 5, 17))
    metrics = (await client.get("/metrics")).text
    count = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith('shipshape_db_query_duration_seconds_count{operation="save_birthdays"}')
    )
    assert 1 <= count < len(users)  # fewer transactions than saves: batches formed


async def test_saves_of_one_user_in_one_batch_keep_the_last_arrival(client) -> None:
    writer = client.app.state.services.birthday_writer
    dates = [dt.date(1970, 1, 1) + dt.timedelta(days=n) for n in range(50)]
    # Queued in one event-loop step, so they land in the same batch (or consecutive ones).
    await asyncio.gather(*(writer.submit(BirthdaySave("carol", d, NOW)) for d in dates))
    assert (await _birthdays(client))["carol"] == dates[-1]


async def test_a_full_queue_answers_503_at_once(app_factory) -> None:
    async with app_factory(birthday_queue_size=1) as client:
        writer = client.app.state.services.birthday_writer
        real_write, gate = writer.write_batch, asyncio.Event()

        async def held(batch):  # hold the writer (mid-commit) so the queue stays full
            await gate.wait()
            await real_write(batch)

        writer.write_batch = held
        in_flight = asyncio.create_task(
            writer.submit(BirthdaySave("carl", dt.date(1990, 1, 1), NOW))
        )
        for _ in range(10):  # the writer takes "carl" and waits at the gate
            await asyncio.sleep(0)
        blocked = asyncio.create_task(writer.submit(BirthdaySave("dave", dt.date(1990, 1, 1), NOW)))
        await asyncio.sleep(0)
        response = await client.put("/hello/erin", json={"dateOfBirth": "1990-01-01"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json() == {"detail": "Service overloaded, retry later"}
        gate.set()  # the held and the queued saves are still committed, and answered
        await asyncio.wait_for(asyncio.gather(in_flight, blocked), 10)
        assert {"carl", "dave"} <= set(await _birthdays(client))


async def test_shutdown_commits_queued_saves(app_factory) -> None:
    async with app_factory() as client:
        writer = client.app.state.services.birthday_writer
        engine = client.app.state.services.engine
        pending = [
            asyncio.create_task(writer.submit(BirthdaySave(f"late{c}", dt.date(2000, 2, 29), NOW)))
            for c in "abcdefghij"
        ]
        await asyncio.sleep(0)
        await writer.close(10)
        assert all(task.done() and task.exception() is None for task in pending)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(select(User.username).where(User.username.like("late%")))
            ).all()
        assert len(rows) == 10
