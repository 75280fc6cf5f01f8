"""Turn the plain database URLs users write into async SQLAlchemy URLs."""

from __future__ import annotations

import urllib.parse

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+asyncmy",
    "mariadb": "mysql+asyncmy",
}


class UnsupportedDatabaseURL(ValueError):
    pass


POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")


def _multi_host(raw: str) -> str:
    """libpq's multi-host URL (`postgresql://u:p@h1:5432,h2:5432/db?target_session_attrs=
    read-write`, the form libpq, asyncpg and most docs use), which SQLAlchemy's URL parser
    cannot read, in SQLAlchemy's own spelling of it (`postgresql://u:p@/db?host=h1:5432&
    host=h2:5432&...`). Any other URL is returned unchanged."""
    scheme, sep, rest = raw.partition("://")
    if not sep or scheme not in POSTGRES_SCHEMES:
        return raw
    netloc, _, tail = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if "," not in hosts:
        return raw
    path, _, query = tail.partition("?")
    pairs = [("host", host) for host in hosts.split(",") if host]
    extra = urllib.parse.urlencode(pairs)
    query = f"{extra}&{query}" if query else extra
    return f"{scheme}://{userinfo}{at}/{path}?{query}"


def _parse(raw: str) -> URL:
    try:
        return make_url(_multi_host(raw))
    except (ArgumentError, ValueError):
        raise UnsupportedDatabaseURL("not a valid database URL") from None


def hosts_of(url: URL) -> list[tuple[str, int | None]]:
    """The (host, port) pairs of a URL, one for a plain URL, several for a multi-host one
    (SQLAlchemy's `?host=h1:p1&host=h2:p2`)."""
    if url.host is not None or "host" not in url.query:
        return [(url.host or "", url.port)]
    value = url.query["host"]
    pairs: list[tuple[str, int | None]] = []
    for entry in [value] if isinstance(value, str) else list(value):
        host, colon, port = entry.rpartition(":")
        if colon and port.isdigit():
            pairs.append((host.strip("[]"), int(port)))
        else:
            pairs.append((entry.strip("[]"), None))
    return pairs


def to_async_url(raw: str, password: str | None = None) -> str:
    url = _parse(raw)
    backend = url.get_backend_name()
    if backend not in DRIVERS:
        raise UnsupportedDatabaseURL(
            f"unsupported database {backend!r}; use sqlite, postgresql, mysql or mariadb"
        )
    url = url.set(drivername=DRIVERS[backend])
    if password is not None:
        url = url.set(password=password)
    if backend in ("postgresql", "postgres") and "sslmode" in url.query:
        # libpq spelling -> asyncpg spelling, so RDS-style URLs work unchanged.
        query = dict(url.query)
        query["ssl"] = query.pop("sslmode")
        url = url.set(query=query)
    return url.render_as_string(hide_password=False)


def redact_url(raw: str) -> str:
    try:
        url = make_url(_multi_host(raw))
    except (ArgumentError, ValueError):
        return "<invalid>"
    return url.render_as_string(hide_password=True)  # password shown as ***


def url_password(raw: str) -> str | None:
    try:
        password = make_url(_multi_host(raw)).password
    except (ArgumentError, ValueError):
        return None
    return str(password) if password else None


def dialect_of(async_url: str) -> str:
    return make_url(async_url).get_dialect().name
