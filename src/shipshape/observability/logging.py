"""Structured logs: one JSON object per line (or text for local dev), request id included,
secrets scrubbed from every record as a last line of defence."""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import sys
from collections.abc import Iterable

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)


# Attributes every LogRecord has; anything else was passed with `extra=` and is emitted.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line, serialised with orjson (the access log is on the hot path)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class ContextFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "********")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        if self.secrets:
            message = record.getMessage()
            if any(secret in message for secret in self.secrets):
                record.msg, record.args = self._scrub(message), None
            for key, value in record.__dict__.items():
                if (
                    isinstance(value, str)
                    and key != "msg"
                    and any(s in value for s in self.secrets)
                ):
                    record.__dict__[key] = self._scrub(value)
        return True


def configure_logging(
    log_format: str, level: str, secrets: Iterable[str] = (), stream: object = None
) -> None:
    # Skip per-record work nobody reads (the logging docs' "Optimization" section): caller
    # lookup walks the stack on every record, the access log writes one per request.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(stream or sys.stdout)  # type: ignore[arg-type]
    if log_format == "json":
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")
        )
    handler.addFilter(ContextFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs requests
