"""`shipshape migrate` and `shipshape prune` facing a database they cannot use fail like
tools (issue 20): one line on stderr naming the host and the cause (never the password), within
their bound, exit status 1; `--wait SECONDS` rides out the migration Job's start-up race.

Real failures only: a port nobody listens on (refused), a listener that accepts and never
answers (stalled), a real PostgreSQL and a real MariaDB given a wrong password, a host name
that does not resolve."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import PASSWORD as PG_PASSWORD
from tests.support.databases import free_port
from tests.support.process import SHIPSHAPE, cli

PASSWORD = f"Pw{uuid.uuid4().hex}"
CONNECT_TIMEOUT = 1  # SHIPSHAPE_DB_CONNECT_TIMEOUT_SECONDS in these runs
SLACK = 20  # interpreter start-up and the rest; a command past its bound fails the test
COMMANDS = [("migrate",), ("prune",)]
SCHEMES = {"postgresql": "postgresql", "mariadb": "mysql"}


@contextlib.contextmanager
def stalled_listener() -> Iterator[int]:
    """A socket that completes TCP handshakes (the kernel's backlog) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def run(
    args: tuple[str, ...], url: str, bound: float, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {
        "DATABASE_URL": url,
        "SHIPSHAPE_DB_CONNECT_TIMEOUT_SECONDS": str(CONNECT_TIMEOUT),
        "SHIPSHAPE_LOG_FORMAT": "json",
        **extra,
    }
    result = subprocess.run(
        [SHIPSHAPE, *args],
        env={**_base_env(), **env},
        capture_output=True,
        text=True,
        timeout=bound + SLACK,  # the bound is the behaviour under test
    )
    return result


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("SHIPSHAPE_", "DATABASE_"))}


def assert_fails_like_a_tool(
    result: subprocess.CompletedProcess[str], host: str, cause: str
) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert len(lines) == 1, result.stderr[-3000:]
    line = lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert host in line, line
    assert cause in line.lower(), line
    assert PASSWORD not in result.stdout + result.stderr
    return line


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("kind", list(SCHEMES))
def test_refused_connection(kind: str, args: tuple[str, ...]) -> None:
    port = free_port()  # nobody listens there
    url = f"{SCHEMES[kind]}://shipshape:{PASSWORD}@127.0.0.1:{port}/shipshape"
    result = run(args, url, bound=CONNECT_TIMEOUT)
    assert_fails_like_a_tool(result, f"127.0.0.1:{port}", "connection refused")


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("kind", list(SCHEMES))
def test_stalled_listener(kind: str, args: tuple[str, ...]) -> None:
    with stalled_listener() as port:
        url = f"{SCHEMES[kind]}://shipshape:{PASSWORD}@127.0.0.1:{port}/shipshape"
        result = run(args, url, bound=CONNECT_TIMEOUT)
    assert_fails_like_a_tool(result, f"127.0.0.1:{port}", "no answer")


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_unresolvable_host(args: tuple[str, ...]) -> None:
    url = f"postgresql://shipshape:{PASSWORD}@db.invalid:5432/shipshape"
    result = run(args, url, bound=CONNECT_TIMEOUT)
    assert_fails_like_a_tool(result, "db.invalid:5432", "does not resolve")


def _password_checked_role(server) -> str:
    """A role whose logins are password-checked. The throwaway PostgreSQL trusts loopback
    (initdb -A trust): put a scram-sha-256 line for this one role first in its pg_hba.conf."""
    role = f"pwcheck_{uuid.uuid4().hex[:8]}"
    if server.kind == "mariadb":
        server.admin(f"CREATE USER '{role}'@'%' IDENTIFIED BY 'the-right-Passw0rd'")
        server.admin(f"GRANT ALL ON {server.database}.* TO '{role}'@'%'")
        return role
    server.admin(f"CREATE ROLE {role} LOGIN PASSWORD 'the-right-Passw0rd'")

    async def require_password() -> None:
        import asyncpg

        conn = await asyncpg.connect(
            host=server.host, port=server.port, user="postgres", database="postgres"
        )
        try:
            hba = Path(await conn.fetchval("SHOW hba_file"))
            rule = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
            hba.write_text(rule + hba.read_text())
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()

    if server.password != PG_PASSWORD:  # a server someone else runs checks passwords anyway
        return role
    asyncio.run(require_password())
    return role


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("kind", list(SCHEMES))
def test_bad_password_on_a_real_server(servers, kind: str, args: tuple[str, ...]) -> None:
    server = servers.get(kind)
    role = _password_checked_role(server)
    url = f"{SCHEMES[kind]}://{role}:{PASSWORD}@{server.host}:{server.port}/{server.database}"
    result = run(args, url, bound=CONNECT_TIMEOUT)
    line = assert_fails_like_a_tool(result, f"{server.host}:{server.port}", "refused the login")
    assert role in line  # which account, so the operator knows which secret is wrong


def test_wait_gives_up_after_its_bound_with_one_line() -> None:
    port = free_port()
    url = f"postgresql://shipshape:{PASSWORD}@127.0.0.1:{port}/shipshape"
    result = run(("migrate", "--wait", "3"), url, bound=3 + CONNECT_TIMEOUT)
    line = assert_fails_like_a_tool(result, f"127.0.0.1:{port}", "connection refused")
    assert "--wait 3s" in line, line
    assert "waiting for the database" in result.stdout  # progress goes to the log


def _forward(listener: socket.socket, target: tuple[str, int], stop: threading.Event) -> None:
    """A TCP forwarder to the real server: the database 'comes up' when this starts."""

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            client, _ = listener.accept()
        except TimeoutError:
            continue
        upstream = socket.create_connection(target)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


def test_migrate_waits_for_a_database_that_comes_up(servers) -> None:
    """The migration Job starts before the database accepts connections (the start-up race)."""
    server = servers.get("postgresql")
    database = server.create_database(f"wait_{uuid.uuid4().hex[:8]}")
    port = free_port()
    url = database.replace(f":{server.port}/", f":{port}/")
    env = {**_base_env(), "DATABASE_URL": url, "SHIPSHAPE_DB_CONNECT_TIMEOUT_SECONDS": "2"}
    migrate = subprocess.Popen(
        [SHIPSHAPE, "migrate", "--wait", "60"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop = threading.Event()
    try:
        assert migrate.stdout is not None
        for line in migrate.stdout:  # refused at first: the command says it waits, and waits
            if "waiting for the database" in line:
                break
        listener = socket.create_server(("127.0.0.1", port))
        threading.Thread(
            target=_forward, args=(listener, (server.host, server.port), stop), daemon=True
        ).start()
        _out, err = migrate.communicate(timeout=60 + SLACK)
        assert migrate.returncode == 0, err
    finally:
        stop.set()
        if migrate.poll() is None:
            migrate.kill()
    assert cli("migrate", env={"DATABASE_URL": database}).returncode == 0  # at head already
