"""The translation of driver errors into domain errors (storage/errors.py), for the driver
errors the fault campaign met: each must leave as `StorageUnavailable` (503 with Retry-After),
never as an unhandled error (500)."""

from __future__ import annotations

import asyncpg
import pytest

from shipshape.domain.errors import StorageRejected, StorageUnavailable
from shipshape.storage.errors import storage_errors, translate


def test_asyncpg_internal_client_error_is_unavailable() -> None:
    # Met in scenario 3 (PostgreSQL restarted mid-load): a pooled connection the server
    # terminated (fast shutdown) refuses the next statement client-side with this error,
    # which is no InterfaceError subclass; it answered 500 until it was translated.
    error = asyncpg.InternalClientError(
        "cannot switch to state 12; another operation (2) is in progress"
    )
    assert isinstance(translate(error), StorageUnavailable)
    with pytest.raises(StorageUnavailable), storage_errors():
        raise error


def test_connection_errors_are_unavailable_and_bad_values_rejected() -> None:
    assert isinstance(translate(ConnectionRefusedError()), StorageUnavailable)
    assert isinstance(translate(asyncpg.AdminShutdownError("terminating")), StorageUnavailable)
    assert isinstance(translate(asyncpg.UniqueViolationError("dup")), StorageRejected)


def test_our_own_bugs_stay_what_they_are() -> None:
    assert translate(TypeError("a bug")) is None
    with pytest.raises(TypeError), storage_errors():
        raise TypeError("a bug")
