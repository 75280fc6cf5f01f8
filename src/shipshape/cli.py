"""The `shipshape` command: serve | migrate | prune | check-config | version | healthcheck."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import platform
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

from shipshape import __version__
from shipshape.core.config import ConfigError, Settings, load_settings
from shipshape.observability.logging import configure_logging

logger = logging.getLogger("shipshape.cli")


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
    if target == "base" or target.startswith("-"):
        downgrade(settings, target)
    else:
        upgrade(settings, target)
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
    result = asyncio.run(_prune(settings, args.dry_run))
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
    migrate.set_defaults(func=cmd_migrate)

    prune = sub.add_parser("prune", help="delete visits older than SHIPSHAPE_RETENTION_DAYS")
    prune.add_argument("--dry-run", action="store_true", help="only count what would go")
    prune.set_defaults(func=cmd_prune)

    check = sub.add_parser("check-config", help="validate configuration, print it redacted")
    check.set_defaults(func=cmd_check_config)

    version = sub.add_parser("version", help="print version and build information")
    version.set_defaults(func=cmd_version)

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
    return code
