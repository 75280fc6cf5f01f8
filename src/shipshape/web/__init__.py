"""Browser dashboard: the ``/ui`` page and its static assets under ``/static``.

The page is plain HTML + CSS + JavaScript shipped inside the package (no build step, no CDN).
It polls the JSON API (``/stats``, ``/list``, ``/visitors``, ``/hello/{username}``) from the
same origin and draws its charts on ``<canvas>`` with its own small script.

Caching: asset URLs in the page carry a content hash (``/static/dashboard.js?v=<hash>``);
a request with the current hash is cacheable for a year (``immutable``), anything else must be
revalidated (``no-cache`` + ``ETag``/``Last-Modified``). The HTML itself is ``no-cache`` with a
strong ``ETag``, so a deploy is picked up at the next page load.

Security: every HTML response carries a strict Content-Security-Policy (same-origin only, no
inline script or style, no framing, Trusted Types enforced) plus ``X-Content-Type-Options``,
``Referrer-Policy`` and friends.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from urllib.parse import parse_qs

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "SECURITY_HEADERS",
    "STATIC_PATH",
    "asset_url",
    "dashboard_response",
    "install",
]

STATIC_PATH = "/static"
"""URL prefix the static assets are mounted at."""

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
"""Only same-origin script/style/fetch; nothing inline; the page cannot be framed."""

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
"""Headers sent with every dashboard HTML response."""

_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
_PLACEHOLDER = re.compile(r"\{\{\s*static:([A-Za-z0-9_.-]+)\s*\}\}")


@lru_cache(maxsize=1)
def _asset_versions() -> dict[str, str]:
    """Content hash (first 16 hex digits of SHA-256) of every file in ``static/``."""
    versions: dict[str, str] = {}
    for entry in resources.files(__name__).joinpath("static").iterdir():
        if entry.is_file():
            versions[entry.name] = hashlib.sha256(entry.read_bytes()).hexdigest()[:16]
    return versions


def asset_url(name: str) -> str:
    """Versioned URL of a static asset, e.g. ``/static/dashboard.js?v=0123abcd...``."""
    version = _asset_versions()[name]  # KeyError: the template names a file that doesn't exist
    return f"{STATIC_PATH}/{name}?v={version}"


@dataclass(frozen=True, slots=True)
class _Page:
    body: bytes
    etag: str


@lru_cache(maxsize=1)
def _page() -> _Page:
    template = resources.files(__name__).joinpath("templates", "dashboard.html")
    html = _PLACEHOLDER.sub(lambda m: asset_url(m.group(1)), template.read_text("utf-8"))
    body = html.encode("utf-8")
    return _Page(body=body, etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def _etag_matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates


def dashboard_response(request: Request | None = None) -> Response:
    """The dashboard HTML page (``no-cache`` + ``ETag``, strict CSP).

    With ``request``, a matching ``If-None-Match`` gets ``304 Not Modified``.
    """
    page = _page()
    headers = {
        **SECURITY_HEADERS,
        "Cache-Control": _REVALIDATE,
        "ETag": page.etag,
        "Vary": "Accept",
    }
    if request is not None:
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and _etag_matches(if_none_match, page.etag):
            return Response(status_code=304, headers=headers)
    return Response(content=page.body, media_type="text/html; charset=utf-8", headers=headers)


class _StaticAssets(StaticFiles):
    """Package static files with cache headers that depend on the version in the URL."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        current = _asset_versions().get(path)
        fresh = current is not None and query.get("v") == [current]
        response.headers["Cache-Control"] = _IMMUTABLE if fresh else _REVALIDATE
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        return response


async def _ui(request: Request) -> Response:
    return dashboard_response(request)


def install(app: FastAPI) -> None:
    """Register ``GET /ui`` (the dashboard) and mount the assets at ``/static``."""
    app.add_route("/ui", _ui, methods=["GET"], include_in_schema=False)
    app.mount(
        STATIC_PATH,
        _StaticAssets(packages=[(__name__, "static")]),
        name="static",
    )
