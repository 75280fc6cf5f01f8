"""Instance information: /stats, /config (redacted), /version."""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import psutil
from fastapi import Response

from shipshape import __version__
from shipshape.api.deps import ServicesDep
from shipshape.api.responses import JSON


def prime_cpu_counters(process: psutil.Process) -> None:
    """psutil's first cpu_percent() call has no reference point and returns 0.0."""
    psutil.cpu_percent(interval=None)
    process.cpu_percent(interval=None)


def _cgroup_memory() -> dict[str, int] | None:
    """Container memory as Kubernetes sees it (cgroup v2), when a limit is set."""
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current") as fh:
            current = int(fh.read().strip())
    except OSError:
        return None
    if limit == "max":
        return None
    return {"limit_bytes": int(limit), "usage_bytes": current}


async def stats(services: ServicesDep) -> Response:
    """CPU and RAM percentages (a compatibility contract), load, disk, process, uptime."""
    process = services.process
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage("/")
    try:
        connections = len(process.net_connections(kind="inet"))
    except psutil.Error:
        connections = -1
    body: dict[str, Any] = {
        "cpu": psutil.cpu_percent(interval=None),
        "ram": memory.percent,
        "load_average": list(os.getloadavg()),
        "cpu_count": psutil.cpu_count(),
        "disk": {"percent": disk.percent, "free_bytes": disk.free, "total_bytes": disk.total},
        "process": {
            "rss_bytes": process.memory_info().rss,
            "cpu_percent": process.cpu_percent(interval=None),
            "open_connections": connections,
            "threads": process.num_threads(),
        },
        "cgroup_memory": _cgroup_memory(),
        "uptime_seconds": round(time.time() - services.state.started_at, 3),
        "hostname": services.hostname,
        "pid": os.getpid(),
        "pod": services.hostname,  # a pod's hostname is its name
        "requests_total": services.metrics.total_requests,
    }
    return JSON(body)


async def config(services: ServicesDep) -> Response:
    """The effective configuration; secrets are always redacted."""
    return JSON(services.settings.redacted())


async def version(services: ServicesDep) -> Response:
    """Version, git commit, build date and Python version of this build."""
    return JSON(
        {
            "version": __version__,
            "commit": services.settings.git_commit,
            "build_date": services.settings.build_date,
            "python": platform.python_version(),
        }
    )
