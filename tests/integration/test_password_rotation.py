"""A rotated database password (mounted secret file) is used by new connections, no restart."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from shipshape.app import create_app
from shipshape.core.config import Settings
from shipshape.storage.migrate import upgrade


def test_new_connections_reread_the_password_file(servers, tmp_path):
    pg = servers.get("postgresql")
    role = f"rot_{uuid.uuid4().hex[:8]}"
    pg.admin(f"CREATE ROLE {role} LOGIN PASSWORD 'first-Passw0rd'")
    pg.admin(f"CREATE DATABASE {role} OWNER {role}")
    secret = tmp_path / "password"
    secret.write_text("first-Passw0rd\n")
    settings = Settings(
        database_url=f"postgresql://{role}@{pg.host}:{pg.port}/{role}",
        database_password_file=secret,
        database_password="first-Passw0rd",
        readiness_cache_seconds=0,
    )
    upgrade(settings)
    asyncio.run(_exercise(pg, role, secret, settings))


async def _exercise(pg, role, secret, settings) -> None:
    app = create_app(settings)
    engine = app.state.services.engine
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/")).status_code == 200
            pg.admin(f"ALTER ROLE {role} PASSWORD 'second-Passw0rd'")
            secret.write_text("second-Passw0rd\n")
            await engine.dispose()  # force brand-new connections
            await app.state.services.store.expire_connections()
            assert (await client.get("/")).status_code == 200
            assert (await client.get("/readyz")).status_code == 200
            assert len((await client.get("/list")).json()) == 2
