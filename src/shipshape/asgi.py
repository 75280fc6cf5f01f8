"""Module-level ASGI application for ASGI servers (`uvicorn shipshape.asgi:app`).

Production uses `shipshape serve`, which adds the drain-on-SIGTERM behaviour; this module
exists for servers and tools that need an import path.
"""

from shipshape.app import create_app

app = create_app()
