"""A database that cannot be reached: the API answers 503 with a clear body, never a 500 or a
stack trace, liveness stays up, readiness says why, and the instance recovers on its own."""

from __future__ import annotations

import httpx
import pytest

from shipshape.app import create_app
from shipshape.core.config import Settings
from tests.support.databases import free_port


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"], ids=["no-pg-server", "no-mysql-server"])
async def test_unreachable_database_gives_503_not_500(scheme: str) -> None:
    settings = Settings(
        database_url=f"{scheme}://shipshape:not-the-Passw0rd@127.0.0.1:{free_port()}/shipshape",
        db_connect_timeout_seconds=1,
        db_pool_timeout_seconds=1,
        readiness_timeout_seconds=1,
        access_log=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for method, path, body in [
                ("GET", "/", None),
                ("GET", "/list", None),
                ("GET", "/visitors", None),
                ("GET", "/hello/alice", None),
                ("PUT", "/hello/alice", {"dateOfBirth": "2000-01-01"}),
            ]:
                response = await client.request(method, path, json=body)
                assert response.status_code == 503, (path, response.text)
                assert response.json() == {"detail": "Database unavailable"}
                assert response.headers["retry-after"] == "1"
                assert "not-the-Passw0rd" not in response.text
            assert (await client.get("/livez")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"].startswith("error")
