"""Property-based fuzzing of every documented operation, from the app's own OpenAPI document
(schemathesis), against the real server process: whatever the input, the answer is never a
5xx or a stack trace, and client errors keep FastAPI's `{"detail": ...}` shape."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.process import ServerProcess, cli

TOKEN = "fuzzing-operator-token-0123"


@pytest.fixture(scope="module")
def server():
    tmp = Path(tempfile.mkdtemp(prefix="shipshape-fuzz-"))
    env = {
        "DATABASE_URL": f"sqlite:///{tmp / 'fuzz.db'}",
        "SHIPSHAPE_ADMIN_TOKEN": TOKEN,
        "SHIPSHAPE_CHAOS_ENABLED": "false",
        "SHIPSHAPE_ACCESS_LOG": "false",
        "SHIPSHAPE_DRAIN_SECONDS": "0",
    }
    cli("migrate", env=env)
    with ServerProcess(env) as proc:
        yield proc
    shutil.rmtree(tmp, ignore_errors=True)


def test_no_input_breaks_the_api(server):
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]  # it really fuzzed the API
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def fuzz(case):
            response = case.call(timeout=10)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, (where, response.status_code, response.text[:300])
            assert "Traceback" not in response.text, where
            content_type = response.headers.get("content-type") or [""]  # schemathesis: lists
            if response.status_code >= 400 and content_type[0].startswith("application/json"):
                assert "detail" in response.json(), where

        fuzz()
