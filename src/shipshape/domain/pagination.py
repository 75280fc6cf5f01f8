"""Opaque keyset cursors: a base64url JSON list of the sort key of the last row served."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


class InvalidCursor(ValueError):
    pass


def encode_cursor(*key: Any) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, types: tuple[type, ...]) -> tuple[Any, ...]:
    if len(cursor) > 512:
        raise InvalidCursor("cursor too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("malformed cursor") from None
    if not isinstance(values, list) or len(values) != len(types):
        raise InvalidCursor("malformed cursor")
    for value, expected in zip(values, types, strict=True):
        if type(value) is not expected:
            raise InvalidCursor("malformed cursor")
    return tuple(values)
