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
