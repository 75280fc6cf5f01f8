"""Initial schema: visits, per-IP visitor aggregates, users.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shipshape.storage.models import CaseSensitive, Id, Timestamp

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visits",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("ip", CaseSensitive(45), nullable=False),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_visits"),
    )
    op.create_index("ix_visits_ip_id", "visits", ["ip", "id"])
    op.create_index("ix_visits_created_at", "visits", ["created_at"])
    op.create_table(
        "visitors",
        sa.Column("ip", CaseSensitive(45), nullable=False),
        sa.Column("visits", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", Timestamp, nullable=False),
        sa.Column("last_seen", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("ip", name="pk_visitors"),
    )
    op.create_index("ix_visitors_last_seen_ip", "visitors", ["last_seen", "ip"])
    op.create_table(
        "users",
        sa.Column("username", CaseSensitive(64), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("username", name="pk_users"),
    )


def downgrade() -> None:
    op.drop_table("users")
    op.drop_index("ix_visitors_last_seen_ip", table_name="visitors")
    op.drop_table("visitors")
    op.drop_index("ix_visits_created_at", table_name="visits")
    op.drop_index("ix_visits_ip_id", table_name="visits")
    op.drop_table("visits")
