"""Fast JSON responses (orjson) used by every route."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse

_CONTENT_TYPE = (b"content-type", b"application/json")


class JSON(JSONResponse):
    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        if headers is not None or media_type is not None or background is not None:
            super().__init__(content, status_code, headers, media_type, background)
            return
        # The hot routes' case: the same two headers Starlette's init_headers would build.
        self.status_code = status_code
        self.background = None
        self.body = self.render(content)
        self.raw_headers = [(b"content-length", str(len(self.body)).encode()), _CONTENT_TYPE]

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z)
