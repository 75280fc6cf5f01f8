"""The exposition is valid for promtool, and a real Prometheus server scrapes and queries it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.support.databases import free_port
from tests.support.process import ServerProcess, cli
from tests.support.tools import unavailable


@pytest.fixture(scope="module")
def server():
    tmp = Path(tempfile.mkdtemp(prefix="shipshape-prom-"))
    env = {"DATABASE_URL": f"sqlite:///{tmp / 'x.db'}"}
    cli("migrate", env=env)
    with ServerProcess(env) as proc:
        for path in ("/", "/", "/list", "/hello/alice", "/nope", "/readyz"):
            httpx.get(f"{proc.base_url}{path}")
        yield proc
    shutil.rmtree(tmp, ignore_errors=True)


def test_promtool_check_metrics(server):
    promtool = shutil.which("promtool")
    if not promtool:
        unavailable("promtool not installed (apt-get install prometheus)")
    exposition = httpx.get(f"{server.base_url}/metrics").text
    assert "shipshape_http_requests_total" in exposition
    result = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()


def test_real_prometheus_scrapes_the_app(server, tmp_path):
    prometheus = shutil.which("prometheus")
    if not prometheus:
        unavailable("prometheus not installed (apt-get install prometheus)")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: shipshape\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{server.port}']\n"
    )
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        query = 'shipshape_http_requests_total{route="/",method="GET",status="2xx"}'
        result: list = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not result:
            time.sleep(1)
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=5
                )
            except httpx.HTTPError:
                continue
            if response.status_code == 200:
                result = response.json()["data"]["result"]
        assert result, (tmp_path / "prometheus.log").read_text()[-3000:]
        metric = result[0]["metric"]
        assert metric["job"] == "shipshape"
        assert metric["route"] == "/"
        assert float(result[0]["value"][1]) >= 2
        up = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/query", params={"query": "up{job='shipshape'}"}
        ).json()
        assert up["data"]["result"][0]["value"][1] == "1"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
