"""The dashboard in a real headless Chromium, through the real nginx edge config, on PostgreSQL.

Stack started once per module, all on loopback and free ports:

    Chromium --> nginx (deploy/nginx, rendered for 127.0.0.1:<port>, upstream connections bound
                 to 127.0.0.2 with proxy_bind) --> `shipshape serve` on 127.0.0.1 --> PostgreSQL

The app trusts only 127.0.0.2/32 (SHIPSHAPE_TRUSTED_PROXIES), i.e. only nginx. Chromium connects
from 127.0.0.1, so a visit recorded as 127.0.0.1 proves the app used nginx's X-Forwarded-For
(without it, it would see its peer 127.0.0.2); the browser also sends spoofed X-Forwarded-For /
Forwarded / X-Real-IP headers, which must not reach the record.

Screenshots go to test-artifacts/ (desktop 1280x800, phone 390x844). The committed copy in
docs/img/dashboard.png is refreshed when SHIPSHAPE_UPDATE_SCREENSHOTS=1.

Needs the Debian packages `chromium` and `nginx` and the PostgreSQL server binaries. Missing
tools skip the module locally (with the reason) and fail it under CI=true.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import free_port
from tests.support.nginx import render_nginx
from tests.support.tools import require_tool, unavailable

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NGINX_DIR = ROOT / "deploy" / "nginx"
ARTIFACTS = ROOT / "test-artifacts"
DOCS_SCREENSHOT = ROOT / "docs" / "img" / "dashboard.png"
VENV_BIN = Path(sys.executable).parent

PROXY_ADDRESS = "127.0.0.2"  # nginx's source address towards the app: the only trusted proxy
SPOOFED_IP = "6.6.6.6"
POLL_MS = 400  # /stats polling period for the tests (?interval=)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


# --------------------------------------------------------------------------- tools


def _wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args!r} exited {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready after {timeout}s ({last}):\n{_tail(log)}")


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --------------------------------------------------------------------------- PostgreSQL


@contextlib.contextmanager
def _postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server from the shared test helper (tests/support)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.databases import ServerUnavailable, start_postgres

    try:
        server = start_postgres()
        database = server.__enter__()
    except ServerUnavailable as exc:
        unavailable(f"PostgreSQL server ({exc})")
        raise
    try:
        yield database.url
    finally:
        server.__exit__(None, None, None)


# --------------------------------------------------------------------------- nginx


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    app_url: str
    edge_url: str
    nginx_log: Path
    app_log: Path
    tmp: Path
    user_agent: str = field(default_factory=lambda: f"shipshape-e2e/{uuid.uuid4().hex[:12]}")

    def http(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        base: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        url = (base or self.edge_url) + path
        host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=15)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def json(self, path: str, **kwargs: Any) -> Any:
        status, _headers, data = self.http("GET", path, **kwargs)
        assert status == 200, (path, status, data[:300])
        return json.loads(data)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    nginx = require_tool("nginx", "make system-deps", "/usr/sbin/nginx")
    shipshape = VENV_BIN / "shipshape"
    assert shipshape.exists(), f"{shipshape} missing: run `make venv`"

    tmp = Path(tempfile.mkdtemp(prefix="shipshape-e2e-dashboard-"))
    tmp.chmod(0o755)  # nginx workers may run as nobody
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with _postgres() as database_url:
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "SHIPSHAPE_TRUSTED_PROXIES": f"{PROXY_ADDRESS}/32",
                "SHIPSHAPE_LOG_FORMAT": "text",
                "SHIPSHAPE_DRAIN_SECONDS": "0",
                "SHIPSHAPE_SHUTDOWN_TIMEOUT_SECONDS": "5",
            }
            env.pop("SHIPSHAPE_ADMIN_TOKEN", None)
            migrate = subprocess.run(
                [str(shipshape), "migrate"], env=env, capture_output=True, text=True, timeout=120
            )
            assert migrate.returncode == 0, migrate.stdout + migrate.stderr

            app_port = free_port()
            app_log = tmp / "app.log"
            with app_log.open("wb") as out:
                app = subprocess.Popen(
                    [str(shipshape), "serve", "--host", "127.0.0.1", "--port", str(app_port)],
                    env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp,
                )  # fmt: skip
            procs.append(app)
            app_url = f"http://127.0.0.1:{app_port}"
            _wait_http(f"{app_url}/readyz", 60, app, app_log)

            edge_port = free_port()
            conf = render_nginx(
                tmp / "nginx",
                upstream=f"127.0.0.1:{app_port}",
                listen=f"127.0.0.1:{edge_port}",
                # Test-only: make nginx's connections to the app come from a distinct address.
                extra_http=f"    proxy_bind {PROXY_ADDRESS};\n",
            )
            test = subprocess.run(
                [nginx, "-t", "-p", str(tmp / "nginx"), "-c", str(conf), "-e", "stderr"],
                capture_output=True, text=True,
            )  # fmt: skip
            assert test.returncode == 0, test.stderr
            nginx_log = tmp / "nginx.log"
            with nginx_log.open("wb") as out:
                proxy = subprocess.Popen(
                    [nginx, "-p", str(tmp / "nginx"), "-c", str(conf), "-e", "stderr",
                     "-g", "daemon off;"],
                    stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            procs.append(proxy)
            edge_url = f"http://127.0.0.1:{edge_port}"
            _wait_http(f"{edge_url}/nginx-health", 20, proxy, nginx_log)

            yield Stack(app_url, edge_url, nginx_log, app_log, tmp)

            for proc in reversed(procs):
                _stop(proc, signal.SIGQUIT if proc is proxy else signal.SIGTERM)
            assert app.returncode == 0, f"app exit {app.returncode}:\n{_tail(app_log)}"
    finally:
        for proc in procs:
            _stop(proc, signal.SIGKILL, timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = require_tool("chromium", "make system-deps", "/usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@dataclass
class Recorder:
    """Everything a page did that a clean dashboard must not do, and every URL it requested."""

    origin: str
    urls: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bad_status: list[str] = field(default_factory=list)

    def assert_clean(self, expected: Callable[[str], bool] = lambda line: False) -> None:
        """``expected`` tells which recorded lines are responses the test provoked on purpose."""
        self.console_errors = [e for e in self.console_errors if not expected(e)]
        self.bad_status = [e for e in self.bad_status if not expected(e)]
        assert self.console_errors == []
        assert self.page_errors == []
        assert self.failed == []
        assert self.bad_status == []
        foreign = [u for u in self.urls if not u.startswith(self.origin + "/")]
        assert foreign == [], f"requests outside {self.origin}: {foreign}"


@contextlib.contextmanager
def open_page(
    browser: Any,
    stack: Stack,
    viewport: dict[str, int],
    path: str = "/",
    **context_options: Any,
) -> Iterator[tuple[Any, Recorder]]:
    """A fresh context that sends spoofed forwarding headers and records all traffic."""
    context = browser.new_context(
        viewport=viewport,
        user_agent=stack.user_agent,
        extra_http_headers={
            "X-Forwarded-For": SPOOFED_IP,
            "X-Real-IP": SPOOFED_IP,
            "Forwarded": f"for={SPOOFED_IP}",
        },
        **context_options,
    )
    recorder = Recorder(origin=stack.edge_url)

    def route(route: Any) -> None:
        recorder.urls.append(route.request.url)
        if route.request.url.startswith(stack.edge_url + "/"):
            route.continue_()
        else:  # never let the page reach anything else, even if it tried
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on(
        "console",
        lambda msg: (
            recorder.console_errors.append(f"{msg.type}: {msg.text} {msg.location}")
            if msg.type in ("error", "assert")
            else None
        ),
    )
    page.on("pageerror", lambda exc: recorder.page_errors.append(str(exc)))
    page.on(
        "requestfailed",
        lambda req: recorder.failed.append(f"{req.method} {req.url}: {req.failure}"),
    )

    def on_response(response: Any) -> None:
        if response.status >= 400:
            recorder.bad_status.append(
                f"{response.status} {response.request.method} {response.url}"
            )

    page.on("response", on_response)
    try:
        page.goto(f"{stack.edge_url}{path}", wait_until="load")
        yield page, recorder
    finally:
        context.close()


def _points(page: Any, chart: str) -> int:
    return int(page.get_attribute(f"#chart-{chart}", "data-points") or 0)


def _wait_points(page: Any, chart: str, at_least: int, timeout_ms: float = 15000) -> None:
    page.wait_for_function(
        "([id, n]) => Number(document.getElementById(id).dataset.points) >= n",
        arg=[f"chart-{chart}", at_least],
        timeout=timeout_ms,
    )


def _screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=False)
    return path


# --------------------------------------------------------------------------- tests


def test_edge_serves_dashboard_with_strict_headers(stack: Stack) -> None:
    status, headers, body = stack.http("GET", "/ui", headers={"Accept": "text/html"})
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert headers["server"] == "nginx", "server_tokens off: no version in the banner"
    csp = {d.split()[0]: d.split()[1:] for d in headers["content-security-policy"].split("; ") if d}
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    assert "'unsafe-eval'" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-cache"

    html = body.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html), "inline style attribute"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", html), "absolute/external URL"

    # The HTML revalidates cheaply; the versioned assets are immutable and gzipped at the edge.
    status, _, _ = stack.http("GET", "/ui", headers={"If-None-Match": headers["etag"]})
    assert status == 304
    assets = re.findall(r'(?:src|href)="(/static/[^"]+\?v=[0-9a-f]+)"', html)
    assert {a.split("?")[0] for a in assets} >= {"/static/dashboard.js", "/static/dashboard.css"}
    for asset in assets:
        status, asset_headers, data = stack.http("GET", asset, headers={"Accept-Encoding": "gzip"})
        assert status == 200, asset
        assert asset_headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset_headers["x-content-type-options"] == "nosniff"
        if asset.startswith(("/static/dashboard.js", "/static/dashboard.css")):
            assert asset_headers.get("content-encoding") == "gzip", asset
            assert gzip.decompress(data)
    status, stale, _ = stack.http("GET", "/static/dashboard.js?v=0000")
    assert status == 200
    assert stale["cache-control"] == "no-cache", "an unknown version must not be cached for a year"

    # The browser's Accept header gets the dashboard at / too (and a visit is recorded).
    status, headers, body = stack.http("GET", "/", headers={"Accept": "text/html"})
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert "content-security-policy" in headers


def test_edge_proxy_behaviour(stack: Stack) -> None:
    status, _headers, body = stack.http("GET", "/nginx-health")
    assert (status, body) == (200, b"ok\n")

    # Body limit at the edge.
    status, _, _ = stack.http(
        "PUT",
        "/hello/alice",
        body=b"{" + b" " * 200_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert status == 413

    # Request ids: a sane one is passed through, garbage is replaced by nginx's own.
    sane = f"e2e-{uuid.uuid4().hex}"
    stack.http("GET", "/livez", headers={"X-Request-ID": sane})
    stack.http("GET", "/livez", headers={"X-Request-ID": "bad id!"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        entries = [
            json.loads(line)
            for line in stack.nginx_log.read_text().splitlines()
            if line.startswith('{"time"')
        ]
        livez = [e for e in entries if e["uri"] == "/livez"]
        if len(livez) >= 2:
            break
        time.sleep(0.1)
    ids = [e["request_id"] for e in livez]
    assert sane in ids
    assert "bad id!" not in ids
    assert any(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids

    # Spoofing through the edge: what the client claims is replaced by what nginx sees.
    agent = f"spoof-check/{uuid.uuid4().hex[:8]}"
    status, _, _ = stack.http(
        "GET",
        "/",
        headers={
            "Accept": "application/json",
            "User-Agent": agent,
            "X-Forwarded-For": f"{SPOOFED_IP}, 10.0.0.1",
            "Forwarded": f"for={SPOOFED_IP}",
        },
    )
    assert status == 200
    visit = _find_visit(stack, agent)
    assert visit["ip"] == "127.0.0.1"


def _find_visit(stack: Stack, user_agent: str, timeout: float = 10) -> dict[str, Any]:
    """The newest visit with this user agent (visits may be written asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        for visit in stack.json("/list?limit=100"):
            if visit["user_agent"] == user_agent:
                return dict(visit)
        if time.monotonic() > deadline:
            raise AssertionError(f"no visit with user agent {user_agent!r}")
        time.sleep(0.2)


def test_dashboard_live_desktop(browser: Any, stack: Stack) -> None:
    # Some history for the tables and the screenshot.
    for agent in ("curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"):
        stack.http("GET", "/", headers={"User-Agent": agent, "Accept": "application/json"})

    with open_page(browser, stack, DESKTOP, path=f"/?interval={POLL_MS}") as (page, recorder):
        assert page.title() == "shipshape dashboard"
        page.wait_for_selector("#status[data-state=live]")

        # Charts receive new points over time (CPU, RAM and the request rate from deltas).
        _wait_points(page, "cpu", 2)
        before = {chart: _points(page, chart) for chart in ("cpu", "ram", "rps")}
        _wait_points(page, "cpu", before["cpu"] + 3)
        _wait_points(page, "ram", before["ram"] + 3)
        _wait_points(page, "rps", before["rps"] + 3)
        rate = float(page.get_attribute("#chart-rps", "data-latest") or "nan")
        assert rate > 0, "the page's own polling is traffic: the rate cannot be zero"
        assert re.fullmatch(r"[\d.,\s]+%", page.text_content("#value-cpu") or "")
        label = page.get_attribute("#chart-cpu", "aria-label") or ""
        assert label.startswith("CPU usage over the last")

        # The visits table shows this browser's visit with the address nginx forwarded.
        visits = page.locator("#visits-table tbody tr", has_text=stack.user_agent)
        visits.first.wait_for(timeout=15000)
        assert visits.first.locator("td.ip").text_content() == "127.0.0.1"
        table_text = page.text_content("#visits-table") or ""
        assert SPOOFED_IP not in table_text
        assert PROXY_ADDRESS not in table_text, "the app recorded the proxy, not the client"
        visitors = page.locator("#visitors-table tbody tr", has_text="127.0.0.1")
        visitors.first.wait_for(timeout=15000)
        assert int(visitors.first.locator("td.num").text_content() or 0) >= 3
        # Cross-check with the API: the visit this page load made.
        assert _find_visit(stack, stack.user_agent)["ip"] == "127.0.0.1"

        # A greeting on screen makes a better screenshot.
        page.fill("#username", "Ada")
        page.fill("#date-of-birth", "1990-12-10")
        page.click("#hello-save")
        page.wait_for_selector("#greeting:not(:empty)")
        _wait_points(page, "rps", before["rps"] + 20, timeout_ms=30000)
        shot = _screenshot(page, "dashboard-desktop.png")
        if os.environ.get("SHIPSHAPE_UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, DOCS_SCREENSHOT)

        paths = {u.removeprefix(stack.edge_url).split("?")[0] for u in recorder.urls}
        assert {"/", "/stats", "/list", "/visitors", "/static/dashboard.js"} <= paths
        recorder.assert_clean()


def test_birthday_form(browser: Any, stack: Stack) -> None:
    with open_page(browser, stack, DESKTOP, path="/ui") as (page, recorder):
        username = page.get_by_label("Username")
        birthday = page.get_by_label("Date of birth")
        save = page.get_by_role("button", name="Save and greet")

        # Valid date: saved (204) then greeted (GET /hello).
        username.fill("Grace")
        birthday.fill("1985-03-09")
        save.click()
        greeting = page.locator("#greeting")
        greeting.wait_for(state="visible")
        message = greeting.text_content() or ""
        assert re.fullmatch(
            r"Hello, Grace! (Your birthday is in \d+ day(s|\(s\))?|Happy birthday!)", message
        ), message
        assert message == stack.json("/hello/Grace")["message"]
        assert username.get_attribute("aria-invalid") is None

        # Future date: the API's message, next to the date field.
        future = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=400)).isoformat()
        birthday.fill(future)
        save.click()
        date_error = page.locator("#date-of-birth-error")
        date_error.wait_for(state="visible")
        assert "Date of birth cannot be in the future" in (date_error.text_content() or "")
        assert birthday.get_attribute("aria-invalid") == "true"
        assert (greeting.text_content() or "") == ""
        assert page.evaluate("document.activeElement.id") == "date-of-birth"

        # Digits in the username: the API's message, next to the username field.
        username.fill("grace42")
        birthday.fill("1985-03-09")
        save.click()
        user_error = page.locator("#username-error")
        user_error.wait_for(state="visible")
        shown = user_error.text_content() or ""
        status, _, body = stack.http(
            "PUT",
            "/hello/grace42",
            body=b'{"dateOfBirth": "1985-03-09"}',
            headers={"Content-Type": "application/json"},
        )
        assert status == 422
        api_messages = [
            e["msg"].removeprefix("Value error, ")
            for e in json.loads(body)["detail"]
            if e["loc"][:2] == ["path", "username"]
        ]
        assert api_messages, body
        assert shown == " ".join(api_messages)
        assert username.get_attribute("aria-invalid") == "true"
        assert (page.text_content("#date-of-birth-error") or "") == ""

        # Unknown user via "Greet only": the API's 404 detail.
        username.fill("Nobody")
        page.get_by_role("button", name="Greet only").click()
        page.wait_for_selector("#hello-error:has-text('User Nobody not found')")

        # The 422s and the 404 above were provoked on purpose (Chromium also logs them to the
        # console as "Failed to load resource"); nothing else may have gone wrong.
        provoked = re.compile(
            r"(422 PUT \S+/hello/(Grace|grace42)$|404 GET \S+/hello/Nobody$"
            r"|status of (422|404) .*'url': '\S+/hello/(grace42|Grace|Nobody)')"
        )
        recorder.assert_clean(expected=lambda line: bool(provoked.search(line)))


def test_visits_paging_follows_link_header(browser: Any, stack: Stack) -> None:
    for n in range(3):
        stack.http("GET", "/", headers={"User-Agent": f"pager-{n}", "Accept": "application/json"})
    _find_visit(stack, "pager-2")

    with open_page(browser, stack, DESKTOP, path="/ui?pageSize=2") as (page, recorder):
        rows = page.locator("#visits-table tbody tr")
        older = page.get_by_role("button", name="Older")
        newer = page.get_by_role("button", name="Newer")
        page.wait_for_selector("#visits-state:has-text('Page 1')")
        first = rows.all_text_contents()
        assert len(first) == 2
        assert newer.is_disabled()
        older.click()
        page.wait_for_selector("#visits-state:has-text('Page 2')")
        second = rows.all_text_contents()
        assert len(second) == 2
        assert not set(first) & set(second)
        newer.click()
        page.wait_for_selector("#visits-state:has-text('Page 1')")
        assert rows.all_text_contents() == first
        assert any("cursor=" in u or "before=" in u for u in recorder.urls if "/list?" in u)
        recorder.assert_clean()


def test_dashboard_phone(browser: Any, stack: Stack) -> None:
    with open_page(
        browser,
        stack,
        PHONE,
        path=f"/?interval={POLL_MS}",
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    ) as (page, recorder):
        _wait_points(page, "rps", 4)
        page.locator("#visits-table tbody tr", has_text=stack.user_agent).first.wait_for()
        # No sideways scrolling of the page itself (wide tables scroll in their own box).
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        for control in ("Username", "Date of birth"):
            box = page.get_by_label(control).bounding_box()
            assert box is not None
            assert box["width"] <= PHONE["width"]
            assert box["height"] >= 40, "touch targets"
        charts = [page.locator(f"#chart-{c}").bounding_box() for c in ("cpu", "ram", "rps")]
        assert all(b is not None and b["width"] > 300 for b in charts), charts
        _screenshot(page, "dashboard-phone.png")
        recorder.assert_clean()


def test_committed_screenshot_is_a_desktop_png() -> None:
    data = DOCS_SCREENSHOT.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (DESKTOP["width"], DESKTOP["height"])
