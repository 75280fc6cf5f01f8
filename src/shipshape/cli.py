"""The `shipshape` command: serve | migrate | prune | check-config | version | healthcheck |
check-writes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import platform
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from shipshape import __version__
from shipshape.checker import DEFAULT_READBACK_SECONDS
from shipshape.core.config import ConfigError, Settings, load_settings
from shipshape.observability.logging import configure_logging

logger = logging.getLogger("shipshape.cli")

R = TypeVar("R")

DEFAULT_TIMEOUT_SECONDS = 600.0


class DatabaseCommandError(Exception):
    """A database command failed; the message is the one line the user sees."""


def _database_address(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    from shipshape.core.database_url import hosts_of

    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite file {url.database or ':memory:'}"
    default = 5432 if url.get_backend_name() == "postgresql" else 3306
    return ",".join(f"{host}:{port or default}" for host, port in hosts_of(url))


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what SQLAlchemy wraps (`orig`) and its causes, outermost first."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return seen


def _cause(exc: BaseException, connect_timeout: float) -> tuple[str, bool]:
    """(what went wrong in a few words, whether waiting may help)."""
    chain = _chain(exc)
    for error in chain:
        name = type(error).__name__
        if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
            return f"refused the login: {error}", False
        args = getattr(error, "args", ())
        if args and args[0] in (1044, 1045) and len(args) > 1:  # MySQL: access denied
            return f"refused the login: {args[1]}", False
        if name == "CannotConnectNowError":  # PostgreSQL starting up or shutting down
            return str(error), True
    for error in chain:
        if isinstance(error, socket.gaierror):
            return "host name does not resolve", True
        if isinstance(error, ConnectionRefusedError):
            return "connection refused", True
        if isinstance(error, TimeoutError):
            return f"no answer within {connect_timeout:g}s", True
    for error in chain:
        args = getattr(error, "args", ())
        if args and args[0] == 2003:  # MySQL: can't connect (refused, unreachable)
            text = str(args[1]) if len(args) > 1 else str(error)
            return ("connection refused" if "refused" in text.lower() else text), True
        if isinstance(error, OSError):
            return error.strerror or str(error) or type(error).__name__, True
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"{type(exc).__name__}: {first}", False


def _scrubbed(text: str, settings: Settings) -> str:
    for secret in settings.secret_values():
        text = text.replace(secret, "********")
    return text


async def _probe(settings: Settings) -> None:
    """Open one connection and run `SELECT 1`, all within the connect timeout (some drivers'
    own timeouts do not cover the handshake: asyncmy waits forever on a stalled listener)."""
    from sqlalchemy import text

    from shipshape.storage.database import create_engine

    engine = create_engine(settings)
    try:
        async with asyncio.timeout(settings.db_connect_timeout_seconds):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(settings.db_connect_timeout_seconds):
                await engine.dispose()


def _within(seconds: float, work: Callable[[], R]) -> R:
    """Run `work` in a thread and give up after `seconds` (a driver stuck in a read cannot
    be interrupted from outside; the process exits without it)."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="shipshape-database-command", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {seconds:g}s")
    if errors:
        raise errors[0]
    return result[0]  # type: ignore[no-any-return]


def _run_database_command(
    command: str, settings: Settings, args: argparse.Namespace, work: Callable[[], R]
) -> R:
    """Wait (up to `--wait`) for the database to accept a connection, then run `work` within
    `--timeout`. Any failure becomes one `DatabaseCommandError` line naming the host and the
    cause; the password never appears (it is not part of the address, and is scrubbed)."""
    address = _database_address(settings)
    wait: float = getattr(args, "wait", 0.0) or 0.0
    deadline = time.monotonic() + wait
    connect_timeout = settings.db_connect_timeout_seconds
    while True:
        try:
            _within(connect_timeout + 5, lambda: asyncio.run(_probe(settings)))
            break
        except Exception as exc:
            cause, retryable = _cause(exc, connect_timeout)
            left = deadline - time.monotonic()
            if not retryable or left <= 0:
                waited = f" (still failing after --wait {wait:g}s)" if wait else ""
                raise DatabaseCommandError(
                    _scrubbed(f"database at {address}: {cause}{waited}", settings)
                ) from None
            logger.info("waiting for the database at %s: %s (%.0fs left)", address, cause, left)
            time.sleep(min(1.0, left))
    timeout: float = getattr(args, "timeout", DEFAULT_TIMEOUT_SECONDS)
    try:
        return _within(timeout, work)
    except Exception as exc:
        cause, _ = _cause(exc, timeout)
        raise DatabaseCommandError(
            _scrubbed(f"database at {address}: {command} failed: {cause}", settings)
        ) from None


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    settings = load_settings(**overrides)
    configure_logging(settings.log_format, settings.log_level, settings.secret_values())
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    from shipshape.server import serve

    serve(_settings(args), workers=args.workers)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from shipshape.storage.migrate import downgrade, head_revision, upgrade

    settings = _settings(args)
    target = args.revision
    migration = downgrade if target == "base" or target.startswith("-") else upgrade
    _run_database_command("migrate", settings, args, lambda: migration(settings, target))
    logger.info("database migrated to %s (head is %s)", target, head_revision())
    return 0


async def _prune(settings: Settings, dry_run: bool) -> dict[str, object]:
    from shipshape.storage.database import create_engine
    from shipshape.storage.repositories import VisitRepository

    if settings.retention_days == 0:
        return {"pruned": False, "reason": "SHIPSHAPE_RETENTION_DAYS=0 keeps everything"}
    cutoff = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(
        days=settings.retention_days
    )
    engine = create_engine(settings)
    repository = VisitRepository(engine)
    try:
        if dry_run:
            async with engine.connect() as conn:
                count = await repository.count_older_than(conn, cutoff)
            return {"dry_run": True, "cutoff": cutoff.isoformat(), "visits_to_delete": count}
        async with engine.begin() as conn:
            deleted_visits, deleted_visitors = await repository.prune(conn, cutoff)
        return {
            "cutoff": cutoff.isoformat(),
            "visits_deleted": deleted_visits,
            "visitors_deleted": deleted_visitors,
        }
    finally:
        await engine.dispose()


def cmd_prune(args: argparse.Namespace) -> int:
    settings = _settings(args)
    result = _run_database_command(
        "prune", settings, args, lambda: asyncio.run(_prune(settings, args.dry_run))
    )
    logger.info("prune finished", extra=result)
    print(json.dumps(result))
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(json.dumps(settings.redacted(), indent=2, default=str))
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    settings = load_settings()
    print(
        json.dumps(
            {
                "version": __version__,
                "commit": settings.git_commit,
                "build_date": settings.build_date,
                "python": platform.python_version(),
            }
        )
    )
    return 0


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Container HEALTHCHECK without curl or wget in the image."""
    url = args.url
    if url is None:
        settings = load_settings()
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
        url = f"http://{host}:{settings.port}/livez"
    if not url.startswith(("http://", "https://")):
        print("healthcheck: --url must be http(s)", file=sys.stderr)
        return 2
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:  # noqa: S310
            ok = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="keep retrying a database that refuses, does not resolve or does not answer "
        "for up to SECONDS before failing (default 0: fail at once); for a Job that may start "
        "before its database",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"give up on the work itself after SECONDS (default {DEFAULT_TIMEOUT_SECONDS:g})",
    )


def cmd_check_writes(args: argparse.Namespace) -> int:
    """Exit 0: every acknowledged write is stored once; 1: lost or duplicated; 2: no check."""
    from shipshape.checker import CheckFailed, check

    rate = 1.0 if args.rate is None else args.rate  # unset: unpaced
    positive = (args.duration, args.timeout, args.readback_timeout, rate)
    if args.count < 1 or args.concurrency < 1 or min(positive) <= 0:
        print("shipshape check-writes: --count, --duration, --concurrency, --rate, --timeout "
              "and --readback-timeout must be positive", file=sys.stderr)  # fmt: skip
        return 2
    try:
        report = check(
            args.url,
            args.count,
            args.duration,
            args.concurrency,
            args.timeout,
            rate=args.rate,
            readback=args.readback_timeout,
        )
    except CheckFailed as exc:
        print(f"shipshape check-writes: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    verdict = "OK" if report["ok"] else "FAILED"
    print(
        f"shipshape check-writes: {verdict}: {report['acknowledged']} acknowledged, "
        f"{report['lost']} lost, {report['duplicated']} duplicated, errors "
        f"{report['errors_by_status'] or 'none'}",
        file=sys.stderr,
    )
    return 0 if report["ok"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shipshape",
        description="shipshape service. Configuration comes from SHIPSHAPE_* and DATABASE_URL "
        "environment variables (secrets also from *_FILE); see docs/operations.md.",
    )
    parser.add_argument("--version", action="version", version=f"shipshape {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP server (one process; scale with replicas)")
    serve.add_argument("--host", help="bind address (default SHIPSHAPE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="bind port (default SHIPSHAPE_PORT or 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the port via SO_REUSEPORT (default 1: one per pod)",
    )
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations (run once per release)")
    migrate.add_argument(
        "--revision", default="head", help="target revision: head (default), base, or an id"
    )
    _database_options(migrate)
    migrate.set_defaults(func=cmd_migrate)

    prune = sub.add_parser("prune", help="delete visits older than SHIPSHAPE_RETENTION_DAYS")
    prune.add_argument("--dry-run", action="store_true", help="only count what would go")
    _database_options(prune)
    prune.set_defaults(func=cmd_prune)

    check = sub.add_parser("check-config", help="validate configuration, print it redacted")
    check.set_defaults(func=cmd_check_config)

    version = sub.add_parser("version", help="print version and build information")
    version.set_defaults(func=cmd_version)

    checker = sub.add_parser(
        "check-writes",
        help="write visits and birthdays, read them back: report lost or duplicated writes",
        description="Drive a bounded load of visits (GET /) and birthday saves (PUT /hello) "
        "against a running service, each with a unique marker, then read every acknowledged "
        "write back through the API. Exit 0 when none is lost or duplicated, 1 otherwise, "
        "2 when the check could not run. Every phase is bounded: the whole check ends within "
        "--duration + --readback-timeout + 3 x --timeout.",
    )
    checker.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    checker.add_argument("--count", type=int, required=True, help="writes to send at most")
    checker.add_argument(
        "--duration",
        type=float,
        required=True,
        metavar="SECONDS",
        help="send for at most this long",
    )
    checker.add_argument(
        "--concurrency", type=int, default=4, help="requests in flight (default 4)"
    )
    checker.add_argument(
        "--rate",
        type=float,
        metavar="WRITES_PER_SECOND",
        help="pace the writes to at most this many per second, so the load is the same on any "
        "machine (default: as fast as --concurrency requests are answered)",
    )
    checker.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="per request (default 10)"
    )
    checker.add_argument(
        "--readback-timeout",
        type=float,
        default=DEFAULT_READBACK_SECONDS,
        metavar="SECONDS",
        help="read every acknowledged write back within SECONDS, else exit 2 "
        f"(default {DEFAULT_READBACK_SECONDS:g})",
    )
    checker.set_defaults(func=cmd_check_writes)

    health = sub.add_parser("healthcheck", help="exit 0 if the local server answers /livez")
    health.add_argument("--url", help="URL to probe (default: this instance's /livez)")
    health.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    health.set_defaults(func=cmd_healthcheck)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"shipshape: {exc}", file=sys.stderr)
        return 2
    except DatabaseCommandError as exc:
        print(f"shipshape {args.command}: {exc}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)  # a driver thread may still be stuck in a read: do not wait for it
    return code
