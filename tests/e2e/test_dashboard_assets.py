"""The dashboard's HTTP contract in-process (no browser, no nginx, no database needed).

The browser tests in test_dashboard.py cover the same ground end to end; these run in a second
on any machine and pin the details: CSP, caching, conditional requests, asset versioning.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shipshape import web


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    web.install(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_ui_headers_and_conditional_get(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    for name, value in web.SECURITY_HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe" not in csp
    assert response.headers["cache-control"] == "no-cache"
    etag = response.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)

    again = await client.get("/ui", headers={"If-None-Match": f'W/{etag}, "other"'})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["content-security-policy"] == csp
    assert (await client.get("/ui", headers={"If-None-Match": '"other"'})).status_code == 200
    assert (await client.head("/ui")).status_code == 200


async def test_dashboard_response_is_the_same_page(client: httpx.AsyncClient) -> None:
    response = web.dashboard_response()
    assert response.body == (await client.get("/ui")).content
    assert response.headers["content-security-policy"] == web.CONTENT_SECURITY_POLICY


async def test_every_asset_is_versioned_and_served(client: httpx.AsyncClient) -> None:
    html = (await client.get("/ui")).text
    assert "{{" not in html
    urls = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html))
    static_dir = Path(web.__file__).parent / "static"
    assert {u.split("?")[0].removeprefix("/static/") for u in urls} == {
        p.name for p in static_dir.iterdir()
    }
    for url in urls:
        assert url == web.asset_url(url.split("?")[0].removeprefix("/static/"))
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        unversioned = await client.get(url.split("?")[0])
        assert unversioned.headers["cache-control"] == "no-cache"
        revalidated = await client.get(
            url.split("?")[0], headers={"If-None-Match": unversioned.headers["etag"]}
        )
        assert revalidated.status_code == 304


@pytest.mark.parametrize(
    "path", ["/static/missing.js", "/static/../__init__.py", "/static/%2e%2e/__init__.py"]
)
async def test_static_serves_only_its_directory(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 404


async def test_templates_are_not_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/static/dashboard.html")).status_code == 404
    assert (await client.get("/static/templates/dashboard.html")).status_code == 404
