"""Throwaway PostgreSQL and MariaDB servers on free loopback ports, for tests and scripts.

PostgreSQL 15 binaries come from /usr/lib/postgresql/15/bin (initdb refuses root, so as root
the server runs as the `postgres` user); MariaDB from the Debian `mariadb-server` package.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PASSWORD = "test-secret-Pa55"


class ServerUnavailable(RuntimeError):
    pass


@dataclass
class DatabaseServer:
    kind: str
    host: str
    port: int
    user: str
    password: str
    database: str
    admin: callable  # type: ignore[valid-type]  # runs SQL as the superuser
    # Throwaway servers only: stop cleanly, stay down `down_for` seconds, start again.
    restart: Callable[[float], None] | None = None

    @property
    def url(self) -> str:
        scheme = "postgresql" if self.kind == "postgresql" else "mariadb"
        return f"{scheme}://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def url_for(self, database: str) -> str:
        return self.url.rsplit("/", 1)[0] + "/" + database

    def create_database(self, name: str) -> str:
        self.admin(f"CREATE DATABASE {name}")
        if self.kind == "mariadb":
            if self.user != "root":
                self.admin(f"GRANT ALL ON {name}.* TO '{self.user}'@'%'")
        else:
            self.admin(f"ALTER DATABASE {name} OWNER TO {self.user}")
        return self.url_for(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: callable, what: str, timeout: float = 60) -> None:  # type: ignore[valid-type]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise ServerUnavailable(f"{what} did not become ready in {timeout}s")


@dataclass
class PostgresCluster:
    """A running throwaway cluster: where it lives and how to reach it as the superuser, and
    how to stop and start it again (the fault campaign restarts it under load)."""

    root: Path
    port: int
    sockets: Path
    pg_ctl: list[str] = field(default_factory=list)  # pg_ctl -D <data>, as the server's user
    options: str = ""  # the server's -o options (port, socket directory, settings)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m fast` (or smart, immediate), waiting until it has stopped."""
        subprocess.run(
            [*self.pg_ctl, "-m", mode, "-w", "-t", "60", "stop"], check=True, capture_output=True
        )

    def promote(self) -> None:
        """`pg_ctl promote -w`: a standby ends recovery and accepts writes."""
        subprocess.run([*self.pg_ctl, "-w", "-t", "60", "promote"], check=True, capture_output=True)

    def kill(self) -> None:
        """SIGKILL to the postmaster and every process it runs: a crash, no shutdown."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
        for pid in [postmaster, *map(int, children)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def start(self) -> None:
        log = str(self.root / "postgres.log")
        command = [*self.pg_ctl, "-l", log, "-w", "-t", "60", "-o", self.options, "start"]
        subprocess.run(command, check=True, capture_output=True)


def _as_server_user(*paths: Path) -> list[str]:
    """The command prefix that runs PostgreSQL's tools as `postgres` when we are root (initdb
    and the server refuse root), giving it `paths`; nothing otherwise."""
    if os.geteuid() != 0:
        return []
    pw = pwd.getpwnam("postgres")
    for path in paths:
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return ["runuser", "-u", "postgres", "--"]


FAST_TEST_SETTINGS = {
    # Tests need speed, not crash safety: the data dir is deleted afterwards anyway.
    "max_connections": "300",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


@contextlib.contextmanager
def postgres_cluster(
    settings: dict[str, str], prefix: str = "shipshape-pg-"
) -> Iterator[PostgresCluster]:
    """initdb + pg_ctl start on a free loopback port with the given server settings; stop and
    delete on exit. As root the server runs as the `postgres` user (initdb refuses root)."""
    if not (PG_BIN / "initdb").exists():
        raise ServerUnavailable(f"PostgreSQL binaries not found in {PG_BIN}")
    root = Path(tempfile.mkdtemp(prefix=prefix))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    as_user = _as_server_user(root, sockets)
    port = free_port()
    initdb = [*as_user, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
    subprocess.run([*initdb, "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    options = " ".join(f"-c {key}={value}" for key, value in settings.items())
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} {options}"
    pg_ctl = [*as_user, str(PG_BIN / "pg_ctl"), "-D", str(data)]
    cluster = PostgresCluster(root, port, sockets, pg_ctl, options)
    cluster.start()
    try:
        yield cluster
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


DURABLE_SETTINGS = {
    # A primary and its standby that survive a kill -9: every commit flushed, and (with
    # synchronous_standby_names on the primary) flushed on the standby before it is answered.
    "max_connections": "300",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "wal_level": "replica",
    "max_wal_senders": "5",
}


@contextlib.contextmanager
def streaming_standby(
    primary: PostgresCluster, name: str, settings: dict[str, str]
) -> Iterator[PostgresCluster]:
    """A hot standby of `primary`: `pg_basebackup -R -X stream` (standby.signal and
    primary_conninfo written), started with `cluster_name=name`, the application_name its WAL
    receiver reports, which the primary's synchronous_standby_names can then require."""
    root = Path(tempfile.mkdtemp(prefix="shipshape-pg-standby-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    as_user = _as_server_user(root, sockets)
    backup = [*as_user, str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1"]
    backup += ["-p", str(primary.port), "-U", "postgres", "-D", str(data)]
    subprocess.run([*backup, "-R", "-X", "stream", "-c", "fast"], check=True, capture_output=True)
    port = free_port()
    options = " ".join(f"-c {key}={value}" for key, value in settings.items())
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c cluster_name={name} {options}"
    )
    pg_ctl = [*as_user, str(PG_BIN / "pg_ctl"), "-D", str(data)]
    standby = PostgresCluster(root, port, sockets, pg_ctl, options)
    standby.start()
    try:
        yield standby
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def start_postgres() -> Iterator[DatabaseServer]:
    with postgres_cluster(FAST_TEST_SETTINGS) as cluster:
        port = cluster.port

        def admin(sql: str) -> None:
            subprocess.run(
                [
                    str(PG_BIN / "psql"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-q",
                    "-c",
                    sql,
                ],
                check=True,
                capture_output=True,
            )

        admin(f"CREATE ROLE shipshape LOGIN PASSWORD '{PASSWORD}'")
        admin("CREATE DATABASE shipshape OWNER shipshape")
        yield DatabaseServer(
            "postgresql", "127.0.0.1", port, "shipshape", PASSWORD, "shipshape", admin
        )


@contextlib.contextmanager
def start_mariadb() -> Iterator[DatabaseServer]:
    install_db = shutil.which("mariadb-install-db")
    mariadbd = shutil.which("mariadbd") or (
        "/usr/sbin/mariadbd" if Path("/usr/sbin/mariadbd").exists() else None
    )
    if not install_db or not mariadbd:
        raise ServerUnavailable("MariaDB not installed (apt-get install mariadb-server)")
    root = Path(tempfile.mkdtemp(prefix="shipshape-mariadb-"))
    data, sock = root / "data", root / "mariadb.sock"
    user = pwd.getpwuid(os.geteuid()).pw_name
    port = free_port()
    subprocess.run(
        [
            install_db,
            "--no-defaults",
            f"--datadir={data}",
            f"--user={user}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
    )
    log = open(root / "mariadb.log", "wb")
    command = [
        mariadbd,
        "--no-defaults",
        f"--datadir={data}",
        f"--socket={sock}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        f"--user={user}",
        "--skip-name-resolve",
        "--max-connections=400",
        "--innodb-flush-log-at-trx-commit=2",
        "--innodb-buffer-pool-size=128M",
        f"--pid-file={root / 'mariadb.pid'}",
    ]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def admin(sql: str) -> None:
        subprocess.run(
            ["mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "-e", sql],
            check=True,
            capture_output=True,
        )

    def ping() -> bool:
        if process.poll() is not None:
            raise ServerUnavailable(
                f"mariadbd exited: {(root / 'mariadb.log').read_text()[-2000:]}"
            )
        return (
            subprocess.run(
                ["mariadb-admin", "--no-defaults", f"--socket={sock}", "-uroot", "ping"],
                capture_output=True,
            ).returncode
            == 0
        )

    def restart(down_for: float) -> None:
        nonlocal process
        process.terminate()  # SIGTERM: mariadbd's clean shutdown
        process.wait(timeout=60)
        time.sleep(down_for)
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _wait(ping, "MariaDB after a restart")

    try:
        _wait(ping, "MariaDB")
        admin(f"CREATE USER 'shipshape'@'%' IDENTIFIED BY '{PASSWORD}'")
        admin("CREATE DATABASE shipshape CHARACTER SET utf8mb4")
        admin("GRANT ALL ON shipshape.* TO 'shipshape'@'%'")
        yield DatabaseServer(
            "mariadb", "127.0.0.1", port, "shipshape", PASSWORD, "shipshape", admin, restart
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def external_server(kind: str, url: str) -> DatabaseServer:
    """A server someone else runs (CI service containers), given by a superuser URL."""
    import asyncio

    from sqlalchemy.engine import make_url

    parsed = make_url(url)

    async def run(sql: str) -> None:
        if kind == "postgresql":
            import asyncpg

            conn = await asyncpg.connect(
                host=parsed.host,
                port=parsed.port or 5432,
                user=parsed.username,
                password=parsed.password,
                database=parsed.database or "postgres",
            )
            try:
                await conn.execute(sql)
            finally:
                await conn.close()
        else:
            import asyncmy

            conn = await asyncmy.connect(
                host=parsed.host,
                port=parsed.port or 3306,
                user=parsed.username,
                password=parsed.password or "",
                autocommit=True,
            )
            try:
                async with conn.cursor() as cursor:
                    await cursor.execute(sql)
            finally:
                conn.close()

    def admin(sql: str) -> None:
        asyncio.run(run(sql))

    return DatabaseServer(
        kind,
        parsed.host or "127.0.0.1",
        parsed.port or (5432 if kind == "postgresql" else 3306),
        parsed.username or "",
        parsed.password or "",
        parsed.database or "shipshape",
        admin,
    )
