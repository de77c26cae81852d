"""The call ledger (calls, items, responses, transcriptions), relay tickets and SQL call leases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from voxgate.adapters.sql.tables import Money, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _call_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["call_id"], ["calls.id"], name=f"fk_{table}_call_id_calls", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("upstream_call_id", sa.String(100), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("api", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("voice", sa.String(64), nullable=True),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("end_reason", sa.String(64), nullable=True),
        sa.Column("transcripts_pruned_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_calls_user_id_users", ondelete="CASCADE"),
        sa.UniqueConstraint("upstream_call_id", name="uq_calls_upstream_call_id"),
    )
    op.create_index("ix_calls_user_id_started_at", "calls", ["user_id", "started_at"])
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_index("ix_calls_ended_at", "calls", ["ended_at"])
    op.create_table(
        "call_items",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("previous_item_id", sa.String(100), nullable=True),
        sa.Column("interrupted", sa.Boolean(), nullable=False),
        sa.Column("truncated_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_call_items"),
        _call_fk("call_items"),
        sa.UniqueConstraint("call_id", "item_id", name="uq_call_items_call_id_item_id"),
    )
    op.create_table(
        "call_responses",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("response_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("usage", sa.JSON(), nullable=False),
        sa.Column("cost_usd", Money(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_call_responses"),
        _call_fk("call_responses"),
        sa.UniqueConstraint("call_id", "response_id", name="uq_call_responses_call_id_response_id"),
    )
    op.create_table(
        "call_transcriptions",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("call_id", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(100), nullable=False),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("usage", sa.JSON(), nullable=False),
        sa.Column("cost_usd", Money(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_call_transcriptions"),
        _call_fk("call_transcriptions"),
        sa.UniqueConstraint("call_id", "item_id", name="uq_call_transcriptions_call_id_item_id"),
    )
    op.create_table(
        "relay_tickets",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("session", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_relay_tickets"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_relay_tickets_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("digest", name="uq_relay_tickets_digest"),
    )
    op.create_index("ix_relay_tickets_expires_at", "relay_tickets", ["expires_at"])
    op.create_table(
        "call_leases",
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name="pk_call_leases"),
    )


def downgrade() -> None:
    op.drop_table("call_leases")
    op.drop_index("ix_relay_tickets_expires_at", table_name="relay_tickets")
    op.drop_table("relay_tickets")
    for table in ("call_transcriptions", "call_responses", "call_items"):
        op.drop_table(table)
    for index in ("ix_calls_ended_at", "ix_calls_started_at", "ix_calls_user_id_started_at"):
        op.drop_index(index, table_name="calls")
    op.drop_table("calls")
