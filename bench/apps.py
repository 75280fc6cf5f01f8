"""Variants of the real app, for the before/after measurements and the server comparison.

- `make_app`: the production app for other ASGI servers (granian), with logging configured exactly
  as `shipshape serve` does (JSON access log to stdout), unlike bare `shipshape.asgi:app`.
- `python -m bench.apps --stdlib-json serve ...`: the production server with the orjson
  renderer swapped for Starlette's stock `json.dumps` one, to measure what orjson buys.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from shipshape.core.config import load_settings
from shipshape.observability.logging import configure_logging


def _use_stdlib_json() -> None:
    from starlette.responses import JSONResponse

    from shipshape.api import responses

    def render(self: Any, content: Any) -> bytes:
        # FastAPI apps without orjson: jsonable_encoder for datetimes, then json.dumps.
        from fastapi.encoders import jsonable_encoder

        return JSONResponse.render(self, jsonable_encoder(content))

    responses.JSON.render = render  # type: ignore[method-assign]


if os.environ.get("BENCH_STDLIB_JSON") == "1":
    _use_stdlib_json()


def make_app() -> Any:
    """Factory for `granian --factory bench.apps:make_app`."""
    from shipshape.app import create_app
    from shipshape.core.heap import freeze_startup_heap

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level, settings.secret_values())
    app = create_app(settings)
    freeze_startup_heap()  # granian has no after-start-up hook: frozen once the app is built
    return app


if __name__ == "__main__":
    from shipshape.cli import main

    sys.exit(main(sys.argv[1:]))
