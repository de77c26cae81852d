"""The synthetic probe's results, for the dashboard's transcription accuracy chart.

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from voxgate.adapters.sql.tables import UTCDateTime

revision = "0007"
# 0006 was set aside for work written at the same time that turned out not to need a migration.
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "probe_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("error", sa.String(300), nullable=True),
        sa.Column("wer", sa.Float(), nullable=True),
        sa.Column("connect_ms", sa.Float(), nullable=True),
        sa.Column("first_audio_ms", sa.Float(), nullable=True),
        sa.Column("expected", sa.Text(), nullable=False),
        sa.Column("heard", sa.Text(), nullable=True),
    )
    op.create_index("ix_probe_runs_created_at", "probe_runs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_probe_runs_created_at", table_name="probe_runs")
    op.drop_table("probe_runs")
