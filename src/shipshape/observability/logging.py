"""Structured logs: one JSON object per line (or text for local dev), request id included,
secrets scrubbed from every record as a last line of defence."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

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


class LogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The process's one log handler. Access lines are buffered and written in batches, like
    nginx's `access_log ... buffer= flush=`: a write system call per request cost more than
    the rest of a `/livez` request (measured: 5k vs 8k req/s). Any other record, a full
    buffer, FLUSH_SECONDS, shutdown (`flush_logs`) and interpreter exit write them out first,
    so lines keep their order; a SIGKILL loses at most FLUSH_SECONDS of access lines.

    The buffer holds what `render` turns into text when it is written: the access log keeps
    a request's facts and formats a whole batch at once (`AccessLogWriter.render`)."""

    FLUSH_SECONDS = 0.1
    MAX_PENDING = 256

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.access: AccessLogWriter | None = None  # JSON logs: access lines' direct path
        self.pending: list[Any] = []
        self.render: Callable[[list[Any]], str] = "".join
        self.timer: asyncio.TimerHandle | None = None
        self.timer_loop: asyncio.AbstractEventLoop | None = None

    def write_access(self, entry: Any) -> None:
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            self.pending.append(entry)
            full = len(self.pending) >= self.MAX_PENDING
        if full:
            self.flush()
        elif self.timer is None or not self.timer_loop.is_running():  # type: ignore[union-attr]
            # Only here is the loop looked up: on Python 3.11 get_running_loop() costs a
            # getpid() system call (its fork check), and a flush is usually scheduled already.
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # outside an event loop: nothing would flush later
                self.flush()
                return
            self.timer_loop = loop
            self.timer = loop.call_later(self.FLUSH_SECONDS, self._flush_on_timer)

    def _flush_on_timer(self) -> None:
        self.timer = None
        self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self.pending:
                self.stream.write(self.render(self.pending))
                self.pending.clear()
            super().flush()

    def emit(self, record: logging.LogRecord) -> None:
        if self.pending:
            self.flush()
        super().emit(record)


class AccessLogWriter:
    """The access log's hot path: one line per request, handed to the handler's buffer.

    Same JSON shape, stream and secret scrubbing as a record through `logging`, without the
    LogRecord, filter and formatter machinery, which cost most of a trivial request's CPU.
    A request only records its facts (time, request id, fields); the lines are formatted and
    scanned for secrets when the buffer is written, a batch at a time.
    """

    def __init__(self, handler: LogHandler, secrets: Iterable[str]) -> None:
        self.handler = handler
        handler.render = self.render
        handler.access = self
        # One compiled alternation: searched once over a whole batch of lines (in their
        # JSON-escaped spelling), then over a line's fields only when the batch has a hit.
        ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.secrets = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self.secrets_in_json = (
            re.compile("|".join(re.escape(orjson.dumps(s).decode()[1:-1]) for s in ordered))
            if ordered
            else None
        )
        self._second = -1
        self._second_text = ""

    def _timestamp(self, now: float) -> str:
        """ISO 8601 UTC with milliseconds; the part up to the second is formatted once a second."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = dt.datetime.fromtimestamp(second, dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%S"
            )
        return f"{self._second_text}.{int((now - second) * 1000):03d}+00:00"

    def write(self, fields: dict[str, Any]) -> None:
        self.handler.write_access((time.time(), request_id_var.get(), fields))

    def _line(self, now: float, request_id: str | None, fields: dict[str, Any]) -> bytes:
        entry: dict[str, object] = {
            "time": self._timestamp(now),
            "level": "INFO",
            "logger": ACCESS_LOGGER,
            "message": f"{fields['method']} {fields['path']} {fields['status']}",
            "request_id": request_id,
            **fields,
        }
        return orjson.dumps(entry, default=str, option=orjson.OPT_APPEND_NEWLINE)

    def _text(self, entries: list[Any]) -> str:
        return b"".join([self._line(*entry) for entry in entries]).decode()

    def render(self, entries: list[Any]) -> str:
        text = self._text(entries)
        if self.secrets_in_json is None or self.secrets_in_json.search(text) is None:
            return text
        assert self.secrets is not None
        for _, _, fields in entries:
            for key, value in fields.items():
                if isinstance(value, str):
                    fields[key] = self.secrets.sub("********", value)
        return self._text(entries)


ACCESS_LOGGER = "shipshape.access"
_access_logger = logging.getLogger(ACCESS_LOGGER)  # the same object for the process's life


def log_access(fields: dict[str, Any]) -> None:
    """One access line; JSON logs take the direct path (the writer configure_logging gave
    the root logger's handler), text logs (local dev) go via logging."""
    if not _access_logger.isEnabledFor(logging.INFO):
        return
    for handler in _access_logger.root.handlers:
        writer = getattr(handler, "access", None)
        if writer is not None:
            writer.write(fields)
            return
    _access_logger.info(
        "%s %s %s", fields["method"], fields["path"], fields["status"], extra=fields
    )


def flush_logs() -> None:
    """Write out buffered access lines (at shutdown)."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def configure_logging(
    log_format: str, level: str, secrets: Iterable[str] = (), stream: object = None
) -> None:
    # Skip per-record work nobody reads (the logging docs' "Optimization" section): caller
    # lookup walks the stack on every record, the access log writes one per request.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    secrets = list(secrets)
    handler = LogHandler(stream or sys.stdout)
    if log_format == "json":
        handler.setFormatter(JsonLineFormatter())
        AccessLogWriter(handler, secrets)  # becomes handler.access
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
