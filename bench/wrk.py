"""wrk scripts and result parsing.

Every script ends with the same `done()` that prints one machine-readable line
(`BENCH_JSON {...}`): totals, socket errors, latency percentiles and per-thread counters.

The W2 script ("visits") stops cleanly so that the load generator's 2xx count can be compared
with the rows in the database: plain wrk abandons the requests still in flight when its timer
fires, while the server still commits them. Here each thread, at the deadline, switches to a
harmless tail request (GET /livez), waits until every visit it sent has been answered, and stops
itself; throughput is visits answered / measured window, and the tail is a few milliseconds.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARKER = "BENCH_JSON "
LIVEZ_BODY = '{"status":"ok"}'

CLOCK = """
local ffi = require("ffi")
pcall(ffi.cdef, [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local bench_ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, bench_ts) -- CLOCK_MONOTONIC, shared by all threads
  return tonumber(bench_ts.tv_sec) + tonumber(bench_ts.tv_nsec) / 1e9
end
"""

REPORT = """
local bench_threads = {}
local bench_counters = {__COUNTERS__}

function setup(thread)
  table.insert(bench_threads, thread)
  if bench_setup then bench_setup(thread) end
end

local function json_value(v)
  if type(v) == "number" then return string.format("%.17g", v) end
  return "null"
end

function done(summary, latency, requests)
  local parts = {}
  local function add(k, v) table.insert(parts, '"' .. k .. '":' .. json_value(v)) end
  add("requests", summary.requests)
  add("duration_us", summary.duration)
  add("bytes", summary.bytes)
  add("err_connect", summary.errors.connect)
  add("err_read", summary.errors.read)
  add("err_write", summary.errors.write)
  add("err_status", summary.errors.status)
  add("err_timeout", summary.errors.timeout)
  add("lat_mean_us", latency.mean)
  add("lat_max_us", latency.max)
  for _, p in ipairs({50, 90, 99, 99.9}) do
    add("lat_p" .. string.gsub(tostring(p), "%.", "_") .. "_us", latency:percentile(p))
  end
  for _, name in ipairs(bench_counters) do
    local total = 0
    for _, thread in ipairs(bench_threads) do total = total + (thread:get(name) or 0) end
    add(name, total)
  end
  io.write("BENCH_JSON {" .. table.concat(parts, ",") .. "}\\n")
end
"""

VISITS = (
    CLOCK
    + """
-- W2: GET / until the deadline, then drain (see module docstring).
local measure = __MEASURE__
local marker_dir = "__MARKERS__"
local thread_count = 0
function bench_setup(thread)
  thread_count = thread_count + 1
  thread:set("deadline", now() + measure)
  thread:set("thread_id", thread_count)
end
visit_req = wrk.format("GET", "/", {["User-Agent"] = "wrk-bench"})
tail_req = wrk.format("GET", "/livez")
sent, visit_2xx, visit_other, tail = 0, 0, 0, 0
draining = false
-- wrk calls request() once on the first thread's state before the run, to check for
-- pipelining (script_verify_request): that call sends nothing and must not be counted.
verify_pending = true
function request()
  if verify_pending and thread_id == 1 then
    verify_pending = false
    return visit_req
  end
  verify_pending = false
  if not draining and now() < deadline then
    sent = sent + 1
    return visit_req
  end
  draining = true
  return tail_req
end
function response(status, headers, body)
  if body == '__LIVEZ__' then
    tail = tail + 1
  elseif status >= 200 and status < 300 then
    visit_2xx = visit_2xx + 1
  else
    visit_other = visit_other + 1
  end
  if draining and visit_2xx + visit_other >= sent then
    -- Tell the harness this thread is drained (it interrupts wrk's timer once all are).
    local marker = io.open(marker_dir .. "/drained-" .. thread_id, "w")
    if marker then marker:close() end
    wrk.thread:stop()
  end
end
"""
)

HELLO_MIX = """
-- W4: 90% GET / 10% PUT /hello/{username} over __USERS__ existing users.
local users = __USERS__
local put_headers = {["Content-Type"] = "application/json"}
local function username(i)
  return "u" .. string.gsub(tostring(i), "%d", function(d) return string.char(97 + tonumber(d)) end)
end
function bench_setup(thread)
  thread:set("seed", math.random(1, 1000000))
end
local seeded = false
-- A user's GET request is built once per thread and reused: formatting every request cost
-- wrk ~2.7 us of CPU per request, CPU the server shares (bench/NOTES.md, "Tried").
local get_requests = {}
function request()
  if not seeded then math.randomseed(seed or 1); seeded = true end
  local user = math.random(0, users - 1)
  if math.random() < 0.1 then
    local body = string.format('{"dateOfBirth":"19%02d-%02d-%02d"}',
      math.random(50, 99), math.random(1, 12), math.random(1, 28))
    return wrk.format("PUT", "/hello/" .. username(user), put_headers, body)
  end
  local get = get_requests[user]
  if get == nil then
    get = wrk.format("GET", "/hello/" .. username(user))
    get_requests[user] = get
  end
  return get
end
"""


def username(i: int) -> str:
    """Same mapping as the Lua script: digits become letters (usernames are letters only)."""
    return "u" + "".join(chr(97 + int(d)) for d in str(i))


def username_sql(expr: str) -> str:
    """SQL twin of `username` for bulk-loading users with generate_series."""
    return f"'u' || translate(({expr})::text, '0123456789', 'abcdefghij')"


def script(kind: str, *, measure: float = 10.0, users: int = 10_000, markers: str = "/tmp") -> str:
    """Lua source for a scenario: "plain" (fixed request), "visits" (W2) or "hello_mix" (W4)."""
    if kind == "plain":
        body, counters = "", []
    elif kind == "visits":
        body = (
            VISITS.replace("__MEASURE__", repr(float(measure)))
            .replace("__LIVEZ__", LIVEZ_BODY)
            .replace("__MARKERS__", markers)
        )
        counters = ["sent", "visit_2xx", "visit_other", "tail"]
    elif kind == "hello_mix":
        body, counters = HELLO_MIX.replace("__USERS__", str(int(users))), []
    else:
        raise ValueError(f"unknown script kind {kind!r}")
    names = ", ".join(f'"{name}"' for name in counters)
    return body + REPORT.replace("__COUNTERS__", names)


def parse_output(stdout: str) -> dict[str, Any]:
    """The BENCH_JSON line printed by `done()`."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            data: dict[str, Any] = json.loads(line[len(MARKER) :])
            return data
    raise ValueError("wrk output has no BENCH_JSON line:\n" + stdout[-2000:])


@dataclass
class WrkResult:
    """One measured run, normalised (seconds, milliseconds, counts)."""

    rps: float
    requests: int
    ok: int
    errors: int
    error_detail: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rps": round(self.rps, 1),
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "error_detail": self.error_detail,
            "p50_ms": round(self.p50_ms, 3),
            "p90_ms": round(self.p90_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "seconds": round(self.seconds, 3),
            **self.extra,
        }


def summarise(raw: dict[str, Any], kind: str, measure: float) -> WrkResult:
    detail = {
        name: int(raw.get(f"err_{name}", 0))
        for name in ("connect", "read", "write", "status", "timeout")
    }
    # wrk counts status >= 400 as "status" errors; everything else it answered is ok.
    requests = int(raw["requests"])
    if kind == "visits":
        # Only the visits (not the drain tail) count; the window is the Lua deadline.
        ok = int(raw["visit_2xx"])
        detail["status"] = int(raw["visit_other"])
        # Visits sent but never answered (wrk's hard timer hit before the drain ended):
        # the server may still commit them, so they are errors of the measurement.
        detail["abandoned"] = max(0, int(raw["sent"]) - ok - int(raw["visit_other"]))
        seconds = measure
        extra = {"sent": int(raw["sent"]), "tail": int(raw["tail"])}
    else:
        ok = requests - detail["status"]
        seconds = float(raw["duration_us"]) / 1e6
        extra = {}
    return WrkResult(
        rps=ok / seconds if seconds > 0 else 0.0,
        requests=requests,
        ok=ok,
        errors=sum(detail.values()),
        error_detail=detail,
        p50_ms=float(raw["lat_p50_us"]) / 1000,
        p90_ms=float(raw["lat_p90_us"]) / 1000,
        p99_ms=float(raw["lat_p99_us"]) / 1000,
        max_ms=float(raw["lat_max_us"]) / 1000,
        seconds=seconds,
        extra=extra,
    )


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk not found: run `make system-deps` (apt-get install wrk)")
    return found


def run(
    url: str,
    script_path: Path,
    *,
    kind: str,
    seconds: float,
    connections: int,
    threads: int,
    timeout_s: float = 10.0,
    markers: Path | None = None,
) -> WrkResult:
    """Run wrk once. For the visits script, `markers` is the directory its threads mark
    when drained: wrk is then interrupted (SIGINT ends its timer and prints the summary)
    instead of idling until its hard limit, which leaves room for a slow drain."""
    duration = int(seconds) + (int(timeout_s) + 2 if kind == "visits" else 0)
    command = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        f"--timeout={int(timeout_s)}s",
        "-s",
        str(script_path),
        url,
    ]
    if markers is not None:
        for old in markers.glob("drained-*"):
            old.unlink()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kind == "visits" and markers is not None:
        deadline = time.monotonic() + duration + 5
        while process.poll() is None and time.monotonic() < deadline:
            if len(list(markers.glob("drained-*"))) >= threads:
                time.sleep(0.05)
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.05)
    stdout, stderr = process.communicate(timeout=duration + 120)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}): {stderr[-2000:]}")
    return summarise(parse_output(stdout), kind, seconds)
