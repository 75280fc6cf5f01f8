"""A throwaway PostgreSQL 15 with DURABLE settings for the benchmark.

Unlike the test fixture (fsync=off), every commit here is flushed to disk: fsync=on,
synchronous_commit=on, full_page_writes=on. Only durability-neutral knobs are tuned
(shared_buffers, max_wal_size so that no checkpoint storm lands in a short run).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.databases import PG_BIN, free_port, postgres_cluster

__all__ = [
    "DATABASE",
    "DURABLE_SETTINGS",
    "PASSWORD",
    "PG_BIN",
    "USER",
    "Postgres",
    "durable_postgres",
    "free_port",
]

USER = "bench"
PASSWORD = "bench-Pa55"  # throwaway instance on loopback only
DATABASE = "bench"

DURABLE_SETTINGS = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "wal_sync_method": "fdatasync",
    "max_connections": "300",
    "shared_buffers": "512MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
}


@dataclass
class Postgres:
    host: str
    port: int
    root: Path

    @property
    def url(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@{self.host}:{self.port}/{DATABASE}"

    def psql_args(self, user: str = USER, database: str = DATABASE) -> list[str]:
        return [
            str(PG_BIN / "psql"),
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            user,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-X",
            "-q",
            "-A",
            "-t",
        ]

    def sql(self, statement: str, user: str = USER, database: str = DATABASE) -> str:
        """Run SQL through psql and return its unaligned, tuples-only output."""
        done = subprocess.run(
            [*self.psql_args(user, database), "-c", statement],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": PASSWORD},
        )
        return done.stdout.strip()

    def scalar(self, statement: str) -> int:
        return int(self.sql(statement).splitlines()[-1])

    @property
    def pid(self) -> int | None:
        """The postmaster's pid (its children are the backends)."""
        try:
            return int((self.root / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def settings(self) -> dict[str, str]:
        names = ", ".join(f"'{name}'" for name in DURABLE_SETTINGS)
        out = self.sql(f"SELECT name, setting FROM pg_settings WHERE name IN ({names})")
        return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)


@contextlib.contextmanager
def durable_postgres() -> Iterator[Postgres]:
    """The tests' throwaway cluster starter, with fsync and synchronous commit on."""
    with postgres_cluster(DURABLE_SETTINGS, prefix="shipshape-bench-pg-") as cluster:
        server = Postgres("127.0.0.1", cluster.port, cluster.root)
        role = f"CREATE ROLE {USER} LOGIN SUPERUSER PASSWORD '{PASSWORD}'"
        server.sql(role, "postgres", "postgres")
        server.sql(f"CREATE DATABASE {DATABASE} OWNER {USER}", "postgres", "postgres")
        yield server
