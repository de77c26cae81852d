"""Bind browser sessions to the key that made them, and relay tickets to the session or key they were
issued under, so that revoking a key or signing out ends both at once; say why a session ended.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot add a column with a foreign key in place (on PostgreSQL it is an ALTER).
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("api_key_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("ended_reason", sa.String(32), nullable=True))
        batch.create_foreign_key(
            "fk_web_sessions_api_key_id_api_keys", "api_keys", ["api_key_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_web_sessions_api_key_id", ["api_key_id"])
        batch.create_index("ix_web_sessions_user_id", ["user_id"])
    with op.batch_alter_table("relay_tickets") as batch:
        batch.add_column(sa.Column("session_digest", sa.String(64), nullable=True))
        batch.add_column(sa.Column("api_key_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_relay_tickets_api_key_id_api_keys", "api_keys", ["api_key_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_relay_tickets_session_digest", ["session_digest"])
        batch.create_index("ix_relay_tickets_api_key_id", ["api_key_id"])
        batch.create_index("ix_relay_tickets_user_id", ["user_id"])


def downgrade() -> None:
    with op.batch_alter_table("relay_tickets") as batch:
        batch.drop_index("ix_relay_tickets_user_id")
        batch.drop_index("ix_relay_tickets_api_key_id")
        batch.drop_index("ix_relay_tickets_session_digest")
        batch.drop_constraint("fk_relay_tickets_api_key_id_api_keys", type_="foreignkey")
        batch.drop_column("api_key_id")
        batch.drop_column("session_digest")
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_index("ix_web_sessions_user_id")
        batch.drop_index("ix_web_sessions_api_key_id")
        batch.drop_constraint("fk_web_sessions_api_key_id_api_keys", type_="foreignkey")
        batch.drop_column("ended_reason")
        batch.drop_column("api_key_id")
