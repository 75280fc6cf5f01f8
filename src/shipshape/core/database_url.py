"""Turn the plain database URLs users write into async SQLAlchemy URLs."""

from __future__ import annotations

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


def _parse(raw: str) -> URL:
    try:
        return make_url(raw)
    except ArgumentError:
        raise UnsupportedDatabaseURL("not a valid database URL") from None


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
        url = make_url(raw)
    except ArgumentError:
        return "<invalid>"
    return url.render_as_string(hide_password=True)  # password shown as ***


def url_password(raw: str) -> str | None:
    try:
        password = make_url(raw).password
    except ArgumentError:
        return None
    return str(password) if password else None


def dialect_of(async_url: str) -> str:
    return make_url(async_url).get_dialect().name
