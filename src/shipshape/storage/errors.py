"""Driver errors translated into the domain's storage errors, by rule rather than by list.

- The database refused this request's values (SQLSTATE class 22 "data exception" or 23
  "integrity constraint violation"; MySQL's equivalent error numbers; a value the driver could
  not encode): `StorageRejected`, answered 422.
- Any other driver or network error (connection lost or refused, stalled past its timeout,
  cancelled, admin shutdown, pool exhausted, schema missing): `StorageUnavailable`, answered
  503 with Retry-After.

Anything else (a `TypeError` in our own code, say) is a bug and stays what it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import asyncpg
from sqlalchemy import exc as sa

from shipshape.domain.errors import StorageRejected, StorageUnavailable

REJECTED_SQLSTATE_CLASSES = ("22", "23")
# MySQL/MariaDB server errors about the values sent: out of range (1264), truncated (1265,
# 1292), wrong value for the column (1366), too long (1406), NULL (1048), duplicate (1062),
# foreign key (1452).
REJECTED_MYSQL_ERRORS = frozenset({1048, 1062, 1264, 1265, 1292, 1366, 1406, 1452})


def _rejected(error: BaseException) -> bool:
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate[:2] in REJECTED_SQLSTATE_CLASSES:
        return True
    args: tuple[object, ...] = getattr(error, "args", ())
    return bool(args) and isinstance(args[0], int) and args[0] in REJECTED_MYSQL_ERRORS


def translate(error: BaseException) -> StorageRejected | StorageUnavailable | None:
    """The domain error for a driver error, or None when `error` is not the database's."""
    if isinstance(error, sa.DBAPIError):
        cause = error.orig if error.orig is not None else error
        if isinstance(error, sa.DataError | sa.IntegrityError) or _rejected(cause):
            return StorageRejected(type(cause).__name__)
        return StorageUnavailable(type(cause).__name__)
    if isinstance(error, sa.StatementError):  # a value SQLAlchemy could not bind
        return StorageRejected(type(error.orig or error).__name__)
    if isinstance(error, sa.TimeoutError):
        return StorageUnavailable("pool timeout")
    if isinstance(error, asyncpg.InterfaceError) and isinstance(error, ValueError):
        return StorageRejected("argument not encodable")  # asyncpg's client-side DataError
    if isinstance(error, asyncpg.PostgresError):
        name = type(error).__name__
        return StorageRejected(name) if _rejected(error) else StorageUnavailable(name)
    if isinstance(error, OverflowError):  # an integer the driver cannot hold (SQLite)
        return StorageRejected("value out of range")
    if isinstance(error, asyncpg.InterfaceError | OSError | TimeoutError):
        return StorageUnavailable(type(error).__name__)
    if isinstance(error, asyncpg.InternalClientError):
        # A connection left in a broken protocol state, e.g. one the server terminated (a
        # fast shutdown) while it sat in the pool: "cannot switch to state ...; another
        # operation is in progress". Raised before anything is sent; the pool replaces it.
        return StorageUnavailable(type(error).__name__)
    return None


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Raise the domain error in place of a driver error (the driver's stays as the cause)."""
    try:
        yield
    except Exception as error:
        translated = translate(error)
        if translated is None:
            raise
        raise translated from error
