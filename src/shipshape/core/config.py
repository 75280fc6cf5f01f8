"""Settings: 12-factor environment variables, secrets also readable from `*_FILE` files."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from shipshape.core.database_url import (
    UnsupportedDatabaseURL,
    redact_url,
    to_async_url,
    url_password,
)

ENV_PREFIX = "SHIPSHAPE_"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
REDACTED = "********"


def env_name(field_name: str, field: FieldInfo) -> str:
    """The environment variable that feeds a field (what users see in errors and docs)."""
    if isinstance(field.validation_alias, AliasChoices):
        first = field.validation_alias.choices[0]
        return str(first)
    if isinstance(field.validation_alias, str):
        return field.validation_alias
    return f"{ENV_PREFIX}{field_name}".upper()


class SecretFileSource(PydanticBaseSettingsSource):
    """Reads `<VAR>_FILE` for secret fields, the Docker/Kubernetes mounted-secret convention."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        extra = field.json_schema_extra
        if not (isinstance(extra, dict) and extra.get("secret")):
            return None, field_name, False
        variable = env_name(field_name, field) + "_FILE"
        path = os.environ.get(variable)
        if not path:
            return None, field_name, False
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(
                f"{variable}: cannot read secret file {path!r}: {exc.strerror}"
            ) from None
        return value, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                values[key] = value
        return values


def _secret(**kwargs: Any) -> Any:
    return Field(json_schema_extra={"secret": True}, **kwargs)


class Settings(BaseSettings):
    """Every setting of the service, documented in docs/operations.md (a test keeps step)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, populate_by_name=True
    )

    database_url: SecretStr = _secret(
        default=SecretStr("sqlite:///./shipshape.db"),
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
        description="Database URL: sqlite:///path, postgresql://..., mysql:// or mariadb://...",
    )
    database_password: SecretStr | None = _secret(
        default=None,
        description="Replaces the password in DATABASE_URL (keeps the URL non-secret).",
    )
    database_password_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("SHIPSHAPE_DATABASE_PASSWORD_FILE", "database_password_file"),
        description="File holding the database password; re-read for every new connection, "
        "so a rotated secret (e.g. RDS + Secrets Manager) is picked up without a restart.",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200, description="Connections kept in the pool.")
    db_max_overflow: int = Field(
        default=10, ge=0, le=200, description="Extra connections under load."
    )
    db_pool_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Wait for a free pooled connection before answering 503."
    )
    db_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Timeout to open a database connection."
    )
    db_statement_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Bound on every database round trip (PostgreSQL command timeout, MySQL "
        "read timeout); a slower answer fails the request with 503.",
    )
    db_prepared_statements: bool = Field(
        default=True,
        description="PostgreSQL: keep prepared statements per connection (asyncpg's statement "
        "cache). Set false behind a pooler in transaction mode (PgBouncer before 1.21, or "
        "without max_prepared_statements): each statement is then prepared unnamed, in the "
        "same round trip as its execution.",
    )

    host: str = Field(default="127.0.0.1", description="Bind address of `shipshape serve`.")
    port: int = Field(default=8000, ge=1, le=65535, description="Bind port of `shipshape serve`.")
    environment: str = Field(
        default="local", max_length=64, description="Free-form environment label (dev, prod...)."
    )

    admin_token: SecretStr | None = _secret(
        default=None,
        description="Bearer token for operator endpoints; unset disables them. At least 16 chars.",
    )
    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = Field(
        default_factory=lambda: [
            ipaddress.ip_network("127.0.0.1/32"),
            ipaddress.ip_network("::1/128"),
        ],
        description="Comma-separated CIDRs whose X-Forwarded-For / Forwarded headers are honoured.",
    )
    forwarded_header: Literal["x-forwarded-for", "forwarded"] = Field(
        default="x-forwarded-for",
        description="The header the trusted proxies write (x-forwarded-for or forwarded, RFC "
        "7239); only that one is read, all its lines joined in order.",
    )
    max_body_bytes: int = Field(
        default=65536, ge=1024, le=16 * 1024 * 1024, description="Largest accepted request body."
    )
    max_header_bytes: int = Field(
        default=65536,
        ge=4096,
        le=1024 * 1024,
        description="Largest request head (request line and headers) `shipshape serve` reads; "
        "431 beyond, read no further.",
    )
    max_headers: int = Field(
        default=100, ge=16, le=10000, description="Most header lines in a request; 431 beyond."
    )
    client_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="A connection must send a whole request head within this long (from its "
        "accept, or from the first byte of a request on a kept-alive connection): 408 and closed.",
    )
    client_body_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="A request body must have arrived within this long after its head: 408 "
        "and closed.",
    )

    chaos_enabled: bool = Field(default=False, description="Enable /status, /delay and faults.")
    chaos_max_delay_seconds: float = Field(
        default=10.0, ge=0, le=300, description="Cap for /delay/{seconds} and injected latency."
    )

    log_format: Literal["json", "text"] = Field(default="json", description="json or text.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Minimum log level."
    )
    access_log: bool = Field(default=True, description="One log line per request.")

    drain_seconds: float = Field(
        default=5.0, ge=0, le=300, description="On SIGTERM, stay up (not ready) this long."
    )
    shutdown_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Then finish in-flight work within this bound."
    )
    readiness_timeout_seconds: float = Field(
        default=1.0, gt=0, le=30, description="Database check timeout of /readyz."
    )
    readiness_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Reuse a readiness result this long (no DB hammering).",
    )

    anonymize_ips: bool = Field(default=False, description="Store IPv4 as /24 and IPv6 as /48.")
    retention_days: int = Field(
        default=90,
        ge=0,
        le=36500,
        description="`shipshape prune` deletes older visits; 0 keeps all.",
    )

    visit_queue_size: int = Field(
        default=10000, ge=1, description="Pending visit writes before new ones get a fast 503."
    )
    visit_batch_size: int = Field(
        default=500, ge=1, le=10000, description="Most visits written in one group commit."
    )
    visit_writers: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Concurrent group-commit transactions for visits (SQLite uses 1). One "
        "lets the next batch grow while a commit is in flight (bench/NOTES.md).",
    )
    birthday_queue_size: int = Field(
        default=1000, ge=1, description="Pending birthday saves before new ones get a fast 503."
    )
    birthday_batch_size: int = Field(
        default=200, ge=1, le=10000, description="Most birthday saves written in one group commit."
    )
    birthday_linger_ms: float = Field(
        default=5.0,
        ge=0,
        le=1000,
        description="While saves arrive closer together than this, a save waits this long for "
        "others to share its commit; a lone save is committed at once. 0 turns it off.",
    )

    freeze_heap: bool = Field(
        default=True,
        description="At start-up, move the heap into the collector's permanent generation and "
        "collect the young generation less often (core/heap.py). Process-wide: turn it off "
        "when several apps share a process (tests).",
    )

    write_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Deadline of a group commit (visits, birthday saves): writes the database "
        "has not committed by then, or that waited in the queue as long, answer 503.",
    )

    otel_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP traces endpoint; unset keeps tracing off."
    )
    otel_service_name: str = Field(default="shipshape", description="service.name of spans.")

    git_commit: str = Field(default="unknown", max_length=64, description="Set by the image build.")
    build_date: str = Field(default="unknown", max_length=64, description="Set by the image build.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, SecretFileSource(settings_cls))

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_cidrs(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("admin_token")
    @classmethod
    def _token_strength(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: SecretStr) -> SecretStr:
        try:
            to_async_url(value.get_secret_value())
        except UnsupportedDatabaseURL as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def effective_database_url(self) -> str:
        """The async SQLAlchemy URL, with SHIPSHAPE_DATABASE_PASSWORD applied."""
        password = self.database_password.get_secret_value() if self.database_password else None
        return to_async_url(self.database_url.get_secret_value(), password=password)

    def redacted(self) -> dict[str, Any]:
        """Effective configuration safe to show: secrets masked, DSN password removed."""
        out: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            extra = field.json_schema_extra
            if name == "database_url":
                out[name] = redact_url(value.get_secret_value())
            elif isinstance(extra, dict) and extra.get("secret"):
                out[name] = None if value is None else REDACTED
            elif name == "database_password_file":
                out[name] = str(value) if value else None
            elif name == "trusted_proxies":
                out[name] = [str(net) for net in value]
            else:
                out[name] = value
        return out

    def secret_values(self) -> list[str]:
        """Every secret in clear, for log scrubbing and tests that prove nothing leaks."""
        secrets = [
            s.get_secret_value()
            for s in (self.admin_token, self.database_password)
            if s is not None and s.get_secret_value()
        ]
        password = url_password(self.database_url.get_secret_value())
        if password:
            secrets.append(password)
        return secrets


class ConfigError(Exception):
    """Invalid configuration, with a message that names each setting and never echoes a value."""


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            loc = error["loc"]
            field_name = str(loc[0]) if loc else "?"
            field = Settings.model_fields.get(field_name)
            name = env_name(field_name, field) if field else field_name
            problems.append(f"{name}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
    except ValueError as exc:  # raised by SecretFileSource for unreadable files
        raise ConfigError(f"invalid configuration: {exc}") from None
