"""The shipped nginx (deploy/nginx) never duplicates a write, and follows the app's name when
the app is recreated (issue 20). Real Debian nginx, the real config, a DNS server the test
controls (`tests/support/nginx.py`), app instances on distinct loopback addresses.

- An upstream that received a `GET /` (records a visit) or a `PUT /hello` and then failed is
  not asked again on another instance: the client gets a 502 and decides itself.
- A read that failed the same way is retried on the other instance (so this setup can see a
  retry: the write assertions are not vacuous).
- The app's process recreated on a new address under the same name is reached without
  restarting nginx (nginx re-resolves the name)."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import free_port
from tests.support.nginx import DnsServer, render_nginx, running_nginx

NAME = "app.shipshape.test"
FIRST, SECOND = "127.0.0.3", "127.0.0.4"
SHIPSHAPE = str(Path(sys.executable).parent / "shipshape")


class Crashing:
    """An app instance that reads a request and drops the connection without an answer (as
    one killed mid-request does). Counts what reached it."""

    def __init__(self, host: str, port: int) -> None:
        self.received: Counter[str] = Counter()
        self.sock = socket.create_server((host, port))
        self.sock.settimeout(0.2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                if data:
                    method, path = data.split(b" ", 2)[:2]
                    self.received[f"{method.decode()} {path.decode()}"] += 1

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


def request(port: int, method: str, path: str, body: bytes | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


@contextlib.contextmanager
def edge(
    addresses: list[str], app_port: int
) -> Iterator[tuple[int, DnsServer, subprocess.Popen[bytes]]]:
    prefix = Path(tempfile.mkdtemp(prefix="shipshape-nginx-writes-"))
    prefix.chmod(0o755)
    with DnsServer(addresses) as dns:
        edge_port = free_port()
        conf = render_nginx(
            prefix,
            upstream=f"{NAME}:{app_port}",
            listen=f"127.0.0.1:{edge_port}",
            resolver=f"127.0.0.1:{dns.port}",
        )
        with running_nginx(prefix, conf, edge_port) as proc:
            yield edge_port, dns, proc


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/", None), ("PUT", "/hello/ada", b'{"dateOfBirth": "1990-01-01"}')],
)
def test_a_write_that_reached_a_failing_instance_is_not_resent(
    method: str, path: str, body: bytes | None
) -> None:
    port = free_port()
    instances = [Crashing(FIRST, port), Crashing(SECOND, port)]
    try:
        with edge([FIRST, SECOND], port) as (edge_port, _dns, _proc):
            for _ in range(4):  # both instances get their turn (round robin)
                assert request(edge_port, method, path, body) == 502
            received = sum(i.received[f"{method} {path}"] for i in instances)
            assert received == 4, [i.received for i in instances]  # each sent once, no retry
            # The same failure on a read: nginx tries the other instance (retries are visible).
            assert request(edge_port, "GET", "/list") == 502
            assert sum(i.received["GET /list"] for i in instances) == 2
    finally:
        for instance in instances:
            instance.close()


def _serve(host: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [SHIPSHAPE, "serve", "--host", host, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _until(check, what: str, bound: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + bound
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _answers(port: int, path: str, host: str | None = None) -> bool:
    try:
        if host:
            conn = http.client.HTTPConnection(host, port, timeout=5)
            try:
                conn.request("GET", path)
                return conn.getresponse().status == 200
            finally:
                conn.close()
        return request(port, "GET", path) == 200
    except OSError:
        return False


def test_a_recreated_app_is_reached_without_restarting_nginx(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'edge.db'}",
        "SHIPSHAPE_DRAIN_SECONDS": "0",
        "SHIPSHAPE_LOG_FORMAT": "text",
    }
    subprocess.run([SHIPSHAPE, "migrate"], env=env, check=True, capture_output=True, timeout=120)
    port, log = free_port(), tmp_path / "app.log"
    apps: list[subprocess.Popen[bytes]] = []
    try:
        apps.append(_serve(FIRST, port, env, log))
        _until(
            lambda: _answers(port, "/livez", FIRST), f"first app did not start: {log.read_text()}"
        )
        with edge([FIRST], port) as (edge_port, dns, nginx):
            assert request(edge_port, "GET", "/") == 200
            apps[0].send_signal(signal.SIGTERM)  # the container goes away...
            apps[0].wait(timeout=30)
            assert request(edge_port, "GET", "/livez") == 502
            dns.addresses = [SECOND]  # ...and comes back elsewhere under the same name
            apps.append(_serve(SECOND, port, env, log))
            _until(lambda: _answers(port, "/livez", SECOND), "second app did not start")
            _until(lambda: _answers(edge_port, "/livez"), "nginx never reached the new app")
            assert request(edge_port, "GET", "/") == 200
            assert nginx.poll() is None  # the same nginx process all along
    finally:
        for app in apps:
            if app.poll() is None:
                app.kill()
                app.wait(timeout=10)
