"""A throwaway PgBouncer (Debian's package) on a free loopback port in front of a throwaway
PostgreSQL, in transaction pooling mode: a server connection is lent to a client for one
transaction only, as managed poolers (RDS Proxy, Supabase, Heroku) and most PgBouncer
deployments run it. PgBouncer refuses to run as root, so as root it runs as `postgres`."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.databases import free_port
from tests.support.tools import require_tool


@dataclass
class PgBouncer:
    port: int
    root: Path
    server_connections: int
    server_lifetime: int
    version: str  # "1.18.0": Debian 12's; max_prepared_statements needs 1.21

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def log(self) -> str:
        return (self.root / "pgbouncer.log").read_text(errors="replace")


@contextlib.contextmanager
def running_pgbouncer(
    postgres_port: int,
    server_connections: int = 3,
    server_lifetime: int = 3600,
    database: str = "postgres",
) -> Iterator[PgBouncer]:
    """PgBouncer in `pool_mode = transaction` with `server_connections` server connections
    for the database (fewer than the app's clients, so they are shared: what the mode is for,
    and what makes a statement prepared in one transaction missing in the next), each closed
    once released after `server_lifetime` seconds (PgBouncer's default is an hour)."""
    binary = require_tool("pgbouncer", "make system-deps", "/usr/sbin/pgbouncer")
    banner = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    version = banner.split()[1] if banner.startswith("PgBouncer ") else "unknown"
    # 1.21+ can track prepared statements itself (max_prepared_statements; later releases
    # may turn it on by default): off here, so every version behaves as Debian 12's 1.18 and
    # the seeded failure of scenario 6 fails wherever the campaign runs.
    numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    tracking = "max_prepared_statements = 0\n" if numbers >= (1, 21) else ""
    root = Path(tempfile.mkdtemp(prefix="shipshape-pgbouncer-"))
    port = free_port()
    config = root / "pgbouncer.ini"
    config.write_text(
        f"""[databases]
{database} = host=127.0.0.1 port={postgres_port} dbname={database} user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = {server_connections}
max_db_connections = {server_connections}
max_client_conn = 500
server_reset_query =
server_lifetime = {server_lifetime}
{tracking}ignore_startup_parameters = extra_float_digits
logfile = {root / "pgbouncer.log"}
pidfile = {root / "pgbouncer.pid"}
"""
    )
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        os.chown(config, pw.pw_uid, pw.pw_gid)
    process = subprocess.Popen(
        [*as_user, binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    bouncer = PgBouncer(port, root, server_connections, server_lifetime, version)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, f"pgbouncer exited: {bouncer.log[-2000:]}"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert time.monotonic() < deadline, "pgbouncer did not listen"
            time.sleep(0.1)
        yield bouncer
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        shutil.rmtree(root, ignore_errors=True)
