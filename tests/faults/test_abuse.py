"""Fault campaign, scenario 7 (issue 20): abuse. Real processes on loopback: PostgreSQL, one
`shipshape serve` replica and Debian's nginx with the shipped config in front of it.

While 500 slow clients (slowloris) hold connections to the app directly and 500 more to
nginx - reconnecting as soon as they are closed, as an attacker does - `shipshape check-writes`
runs against both: every acknowledged write is read back (0 lost, 0 duplicated) and every
normal request is answered (no error at all). The server must close each slow connection
within its timeout (SHIPSHAPE_CLIENT_HEADER_TIMEOUT_SECONDS / _BODY_, nginx's
client_header_timeout / client_body_timeout: 10 s) plus slack. Meanwhile oversized heads
(a 64 KiB header line, 150 and 1,000 header lines, 200 KiB of headers, a header streamed without end)
and bodies (1 MiB declared, 1 MiB chunked) are answered 4xx at both, never 5xx; and the app's
resident memory, sampled all along, stays within a bound of its baseline although 20 clients
at once stream 16 MiB heads and 16 MiB bodies at it.

Results go to test-artifacts/reliability-7.json (the shape of test_campaign.py's
reliability.json) for docs/reliability.md."""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil

from shipshape.checker import check
from shipshape.core.config import Settings
from tests.faults.test_campaign import (  # the campaign's harness, shared
    Checker,
    edge,
    judged,
    postgres,  # noqa: F401 - the module-scoped PostgreSQL fixture
    replicas,
)
from tests.support.nginx import DnsServer
from tests.support.tools import REPO

SLOW_CLIENTS = 500  # per target: the app directly, and nginx
STALLED_BODIES = 100  # of them: a whole head, then a body that never comes
LOAD = 20.0  # seconds of normal load (check-writes) under the abuse
DEFAULTS = Settings()
HEADER_TIMEOUT = DEFAULTS.client_header_timeout_seconds  # nginx: client_header_timeout 10s
BODY_TIMEOUT = DEFAULTS.client_body_timeout_seconds  # nginx: client_body_timeout 10s
SLACK = 5.0  # timer granularity and a loaded 2-core machine
# Resident memory the abuse may add to the app. What it holds at most: ~500 connections
# (a protocol, a transport and a parser each, a few KiB) plus, for each of the 20 oversized
# streams at a time, one head up to SHIPSHAPE_MAX_HEADER_BYTES (64 KiB) and one socket read
# (256 KiB), plus a body up to SHIPSHAPE_MAX_BODY_BYTES: ~20 MiB all told; the checker's load
# is the same as in any scenario. Without the head bound, the 20 streams alone are 320 MiB.
RSS_BOUND = 64 * 1024 * 1024
HUGE = 16 * 1024 * 1024
MIB = 1024 * 1024


def head_request(headers: list[tuple[str, str]], path: str = "/livez") -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: abuse.test", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def body_request(body: bytes, chunked: bool) -> bytes:
    head = (
        "PUT /hello/abuse HTTP/1.1\r\nHost: abuse.test\r\nConnection: close\r\n"
        "Content-Type: application/json\r\n"
    )
    if not chunked:
        return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:65536],) * 16)
    return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks + b"0\r\n\r\n"


def endless(prefix: bytes, filler: bytes) -> Iterator[bytes]:
    """`prefix`, then `filler` repeated up to 16 MiB: a head or a body that does not stop."""
    yield prefix
    for _ in range(HUGE // len(filler)):
        yield filler


# name -> what is sent (bytes, or chunks for a stream)
OVERSIZED: dict[str, Any] = {
    "64 KiB header line": head_request([("X-Big", "a" * 65536)]),
    "150 header lines": head_request([(f"X-{n}", "v") for n in range(150)]),
    "1,000 header lines": head_request([(f"X-{n}", "v") for n in range(1000)]),
    "200 KiB of headers": head_request([(f"X-{n}", "a" * 1024) for n in range(200)]),
    "16 MiB header streamed": lambda: endless(
        b"GET /livez HTTP/1.1\r\nHost: abuse.test\r\nX-Endless: ", b"a" * 65536
    ),
    "1 MiB body": body_request(b"1" * MIB, chunked=False),
    "1 MiB chunked body": body_request(b"1" * MIB, chunked=True),
    "16 MiB chunked body streamed": lambda: endless(
        b"PUT /hello/abuse HTTP/1.1\r\nHost: abuse.test\r\nConnection: close\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        b"10000\r\n" + b"x" * 65536 + b"\r\n",
    ),
}
# What each target answers. nginx: 400 for a header line longer than one of its
# large_client_header_buffers (16k), a head that does not fit them all (4 x 16k), or more
# header lines than it takes (a fixed ~1,000 in nginx 1.22: "client sent too many header
# lines"); 150 short lines do reach the app, which answers 431 (SHIPSHAPE_MAX_HEADERS 100).
EXPECTED = {
    "app": {
        "64 KiB header line": "431",
        "150 header lines": "431",
        "1,000 header lines": "431",
        "200 KiB of headers": "431",
        "16 MiB header streamed": "431",
        "1 MiB body": "413",
        "1 MiB chunked body": "413",
        "16 MiB chunked body streamed": "413",
    },
    "nginx": {
        "64 KiB header line": "400",
        "150 header lines": "431",
        "1,000 header lines": "400",
        "200 KiB of headers": "400",
        "16 MiB header streamed": "400",
        "1 MiB body": "413",
        "1 MiB chunked body": "413",
        "16 MiB chunked body streamed": "413",
    },
}


def send_and_read_status(address: tuple[str, int], payload: Any) -> tuple[str, bytes]:
    """Send one abusive request; the status the server answered (or what happened) and the
    body's first bytes. Sending stops when the server closes the connection."""
    sock = socket.create_connection(address, timeout=15)
    try:
        parts = payload() if callable(payload) else [payload]
        with contextlib.suppress(OSError):  # EPIPE / ECONNRESET: the server stopped reading
            for part in parts:
                sock.sendall(part)
        data = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 200:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        if not data.startswith(b"HTTP/"):
            return ("no answer" if not data else "garbage"), data[:100]
        status = data.split(b" ", 2)[1].decode()
        return status, data.partition(b"\r\n\r\n")[2][:100]
    finally:
        sock.close()


class SlowClients(threading.Thread):
    """`count` slowloris connections to `address`, kept open (re-opened as soon as the server
    closes one) until `stop` is set: most trickle a header byte a second and never end their
    head; `stalled` of them send a whole head and the first byte of a body, then nothing."""

    def __init__(self, address: tuple[str, int], count: int, stalled: int) -> None:
        super().__init__(daemon=True)
        self.address, self.count, self.stalled = address, count, stalled
        self.stop = threading.Event()
        self.lifetimes: list[float] = []  # connections the server closed: how long they lived
        self.answers: Counter[str] = Counter()  # what the server said before closing
        self.still_open_ages: list[float] = []  # at stop
        self.opened = 0
        self.open_at_most = 0
        self.error: BaseException | None = None

    def _open(self, selector: selectors.BaseSelector, stalled: bool) -> None:
        sock = socket.create_connection(self.address, timeout=10)
        if stalled:
            sock.sendall(
                b"PUT /hello/slowpoke HTTP/1.1\r\nHost: abuse.test\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            )
        else:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: abuse.test\r\n")
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, [time.monotonic(), stalled, b""])
        self.opened += 1

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        for n in range(self.count):
            self._open(selector, stalled=n < self.stalled)
        next_drip = time.monotonic() + 1
        while not self.stop.is_set():
            for key, _ in selector.select(timeout=0.1):
                opened_at, stalled, said = key.data
                try:
                    chunk = key.fileobj.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""  # reset
                if chunk:
                    key.data[2] = said + chunk
                    continue
                selector.unregister(key.fileobj)
                key.fileobj.close()
                self.lifetimes.append(time.monotonic() - opened_at)
                self.answers[said.split(b" ", 2)[1].decode() if said else "closed silently"] += 1
                self._open(selector, stalled)  # the attacker comes straight back
            self.open_at_most = max(self.open_at_most, len(selector.get_map()))
            if time.monotonic() >= next_drip:
                next_drip += 1
                for key in list(selector.get_map().values()):
                    if not key.data[1]:
                        with contextlib.suppress(OSError):
                            key.fileobj.send(b"X")  # one more byte of a header name
        now = time.monotonic()
        for key in list(selector.get_map().values()):
            self.still_open_ages.append(now - key.data[0])
            key.fileobj.close()
        selector.close()

    def summary(self) -> dict[str, Any]:
        return {
            "connections": self.count,
            "stalled_bodies": self.stalled,
            "opened": self.opened,
            "closed_by_server": len(self.lifetimes),
            "longest_connection_seconds": round(max(self.lifetimes, default=0), 2),
            "answers_before_close": dict(self.answers),
            "open_at_most": self.open_at_most,
        }


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.stop = threading.Event()
        self.peak = self.rss()

    def rss(self) -> int:
        return self.process.memory_info().rss

    def run(self) -> None:
        while not self.stop.wait(0.05):
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.rss())


def combined(reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One report for the table row: the sums (and worst cases) of the checker runs."""
    errors: Counter[str] = Counter()
    for report in reports.values():
        errors.update(report["errors_by_status"])
    failed = [r["last_error_at_seconds"] for r in reports.values() if r["last_error_at_seconds"]]
    return {
        "requests": sum(r["requests"] for r in reports.values()),
        "acknowledged": sum(r["acknowledged"] for r in reports.values()),
        "lost": sum(r["lost"] for r in reports.values()),
        "duplicated": sum(r["duplicated"] for r in reports.values()),
        "errors_by_status": dict(sorted(errors.items())),
        "longest_request_seconds": max(r["longest_request_seconds"] for r in reports.values()),
        "last_error_at_seconds": max(failed) if failed else None,
        "ok": all(r["ok"] for r in reports.values()),
    }


def test_scenario_7_abuse_slowloris_oversized_requests_bounded_memory(postgres, tmp_path) -> None:  # noqa: F811
    url = postgres.url
    with (
        replicas(url, ["127.0.0.20"], tmp_path) as (app,),
        DnsServer([app.host]) as dns,
        edge(dns, app.port) as edge_url,
    ):
        edge_address = ("127.0.0.1", int(edge_url.rsplit(":", 1)[1]))
        targets = {"app": (app.host, app.port), "nginx": edge_address}
        check(app.url, 200, 10, 4)  # warm-up: pools open, code paths run once
        rss = RssSampler(app.process.pid)
        baseline = rss.rss()
        rss.start()

        slow = {name: SlowClients(address, SLOW_CLIENTS, STALLED_BODIES) for name, address in targets.items()}  # fmt: skip
        for clients in slow.values():
            clients.start()
        time.sleep(2)  # all 1,000 connected
        checkers = {"app": Checker(app.url, LOAD, 4), "nginx": Checker(edge_url, LOAD, 4)}
        for checker in checkers.values():
            checker.start()
        abuse_started = time.monotonic()

        # While the slow clients hang on and the load runs: every oversized request at both
        # targets, then 20 at a time of the endless ones at the app (the memory abuse).
        with ThreadPoolExecutor(20) as pool:
            answers = {
                (target, name): pool.submit(send_and_read_status, address, payload)
                for target, address in targets.items()
                for name, payload in OVERSIZED.items()
            }
            oversized = {key: future.result() for key, future in answers.items()}
            streams = [
                pool.submit(send_and_read_status, targets["app"], OVERSIZED[name])
                for name in ("16 MiB header streamed", "16 MiB chunked body streamed")
                for _ in range(20)
            ]
            streamed = Counter(future.result()[0] for future in streams)

        reports = {name: checker.result() for name, checker in checkers.items()}
        for clients in slow.values():
            clients.stop.set()
        for clients in slow.values():
            clients.join(30)
            assert not clients.is_alive()
            if clients.error:
                raise clients.error
        time.sleep(1)
        after = rss.rss()
        rss.stop.set()
        rss.join(5)
        assert app.process.poll() is None  # still serving, never restarted

    statuses = {
        target: {name: oversized[(target, name)][0] for name in OVERSIZED} for target in targets
    }
    facts = {
        "fault": f"{SLOW_CLIENTS} slowloris clients at the app and {SLOW_CLIENTS} at nginx "
        f"({STALLED_BODIES} of each with a stalled body), re-opened when closed, for the "
        f"whole {LOAD:g} s of load; oversized heads and bodies at both; 40 x 16 MiB streams "
        "at the app",
        "fault_at": 0.0,
        "reports": reports,
        "slow_clients": {name: clients.summary() for name, clients in slow.items()},
        "oversized": statuses,
        "streams_at_app": dict(streamed),
        "rss_mib": {
            "baseline": round(baseline / MIB, 1),
            "peak": round(rss.peak / MIB, 1),
            "after": round(after / MIB, 1),
            "bound_above_baseline": RSS_BOUND / MIB,
        },
        "abuse_seconds": round(time.monotonic() - abuse_started, 1),
    }
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "reliability-7.json").write_text(
        json.dumps({"7": {"report": combined(reports), **facts}}, indent=2, default=str)
    )
    # Also into the campaign's results: when test_campaign.py runs after this module in the
    # same session (`make test-faults`), its docs/reliability.md gets row 7 from here.
    judged("7", combined(reports), **facts)

    # Normal clients served through it all: nothing lost or duplicated, nothing failed.
    for name, report in reports.items():
        assert report["lost"] == 0, (name, report)
        assert report["duplicated"] == 0, (name, report)
        assert report["errors_by_status"] == {}, (name, report)
        assert report["acknowledged"] > 0, (name, report)
        assert report["longest_request_seconds"] <= 15 + 1, (name, report)
    # Every slow connection closed by the server within its timeout: none lived longer, none
    # still open at the end is older, and each target closed at least the first 500.
    bound = max(HEADER_TIMEOUT, BODY_TIMEOUT) + SLACK
    for name, clients in slow.items():
        assert len(clients.lifetimes) >= SLOW_CLIENTS, (name, clients.summary())
        assert max(clients.lifetimes) <= bound, (name, clients.summary())
        assert max(clients.still_open_ages, default=0) <= bound, (name, clients.summary())
    # Oversized requests: 4xx, exactly as expected, never 5xx, never unanswered.
    assert statuses == EXPECTED, json.dumps(statuses, indent=1)
    assert oversized[("app", "1 MiB body")][1].startswith(b'{"detail":"Request body too large"}')
    assert oversized[("app", "64 KiB header line")][1] == (
        b'{"detail":"Request header fields too large"}'
    )
    assert streamed == {"431": 20, "413": 20}, streamed
    # Memory bounded.
    assert rss.peak - baseline <= RSS_BOUND, facts["rss_mib"]
