"""`shipshape check-writes` against a real running server (issue 20): it finds every write
acknowledged, and it catches a seeded loss (a proxy that acknowledges without storing) and a
seeded duplicate (a proxy that sends a visit twice)."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.databases import free_port
from tests.support.process import SHIPSHAPE, ServerProcess, cli


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("check-writes") / "shipshape.db"
    env = {
        "DATABASE_URL": f"sqlite:///{db}",
        "SHIPSHAPE_DRAIN_SECONDS": "0",
        "SHIPSHAPE_ACCESS_LOG": "false",
    }
    cli("migrate", env=env)
    with ServerProcess(env) as running:
        yield running


def check_writes(url: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    result = subprocess.run(
        [SHIPSHAPE, "check-writes", "--url", url, *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, report, result.stderr


class Proxy(BaseHTTPRequestHandler):
    """Forwards to the real server; `lie_every` acknowledges that share of writes without
    forwarding them, `send_visits_twice` forwards each visit twice (a retrying proxy)."""

    upstream: tuple[str, int]
    lie_every = 0
    fail_every = 0
    send_visits_twice = False
    slow_reads = 0.0  # seconds each GET /hello/{name} is held before it is forwarded
    writes = 0
    lock = threading.Lock()

    def log_message(self, *args: object) -> None:
        pass

    def _forward(self, body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in (
                "content-length",
                "transfer-encoding",
                "connection",
                "date",
                "server",
            ):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        is_write = self.path == "/" or (self.command == "PUT" and self.path.startswith("/hello/"))
        if self.slow_reads and self.command == "GET" and self.path.startswith("/hello/"):
            time.sleep(self.slow_reads)
        if is_write:
            with self.lock:
                type(self).writes += 1
                lie = self.lie_every and type(self).writes % self.lie_every == 0
                fail = self.fail_every and type(self).writes % self.fail_every == 0
            if fail:  # refused (never stored): an error, not a loss
                return self._answer(503, [("Retry-After", "1")], b'{"detail": "x"}')
            if lie:  # acknowledged, never stored
                if self.command == "PUT":
                    return self._answer(204, [], b"")
                fake = {
                    "message": "Hello",
                    "ip": "127.0.0.1",
                    "time": dt.datetime.now(dt.UTC).isoformat(),
                }
                return self._answer(
                    200, [("Content-Type", "application/json")], json.dumps(fake).encode()
                )
            if self.send_visits_twice and self.path == "/":
                self._forward(body)
        self._answer(*self._forward(body))

    do_GET = do_PUT = _handle


@contextlib.contextmanager
def proxy(server: ServerProcess, **behaviour: Any) -> Iterator[str]:
    handler = type(
        "SeededProxy", (Proxy,), {"upstream": ("127.0.0.1", server.port), "writes": 0, **behaviour}
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_every_acknowledged_write_is_found(server: ServerProcess) -> None:
    code, report, stderr = check_writes(server.base_url, "--count", "120", "--duration", "60")
    assert code == 0, stderr
    assert report["ok"] is True
    assert report["requests"] == 120
    assert report["visits"]["acknowledged"] == report["visits"]["present"] == 60
    assert report["birthdays"]["acknowledged"] == report["birthdays"]["present"] == 60
    assert report["lost"] == report["duplicated"] == 0
    assert report["errors_by_status"] == {}
    assert "OK: 120 acknowledged, 0 lost, 0 duplicated" in stderr


def test_a_proxy_that_acknowledges_without_storing_is_caught(server: ServerProcess) -> None:
    with proxy(server, lie_every=4) as url:
        code, report, stderr = check_writes(url, "--count", "40", "--duration", "60")
    assert code == 1, stderr
    assert report["ok"] is False
    assert report["acknowledged"] == 40
    assert report["lost"] == 10  # every 4th write was never forwarded
    assert report["visits"]["lost"] + report["birthdays"]["lost"] == 10
    assert report["visits"]["lost_markers"] or report["birthdays"]["lost_markers"]
    assert "FAILED" in stderr


def test_a_proxy_that_sends_a_visit_twice_is_caught(server: ServerProcess) -> None:
    with proxy(server, send_visits_twice=True) as url:
        code, report, stderr = check_writes(url, "--count", "20", "--duration", "60")
    assert code == 1, stderr
    assert report["lost"] == 0
    assert report["duplicated"] == report["visits"]["duplicated"] == 10


def test_errors_are_counted_by_status_and_are_not_losses(server: ServerProcess) -> None:
    with proxy(server, fail_every=5) as url:
        code, report, stderr = check_writes(url, "--count", "20", "--duration", "60")
    assert code == 0, stderr
    assert report["errors_by_status"] == {"503": 4}
    assert report["acknowledged"] == 16
    assert report["lost"] == 0


def test_an_unreachable_url_is_one_line_and_count_and_duration_are_required(
    server: ServerProcess,
) -> None:
    code, report, stderr = check_writes(
        f"http://127.0.0.1:{free_port()}", "--count", "5", "--duration", "5"
    )
    assert code == 2
    assert report == {}
    assert len(stderr.strip().splitlines()) == 1
    assert "connection" in stderr
    missing = subprocess.run(
        [SHIPSHAPE, "check-writes", "--url", server.base_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2  # --count and --duration are required
    assert "--count" in missing.stderr


def test_rate_paces_the_writes(server: ServerProcess) -> None:
    # 20 writes at 10 per second: write n is due n/10 s after the start, so the last one
    # cannot start before 1.9 s, however fast the server answers.
    code, report, stderr = check_writes(
        server.base_url, "--count", "20", "--duration", "60", "--rate", "10"
    )
    assert code == 0, stderr
    assert report["requests"] == 20
    assert report["rate"] == 10
    assert report["seconds"] >= 1.9
    unpaced_code, unpaced, _ = check_writes(server.base_url, "--count", "20", "--duration", "60")
    assert unpaced_code == 0
    assert unpaced["rate"] is None


def test_a_readback_past_its_bound_fails_instead_of_running_on(server: ServerProcess) -> None:
    # 10 saves to read back, 8 at a time, each read held 1.5 s: the reads started after the
    # 0.5 s readback bound are not sent; the check says so on one line and exits 2.
    with proxy(server, slow_reads=1.5) as url:
        code, report, stderr = check_writes(
            url, "--count", "20", "--duration", "60", "--readback-timeout", "0.5"
        )
    assert code == 2, stderr
    assert report == {}
    assert len(stderr.strip().splitlines()) == 1
    assert "reading back did not finish within 0.5s" in stderr
    with proxy(server, slow_reads=0.2) as url:  # the same within a bound that fits: OK
        code, report, stderr = check_writes(
            url, "--count", "20", "--duration", "60", "--readback-timeout", "30"
        )
    assert code == 0, stderr
    assert report["readback_seconds"] < 30


def test_the_options_must_be_positive(server: ServerProcess) -> None:
    for option in ("--rate", "--readback-timeout", "--timeout"):
        code, _report, stderr = check_writes(
            server.base_url, "--count", "5", "--duration", "5", option, "0"
        )
        assert code == 2, option
        assert "must be positive" in stderr
