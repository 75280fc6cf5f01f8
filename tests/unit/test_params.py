"""The username fast path must agree with the pydantic validator that reports the errors."""

from __future__ import annotations

import pytest

from shipshape.api.params import _username, username_errors

CASES = ["a", "Alice", "a" * 64, "a" * 65, "", "abc\n", "ab1", "é", "a b", "A-Z", "\u212a"]


@pytest.mark.parametrize("value", CASES)
def test_fast_path_agrees_with_the_validator(value: str) -> None:
    try:
        _username.validate_python(value)
        valid = True
    except ValueError:
        valid = False
    assert (username_errors(value) == []) is valid


def test_errors_keep_fastapi_shape() -> None:
    (error,) = username_errors("abc\n")
    assert error["loc"] == ("path", "username")
    assert error["type"] == "string_pattern_mismatch"
