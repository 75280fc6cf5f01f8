"""The app freezes its start-up heap and raises the young-generation threshold in its
lifespan (app.py, core/heap.py): under `shipshape serve` and under any other ASGI server, here
plain `uvicorn.Server` as `uvicorn shipshape.asgi:app` runs it."""

from __future__ import annotations

import asyncio
import gc
import socket

import httpx
import pytest
import uvicorn

from shipshape.app import create_app
from shipshape.core.config import Settings
from shipshape.core.heap import YOUNG_THRESHOLD
from shipshape.server import DrainingServer


@pytest.mark.parametrize("server_class", ["shipshape serve", "uvicorn"])
async def test_server_freezes_the_heap_after_startup_and_still_serves(
    make_settings, server_class: str
):
    settings: Settings = make_settings(freeze_heap=True)
    gc.unfreeze()
    threshold = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    app = create_app(settings)
    config = uvicorn.Config(app, loop="none", lifespan="on", log_config=None)
    server = (
        DrainingServer(config, app.state.services.state, drain_seconds=0)
        if server_class == "shipshape serve"
        else uvicorn.Server(config)
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    assert gc.get_freeze_count() == 0
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not serving.done()
            await asyncio.sleep(0.01)
        frozen = gc.get_freeze_count()
        # Everything the app built at start-up (routes, schemas, pool) is in the permanent
        # generation: many thousands of objects, not a handful.
        assert frozen > 10_000
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/livez")).status_code == 200
            assert (await client.get("/")).status_code == 200  # a durable visit
        gc.collect()
        # A full collection does not thaw them (reference counting may free a few).
        assert gc.get_freeze_count() > 0.9 * frozen
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30)
        gc.unfreeze()
        gc.set_threshold(*threshold)
