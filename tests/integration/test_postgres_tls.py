"""PostgreSQL over TLS, as production runs it (`?sslmode=require`, and `verify-full` against
the CA that signed the server's certificate): a throwaway server with `ssl=on` and a
certificate made here. Both driver paths (asyncpg for the API, SQLAlchemy for migrations and
readiness) connect over TLS, and a wrong CA is refused."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from shipshape.app import create_app
from shipshape.core.config import Settings
from shipshape.storage.database import create_engine
from shipshape.storage.migrate import upgrade
from tests.support.databases import PG_BIN, postgres_cluster


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[str, Path, Path]]:
    certs = Path(tempfile.mkdtemp(prefix="shipshape-pg-certs-"))  # the server must read it
    cert, key = _certificate(certs, "server")
    other_ca, _ = _certificate(certs, "other")
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        for path in (certs, cert, key):
            os.chown(path, pw.pw_uid, pw.pw_gid)
    key.chmod(0o600)
    settings = {"ssl": "on", "ssl_cert_file": str(cert), "ssl_key_file": str(key)}
    with postgres_cluster(settings, prefix="shipshape-pg-tls-") as cluster:
        subprocess.run(
            [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
             "-q", "-c", "CREATE ROLE tls LOGIN PASSWORD 'tls-secret'", "-c",
             "CREATE DATABASE tls OWNER tls"],
            check=True, capture_output=True,
        )  # fmt: skip
        yield f"postgresql://tls:tls-secret@127.0.0.1:{cluster.port}/tls", cert, other_ca
    shutil.rmtree(certs, ignore_errors=True)


async def _serve_over_tls(url: str) -> None:
    settings = Settings(database_url=url, access_log=False, freeze_heap=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/")).status_code == 200
            assert (
                await client.put("/hello/ann", json={"dateOfBirth": "1990-01-01"})
            ).status_code == 204
            assert (await client.get("/hello/ann")).status_code == 200
            assert len((await client.get("/list")).json()) >= 1
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
    engine = create_engine(settings)  # the app's own engine: the SQLAlchemy path
    try:
        async with engine.connect() as conn:
            encrypted = await conn.execute(
                text("SELECT bool_and(ssl) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
                     "WHERE usename = 'tls'")
            )  # fmt: skip
            assert encrypted.scalar_one() is True
    finally:
        await engine.dispose()


async def test_sslmode_require(tls_server):
    url, _, _ = tls_server
    url = f"{url}?sslmode=require"
    await __import__("asyncio").to_thread(upgrade, Settings(database_url=url))
    await _serve_over_tls(url)


async def test_sslmode_verify_full_with_the_ca_bundle(tls_server):
    url, ca, _ = tls_server
    url = f"{url}?sslmode=verify-full&sslrootcert={ca}"
    await __import__("asyncio").to_thread(upgrade, Settings(database_url=url))
    await _serve_over_tls(url)


async def test_verify_full_refuses_a_server_the_bundle_did_not_sign(tls_server):
    url, _, other_ca = tls_server
    settings = Settings(
        database_url=f"{url}?sslmode=verify-full&sslrootcert={other_ca}",
        access_log=False,
        freeze_heap=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/list")
            assert response.status_code == 503
            ready = await client.get("/readyz")
            assert ready.status_code == 503
