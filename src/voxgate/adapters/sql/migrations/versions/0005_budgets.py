"""Budgets per user, notices to a live call's page (warnings, end reasons, admin instructions), and the
API key each call was made with (revoking it ends the call).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from voxgate.adapters.sql.tables import Money, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("api_key_id", sa.Integer(), nullable=True))
    op.create_table(
        "user_budgets",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("usd_per_day", Money(), nullable=True),
        sa.Column("usd_per_month", Money(), nullable=True),
        sa.Column("minutes_per_day", Money(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_budgets_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_budgets"),
    )
    op.create_table(
        "call_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_call_notices_call_id_calls", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_call_notices"),
    )
    op.create_index("ix_call_notices_call_id", "call_notices", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_call_notices_call_id", table_name="call_notices")
    op.drop_table("call_notices")
    op.drop_table("user_budgets")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("api_key_id")
