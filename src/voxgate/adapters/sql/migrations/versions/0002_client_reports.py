"""Connect outcomes and step timings reported by the browser console.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from voxgate.adapters.sql.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_reports",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("call_id", sa.String(100), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_client_reports"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_client_reports_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_client_reports_call_id", "client_reports", ["call_id"])
    op.create_index("ix_client_reports_created_at", "client_reports", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_client_reports_created_at", table_name="client_reports")
    op.drop_index("ix_client_reports_call_id", table_name="client_reports")
    op.drop_table("client_reports")
