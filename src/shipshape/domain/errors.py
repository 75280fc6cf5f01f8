"""The errors the storage layer may raise: the HTTP layer maps these, and only these.

Adapters (`storage/postgres.py`, `storage/sql_store.py`) translate every driver error into one
of them, so a database's own exception types never reach a route or decide a status code."""

from __future__ import annotations


class StorageError(Exception):
    """Base of the storage layer's errors. The message names the cause, never a value."""


class StorageUnavailable(StorageError):
    """The database could not answer (down, unreachable, stalled, pool exhausted, cancelled,
    not migrated): the request may succeed later. HTTP: 503 with Retry-After."""


class StorageRejected(StorageError):
    """The database refused the values of this request (out of range, wrong type, constraint).
    Retrying the same request cannot succeed. HTTP: 422."""
