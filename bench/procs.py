"""Server processes for the benchmark: start, wait until ready, sample RSS and CPU, stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss_bytes(pid: int) -> int:
    """Resident memory of a server: the process and all its worker processes."""
    total = 0
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def cpu_seconds(pid: int) -> float:
    """CPU used by a process tree: its live processes, plus the children the root has reaped.
    The second part matters for PostgreSQL: a backend that exits (the naive app opens a new
    connection per overflowing request, each with a SCRAM handshake) leaves the live tree,
    and its CPU would otherwise be counted as another tenant's."""
    total = 0.0
    for n, proc in enumerate(tree(pid)):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
            if n == 0:
                total += times.children_user + times.children_system
    return total


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str = "/livez", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.url + path, timeout=2) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.2)
        tail = self.log.read_text()[-3000:]
        raise RuntimeError(f"{self.name} not ready after {timeout}s: {tail}")

    def rss(self) -> int:
        return rss_bytes(self.process.pid)

    def quiesce(self, idle_fraction: float = 0.05, timeout: float = 90) -> float:
        """Wait until the server burns (almost) no CPU: abandoned work from a previous run
        (a baseline still chewing through timed-out requests) must not leak into the next."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            before = cpu_seconds(self.process.pid)
            time.sleep(0.5)
            if cpu_seconds(self.process.pid) - before < 0.5 * idle_fraction:
                break
        return time.monotonic() - start

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        # Workers of a multi-process server can outlive their parent for a moment.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


@contextlib.contextmanager
def server(
    name: str,
    command: list[str],
    *,
    port: int,
    env: dict[str, str],
    logdir: Path,
    ready_path: str = "/livez",
    cwd: Path | None = None,
) -> Iterator[Server]:
    log = logdir / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL if env.get("BENCH_STDOUT") == "null" else out,
            stderr=out,
            start_new_session=True,  # its own process group: stop() reaches every worker
        )
    srv = Server(name, process, port, log)
    try:
        srv.wait_ready(ready_path)
        yield srv
    finally:
        srv.stop()


@dataclass
class RssSampler:
    """Samples a server's RSS in the background (for the peak during a run, and the soak)."""

    pid: int
    interval: float = 0.5
    samples: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((round(time.monotonic() - start, 2), rss_bytes(self.pid)))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((self.samples[-1][0] if self.samples else 0.0, rss_bytes(self.pid)))


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user..steal (guest time is already inside user)
    return total - idle, total


class CpuAccount:
    """Who used the CPUs during a run: the server, PostgreSQL, wrk, and everything else.

    "other" is the noise indicator: other tenants of a shared machine steal cores from the
    run, and a run with a high "other" is not comparable with a quiet one."""

    def __init__(self, server_pid: int, postgres_pid: int | None) -> None:
        self.server_pid = server_pid
        self.postgres_pid = postgres_pid

    def _snapshot(self) -> tuple[float, float, float, float, int, int]:
        busy, total = machine_jiffies()
        children = os.times()
        return (
            time.monotonic(),
            cpu_seconds(self.server_pid),
            cpu_seconds(self.postgres_pid) if self.postgres_pid else 0.0,
            children.children_user + children.children_system,
            busy,
            total,
        )

    def __enter__(self) -> CpuAccount:
        self.start = self._snapshot()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._snapshot()
        wall = max(end[0] - self.start[0], 1e-6)
        hz = os.sysconf("SC_CLK_TCK")
        machine = (end[4] - self.start[4]) / hz / wall
        server = (end[1] - self.start[1]) / wall
        postgres = (end[2] - self.start[2]) / wall
        loadgen = (end[3] - self.start[3]) / wall
        self.result = {
            "machine_cores": round(machine, 2),
            "server_cores": round(server, 2),
            "postgres_cores": round(postgres, 2),
            "wrk_cores": round(loadgen, 2),
            "other_cores": round(max(0.0, machine - server - postgres - loadgen), 2),
        }


def wait_quiet(max_wait: float, busy_cores: float = 0.4) -> float:
    """Wait (bounded) until the machine is nearly idle before a case; return the wait."""
    start = time.monotonic()
    hz = os.sysconf("SC_CLK_TCK")
    while time.monotonic() - start < max_wait:
        b0, _ = machine_jiffies()
        time.sleep(1.0)
        b1, _ = machine_jiffies()
        if (b1 - b0) / hz < busy_cores:
            break
    return round(time.monotonic() - start, 1)
