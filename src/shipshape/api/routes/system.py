"""Instance information: /stats, /config (redacted), /version."""

from __future__ import annotations

import os
import platform
import socket
import time
from typing import Any

import psutil
from fastapi import APIRouter, Response

from shipshape import __version__
from shipshape.api.deps import ServicesDep
from shipshape.api.responses import JSON

router = APIRouter(tags=["system"])
_process = psutil.Process()


def prime_cpu_counters() -> None:
    """psutil's first cpu_percent() call has no reference point and returns 0.0."""
    psutil.cpu_percent(interval=None)
    _process.cpu_percent(interval=None)


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


@router.get("/stats", summary="System statistics of this instance")
async def stats(services: ServicesDep) -> Response:
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage("/")
    try:
        connections = len(_process.net_connections(kind="inet"))
    except psutil.Error:
        connections = -1
    body: dict[str, Any] = {
        "cpu": psutil.cpu_percent(interval=None),
        "ram": memory.percent,
        "load_average": list(os.getloadavg()),
        "cpu_count": psutil.cpu_count(),
        "disk": {"percent": disk.percent, "free_bytes": disk.free, "total_bytes": disk.total},
        "process": {
            "rss_bytes": _process.memory_info().rss,
            "cpu_percent": _process.cpu_percent(interval=None),
            "open_connections": connections,
            "threads": _process.num_threads(),
        },
        "cgroup_memory": _cgroup_memory(),
        "uptime_seconds": round(time.time() - services.state.started_at, 3),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "pod": os.environ.get("HOSTNAME", socket.gethostname()),
        "requests_total": services.metrics.total_requests,
    }
    return JSON(body)


@router.get("/config", summary="Effective configuration, secrets redacted")
async def config(services: ServicesDep) -> Response:
    return JSON(services.settings.redacted())


@router.get("/version", summary="Build information")
async def version(services: ServicesDep) -> Response:
    return JSON(
        {
            "version": __version__,
            "commit": services.settings.git_commit,
            "build_date": services.settings.build_date,
            "python": platform.python_version(),
        }
    )
