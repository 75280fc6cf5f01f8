"""Retention: `shipshape prune` deletes old visits and stale per-IP aggregates, nothing else."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from shipshape.cli import _prune
from shipshape.domain.records import NewVisit
from shipshape.storage.models import Visit, Visitor


async def test_prune_deletes_only_expired_rows(client, settings):
    services = client.app.state.services
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    old = now - dt.timedelta(days=settings.retention_days + 1)
    await services.store.insert_visits(
        [
            NewVisit("198.51.100.1", "old", old),
            NewVisit("198.51.100.1", "old", old),
            NewVisit("198.51.100.2", "old-but-back", old),
            NewVisit("198.51.100.2", "recent", now),
            NewVisit("198.51.100.3", "recent", now),
        ]
    )
    dry = await _prune(settings, dry_run=True)
    assert dry["visits_to_delete"] == 3
    result = await _prune(settings, dry_run=False)
    assert result["visits_deleted"] == 3
    assert result["visitors_deleted"] == 1  # only 198.51.100.1 was not seen since the cutoff
    async with services.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Visit))).scalar_one() == 2
        ips = set((await conn.execute(select(Visitor.ip))).scalars())
    assert ips == {"198.51.100.2", "198.51.100.3"}


async def test_prune_disabled_with_zero_retention(make_settings):
    result = await _prune(make_settings(retention_days=0), dry_run=False)
    assert result["pruned"] is False
