import io
import json
import logging

from shipshape.observability.logging import configure_logging, request_id_var


def test_json_lines_with_request_id_extras_and_scrubbing():
    stream = io.StringIO()
    configure_logging("json", "info", secrets=["s3cr3t-value"], stream=stream)
    token = request_id_var.set("req-42")
    try:
        logging.getLogger("shipshape.access").info(
            "GET %s", "/x?token=s3cr3t-value", extra={"status": 200, "path": "/s3cr3t-value"}
        )
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("shipshape").exception("failed")
    finally:
        request_id_var.reset(token)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["logger"] == "shipshape.access"
    assert first["request_id"] == "req-42"
    assert first["status"] == 200
    assert first["time"].endswith("+00:00")
    assert "s3cr3t-value" not in lines[0]
    assert "ValueError: boom" in second["exception"]


def test_text_format():
    stream = io.StringIO()
    configure_logging("text", "warning", stream=stream)
    logging.getLogger("shipshape").info("hidden")
    logging.getLogger("shipshape").warning("shown")
    assert "shown" in stream.getvalue()
    assert "hidden" not in stream.getvalue()
    assert not stream.getvalue().startswith("{")


def _access_fields() -> dict[str, object]:
    return {
        "method": "GET",
        "path": "/hello/s3cr3t-value",
        "route": "/hello/{username}",
        "status": 200,
        "duration_ms": 1.5,
        "client_ip": "203.0.113.9",
        "user_agent": "curl/8",
    }


def test_access_fast_path_writes_the_same_line_as_logging_would():
    """The access log bypasses LogRecords for speed; its lines must not differ in shape."""
    from shipshape.observability.logging import log_access

    stream = io.StringIO()
    configure_logging("json", "info", secrets=["s3cr3t-value"], stream=stream)
    token = request_id_var.set("req-7")
    try:
        log_access(_access_fields())
        fields = _access_fields()
        logging.getLogger("shipshape.access").info(
            "%s %s %s", fields["method"], fields["path"], fields["status"], extra=fields
        )
    finally:
        request_id_var.reset(token)
    fast, slow = (json.loads(line) for line in stream.getvalue().splitlines())
    assert fast.keys() == slow.keys()
    assert {k: v for k, v in fast.items() if k != "time"} == {
        k: v for k, v in slow.items() if k != "time"
    }
    assert fast["message"] == "GET /hello/******** 200"
    assert "s3cr3t-value" not in stream.getvalue()


def test_access_log_respects_the_level_and_text_format():
    from shipshape.observability.logging import log_access

    stream = io.StringIO()
    configure_logging("json", "warning", stream=stream)
    log_access(_access_fields())
    assert stream.getvalue() == ""
    configure_logging("text", "info", stream=stream)
    log_access(_access_fields())
    assert "GET /hello/s3cr3t-value 200" in stream.getvalue()
    assert not stream.getvalue().startswith("{")


async def test_access_lines_are_buffered_in_order_and_flushed() -> None:
    """Inside the event loop access lines are batched (one write per batch, not per request);
    any other record writes them out first, so the stream keeps the order of events."""
    from shipshape.observability.logging import flush_logs, log_access

    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    log_access(_access_fields())
    log_access(_access_fields())
    assert stream.getvalue() == ""  # buffered
    logging.getLogger("shipshape").warning("after two requests")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["logger"] for line in lines] == [
        "shipshape.access",
        "shipshape.access",
        "shipshape",
    ]
    log_access(_access_fields())
    flush_logs()  # what the app's shutdown does
    assert len(stream.getvalue().splitlines()) == 4


async def test_buffered_access_lines_are_written_without_further_traffic() -> None:
    import asyncio

    from shipshape.observability.logging import LogHandler, log_access

    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    log_access(_access_fields())
    for _ in range(50):  # the flush timer fires after LogHandler.FLUSH_SECONDS
        await asyncio.sleep(LogHandler.FLUSH_SECONDS)
        if stream.getvalue():
            break
    assert len(stream.getvalue().splitlines()) == 1


async def test_a_full_buffer_is_written_at_once() -> None:
    from shipshape.observability.logging import LogHandler, log_access

    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    for _ in range(LogHandler.MAX_PENDING):
        log_access(_access_fields())
    assert len(stream.getvalue().splitlines()) == LogHandler.MAX_PENDING


def test_access_fast_path_time_and_regex_special_secrets():
    """The fast path's cached-second timestamp is a real UTC instant; secrets with regex
    metacharacters are matched literally, overlapping ones fully."""
    import datetime as dt

    from shipshape.observability.logging import log_access

    stream = io.StringIO()
    configure_logging("json", "info", secrets=["a.b*c", "a.b*c+d(e"], stream=stream)
    fields = _access_fields() | {"user_agent": "x a.b*c+d(e y", "path": "/hello/a.b*c"}
    before = dt.datetime.now(dt.UTC)
    log_access(fields)
    log_access(_access_fields() | {"path": "/hello/aXbbc"})  # not a literal match
    after = dt.datetime.now(dt.UTC)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    stamp = dt.datetime.fromisoformat(first["time"])
    assert len(first["time"]) == len("2026-01-01T00:00:00.000+00:00")
    assert first["time"].endswith("+00:00")
    assert before - dt.timedelta(milliseconds=1) <= stamp <= after
    assert first["user_agent"] == "x ******** y"
    assert first["path"] == "/hello/********"
    assert second["path"] == "/hello/aXbbc"


async def test_buffered_access_lines_keep_request_time_and_id_and_scrub_escaped_secrets():
    """Lines are formatted when the buffer is written, not when the request ends: each keeps
    its own request's time and id, and a secret is found in its JSON-escaped spelling too
    (quotes and backslashes), in the lines that contain it and no others."""
    import asyncio
    import datetime as dt

    from shipshape.observability.logging import flush_logs, log_access

    stream = io.StringIO()
    secret = 'pa"ss\\word'
    configure_logging("json", "info", secrets=[secret], stream=stream)
    token = request_id_var.set("first")
    log_access(_access_fields() | {"user_agent": f"x {secret} y"})
    request_id_var.reset(token)
    await asyncio.sleep(0.01)
    token = request_id_var.set("second")
    log_access(_access_fields() | {"user_agent": 'x pa"ss y'})
    request_id_var.reset(token)
    assert stream.getvalue() == ""  # still buffered
    flush_logs()
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert secret not in stream.getvalue()
    assert json.dumps(secret)[1:-1] not in stream.getvalue()
    assert first["user_agent"] == "x ******** y"
    assert second["user_agent"] == 'x pa"ss y'
    assert (first["request_id"], second["request_id"]) == ("first", "second")
    gap = dt.datetime.fromisoformat(second["time"]) - dt.datetime.fromisoformat(first["time"])
    assert gap >= dt.timedelta(milliseconds=9)


def test_the_access_writer_belongs_to_the_configured_handler():
    """No module-level writer: each configure_logging installs a handler that carries its
    own, so access lines follow the handler of the latest configuration."""
    from shipshape.observability import logging as shipshape_logging
    from shipshape.observability.logging import flush_logs, log_access

    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", "info", stream=first)
    configure_logging("json", "info", stream=second)
    log_access(_access_fields())
    flush_logs()
    assert first.getvalue() == ""
    assert json.loads(second.getvalue())["path"] == "/hello/s3cr3t-value"
    assert not hasattr(shipshape_logging, "_access_writer")
