"""`shipshape check-writes`: prove that every write the service acknowledged is stored, once.

It drives a bounded load (`--count` writes within `--duration` seconds, both required;
`--rate` paces them to so many writes per second, so the load is the same on a fast laptop
and a loaded CI machine) of visits (`GET /`, each with its own User-Agent marker) and
birthday saves (`PUT /hello/{name}`, each with its own username) against a base URL - a
`make run` instance, a Compose stack, a Service or Ingress in a cluster - records every
acknowledged (2xx) write, then reads them back through the API (`GET /list?ip=...` for
visits, `GET /hello/{name}` for saves) and reports acknowledged / present / lost /
duplicated / errors by status. Exit status 0 when no acknowledged write is lost and none is
duplicated, 1 otherwise, 2 when the check could not run or read back.

Every phase is bounded, so a whole check ends within `bound(duration, timeout, readback)`:
the start-up probe and each request by `--timeout`, the load by `--duration` (plus the last
request in flight), the readback by `--readback-timeout` (it runs READBACK_CONCURRENCY
requests at once; past its bound the check fails with exit status 2 rather than run on).

The checker never retries a write: a duplicate it finds was made by something between it and
the database (a proxy resending a request). A write answered with an error may still have
been committed (a timeout mid-commit): it is reported as `present_unacknowledged`, not lost.

Standard library only (urllib in threads), so it runs wherever the service's image runs,
without adding a runtime dependency for a client.
"""

from __future__ import annotations

import datetime as dt
import json
import string
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from shipshape import __version__
from shipshape.domain.network import anonymize_ip

MARKER_PREFIX = "shipshape-check-writes"
LIST_PAGE = 1000
CLOCK_SKEW = dt.timedelta(minutes=5)  # between the servers' clocks, when reading back
READBACK_CONCURRENCY = 8  # reads in flight while reading back: a mild load, a short readback
DEFAULT_READBACK_SECONDS = 60.0


def bound(duration: float, timeout: float, readback: float = DEFAULT_READBACK_SECONDS) -> float:
    """The longest a check can take: the start-up probe, the load, the last write in flight,
    the readback and the last read in flight (each request bounded by `timeout`)."""
    return timeout + duration + timeout + readback + timeout


class CheckFailed(Exception):
    """The check could not run (base URL unreachable, readback impossible): exit status 2."""


@dataclass
class Outcome:
    kind: str  # "visit" | "birthday"
    marker: str  # the User-Agent of a visit, the username of a save
    status: str  # "200", "204", "503", "connection error", "timeout"...
    seconds: float
    at: float = 0.0  # when it was sent, seconds after the run started
    ip: str | None = None  # a visit's address as the server saw it
    server_time: dt.datetime | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status.isdigit() and 200 <= int(self.status) < 300


@dataclass
class Http:
    base: str
    timeout: float

    def call(
        self, method: str, path: str, body: bytes | None = None, user_agent: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Accept": "application/json", "User-Agent": user_agent or MARKER_PREFIX}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in `check`
            self.base + path, data=body, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers.items()), error.read()


def _letters(number: int, width: int = 6) -> str:
    """A username part from a number: letters only (the API's rule for usernames)."""
    alphabet = string.ascii_lowercase
    out = ""
    for _ in range(width):
        number, digit = divmod(number, 26)
        out = alphabet[digit] + out
    return out


def _status_of(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return "timeout"
    return "connection error"


@dataclass
class Run:
    http: Http
    count: int
    duration: float
    concurrency: int
    rate: float | None = None  # writes per second at most; None: as fast as answered
    stop: threading.Event = field(default_factory=threading.Event)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    issued: int = 0
    started: float = 0.0

    def _next(self, deadline: float) -> int | None:
        """The next write's number, once its turn has come (with `rate`, write n is due n/rate
        seconds after the start); None when the count, the duration or a stop ends the load."""
        with self.lock:
            due = self.started + self.issued / self.rate if self.rate else 0.0
            if self.issued >= self.count or max(due, time.monotonic()) >= deadline:
                return None
            if self.stop.is_set():
                return None
            self.issued += 1
            seq = self.issued - 1
        wait = due - time.monotonic()
        if wait > 0 and self.stop.wait(wait):
            return None
        return seq

    def _write(self, seq: int) -> Outcome:
        started = time.monotonic()
        if seq % 2 == 0:
            marker = f"{MARKER_PREFIX}/{self.run_id}/{seq}"
            kind, method, path, body = "visit", "GET", "/", None
        else:
            marker = "chk" + _letters(int(self.run_id, 16) % 26**8, 8) + _letters(seq)
            born = dt.date(1970, 1, 1) + dt.timedelta(days=seq % 15000)
            kind, method, path = "birthday", "PUT", f"/hello/{marker}"
            body = json.dumps({"dateOfBirth": born.isoformat()}).encode()
        outcome = Outcome(kind, marker, "", 0.0, at=started - self.started)
        try:
            status, _headers, data = self.http.call(method, path, body, user_agent=marker)
            outcome.status = str(status)
            if kind == "visit" and outcome.acknowledged:
                answer = json.loads(data)
                outcome.ip = answer.get("ip")
                stamp = answer.get("time")
                if isinstance(stamp, str):
                    outcome.server_time = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            outcome.status = _status_of(exc)
        outcome.seconds = time.monotonic() - started
        return outcome

    def _worker(self, deadline: float) -> list[Outcome]:
        done = []
        while (seq := self._next(deadline)) is not None:
            done.append(self._write(seq))
        return done

    def drive(self) -> float:
        started = self.started = time.monotonic()
        deadline = started + self.duration
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="check-writes") as pool:
            for done in pool.map(self._worker, [deadline] * self.concurrency):
                self.outcomes.extend(done)
        return time.monotonic() - started


def _in_time(deadline: float, readback: float) -> None:
    if time.monotonic() >= deadline:
        raise CheckFailed(f"reading back did not finish within {readback:g}s (--readback-timeout)")


def _visits_seen(
    http: Http, ip: str, run_id: str, since: dt.datetime | None, deadline: float, readback: float
) -> Counter[str]:
    """Markers of this run's visits stored for `ip`, with how often each is stored."""
    seen: Counter[str] = Counter()
    prefix = f"{MARKER_PREFIX}/{run_id}/"
    path = "/list?" + urllib.parse.urlencode({"ip": ip, "limit": LIST_PAGE})
    for _ in range(10_000):  # a bound: 10 million visits of this address
        _in_time(deadline, readback)
        status, headers, data = http.call("GET", path)
        if status != 200:
            raise CheckFailed(f"reading back visits: GET {path} answered {status}")
        rows = json.loads(data)
        for row in rows:
            agent = row.get("user_agent") or ""
            if agent.startswith(prefix):
                seen[agent] += 1
        link = headers.get("Link") or headers.get("link")
        if not rows or not link or 'rel="next"' not in link:
            break
        oldest = dt.datetime.fromisoformat(str(rows[-1]["created_at"]).replace("Z", "+00:00"))
        if since is not None and _aware(oldest) < since - CLOCK_SKEW:
            break  # past the start of this run
        path = link.split(";", 1)[0].strip().strip("<>")
        if "://" in path:
            path = "/" + path.split("://", 1)[1].split("/", 1)[1]
    return seen


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _birthday_present(http: Http, username: str, deadline: float, readback: float) -> bool:
    _in_time(deadline, readback)
    status, _headers, _data = http.call("GET", f"/hello/{username}")
    if status == 200:
        return True
    if status == 404:
        return False
    raise CheckFailed(f"reading back saves: GET /hello/{username} answered {status}")


def check(
    url: str,
    count: int,
    duration: float,
    concurrency: int = 4,
    timeout: float = 10.0,
    *,
    rate: float | None = None,
    readback: float = DEFAULT_READBACK_SECONDS,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Run the check; the report as a dict (see the module docstring). Setting `stop` (for a
    caller that drives a fault, e.g. the fault campaign) ends the load early: no new write
    starts, the ones in flight finish, the readback runs as usual."""
    if not url.startswith(("http://", "https://")):
        raise CheckFailed("--url must be an http:// or https:// base URL")
    http = Http(url.rstrip("/"), timeout)
    try:
        status, _headers, data = http.call("GET", "/config")
    except (urllib.error.URLError, OSError) as exc:
        raise CheckFailed(f"{url}: {_status_of(exc)} ({getattr(exc, 'reason', exc)})") from None
    anonymized = status == 200 and bool(json.loads(data).get("anonymize_ips"))

    run = Run(http, count, duration, concurrency, rate, stop or threading.Event())
    elapsed = run.drive()
    errors = Counter(o.status for o in run.outcomes if not o.acknowledged)
    failed = [o.at for o in run.outcomes if not o.acknowledged]
    visits = [o for o in run.outcomes if o.kind == "visit"]
    saves = [o for o in run.outcomes if o.kind == "birthday"]

    seen: Counter[str] = Counter()
    addresses = {o.ip for o in visits if o.ip}
    since = min((_aware(o.server_time) for o in visits if o.server_time), default=None)
    reading = time.monotonic()
    deadline = reading + readback

    def present(save: Outcome) -> tuple[str, bool]:
        return save.marker, _birthday_present(http, save.marker, deadline, readback)

    try:
        for ip in sorted(addresses):
            address = anonymize_ip(ip) if anonymized else ip
            seen.update(_visits_seen(http, address, run.run_id, since, deadline, readback))
        with ThreadPoolExecutor(
            READBACK_CONCURRENCY, thread_name_prefix="check-writes-read"
        ) as pool:
            found = list(pool.map(present, saves))
        saved = {marker for marker, is_there in found if is_there}
    except (urllib.error.URLError, OSError) as exc:
        raise CheckFailed(f"reading back: {_status_of(exc)} ({exc})") from None

    def summary(items: list[Outcome], present: set[str], copies: Counter[str]) -> dict[str, Any]:
        acked = [o for o in items if o.acknowledged]
        lost = [o.marker for o in acked if o.marker not in present]
        return {
            "sent": len(items),
            "acknowledged": len(acked),
            "present": sum(1 for o in acked if o.marker in present),
            "lost": len(lost),
            "duplicated": sum(1 for o in items if copies[o.marker] > 1),
            "present_unacknowledged": sum(
                1 for o in items if not o.acknowledged and o.marker in present
            ),
            "lost_markers": lost[:20],
        }

    readback_took = time.monotonic() - reading
    visit_report = summary(visits, set(seen), seen)
    save_report = summary(saves, saved, Counter())
    lost = visit_report["lost"] + save_report["lost"]
    duplicated = visit_report["duplicated"]
    return {
        "checker": f"shipshape check-writes {__version__}",
        "url": url,
        "run": run.run_id,
        "requests": len(run.outcomes),
        "rate": rate,
        "seconds": round(elapsed, 3),
        "readback_seconds": round(readback_took, 3),
        "longest_request_seconds": round(max((o.seconds for o in run.outcomes), default=0), 3),
        "acknowledged": visit_report["acknowledged"] + save_report["acknowledged"],
        "lost": lost,
        "duplicated": duplicated,
        "errors_by_status": dict(sorted(errors.items())),
        # When the first and the last failed write were sent (seconds into the run): the
        # window a fault was visible to clients.
        "first_error_at_seconds": round(min(failed), 3) if failed else None,
        "last_error_at_seconds": round(max(failed), 3) if failed else None,
        "visits": visit_report,
        "birthdays": save_report,
        "ok": lost == 0 and duplicated == 0,
    }
