"""Tables. Timestamps are naive UTC everywhere (MySQL has no time zones); the API adds 'Z'."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, DateTime, Index, Integer, MetaData, String
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit ids except on SQLite, where only INTEGER PRIMARY KEY autoincrements.
Id = BigInteger().with_variant(Integer(), "sqlite")
# Microsecond timestamps on MySQL/MariaDB (DATETIME defaults to whole seconds).
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def CaseSensitive(length: int) -> String:
    """Byte-wise comparison on MySQL/MariaDB, so 'Alice' and 'alice' are two rows as elsewhere."""
    return String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Visit(Base):
    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ip: Mapped[str] = mapped_column(CaseSensitive(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)

    __table_args__ = (
        Index("ix_visits_ip_id", "ip", "id"),  # /list?ip=... newest first
        Index("ix_visits_created_at", "created_at"),  # prune
    )


class Visitor(Base):
    """Per-IP aggregate kept up to date by the visit writer: /visitors never scans visits."""

    __tablename__ = "visitors"

    ip: Mapped[str] = mapped_column(CaseSensitive(45), primary_key=True)
    visits: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[dt.datetime] = mapped_column(Timestamp)
    last_seen: Mapped[dt.datetime] = mapped_column(Timestamp)

    __table_args__ = (Index("ix_visitors_last_seen_ip", "last_seen", "ip"),)


class User(Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(CaseSensitive(64), primary_key=True)
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)
