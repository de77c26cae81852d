"""Table definitions. Alembic migrations under ``migrations/`` create them; a test keeps both in step."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

__all__ = [
    "MONEY_QUANTUM",
    "Money",
    "UTCDateTime",
    "api_keys",
    "call_items",
    "call_leases",
    "call_notices",
    "call_responses",
    "call_transcriptions",
    "calls",
    "client_reports",
    "dialect_insert",
    "metadata",
    "mint_audit",
    "probe_runs",
    "relay_tickets",
    "signin_links",
    "user_budgets",
    "users",
    "web_sessions",
]

#: Amounts of money are kept to 1e-10 USD on every backend.
MONEY_QUANTUM = Decimal("1E-10")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """Exact USD amounts: ``NUMERIC(20, 10)`` on PostgreSQL, decimal text on SQLite.

    SQLite has no decimal type (its NUMERIC is a float, and SQLAlchemy warns about it), so there the value
    is kept as text. Either way a value is rounded to :data:`MONEY_QUANTUM` on the way in and read back as
    the same :class:`~decimal.Decimal`. Sum amounts in Python: SQL ``SUM`` over text would go through floats.
    """

    impl = Numeric(20, 10)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(20, 10))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"not a finite Decimal amount: {value!r}")
        exact = value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)
        return str(exact) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(MONEY_QUANTUM)


def dialect_insert(table: Table, dialect: str) -> sqlite.Insert | postgresql.Insert:
    """An INSERT with ``ON CONFLICT`` clauses, for the two backends voxgate supports (both have them)."""
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise ValueError(f"unsupported database dialect {dialect!r}")


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    # "issuer|subject" for users who come from an identity provider's JWT.
    Column("external_subject", String(512), nullable=True, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("hint", String(32), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

signin_links = Table(
    "signin_links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # The key this session was signed in with (None: a sign-in link): revoking the key ends it.
    Column("api_key_id", Integer, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=True),
    # Why an ended session stopped working ("key_revoked", "user_disabled"); kept until it would have
    # expired so that its browser is told why on its next request.
    Column("ended_reason", String(32), nullable=True),
    Index("ix_web_sessions_api_key_id", "api_key_id"),
    Index("ix_web_sessions_user_id", "user_id"),
)

mint_audit = Table(
    "mint_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("client_ip", String(64), nullable=False),
    Column("outcome", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("ttl", Integer, nullable=True),
    Column("model", String(100), nullable=True),
    Index("ix_mint_audit_created_at", "created_at"),
)

client_reports = Table(
    "client_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(32), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("error_code", String(64), nullable=True),
    # The upstream call the browser reported holding (ownership comes from the calls ledger, not from here).
    Column("call_id", String(100), nullable=True),
    Column("attempt", Integer, nullable=False),
    # Step timings in milliseconds, e.g. {"token_ms": 3.1, "mic_ms": 40.2, ...}.
    Column("steps", JSON, nullable=False),
    Index("ix_client_reports_call_id", "call_id"),
    Index("ix_client_reports_created_at", "created_at"),
)

# -- the call ledger -------------------------------------------------------------------------------

calls = Table(
    "calls",
    metadata,
    Column("id", String(32), primary_key=True),  # vgc_…, the only id a browser sees
    Column("upstream_call_id", String(100), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("api", String(16), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("model", String(100), nullable=True),
    Column("voice", String(64), nullable=True),
    Column("client_ip", String(64), nullable=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("end_reason", String(64), nullable=True),
    Column("transcripts_pruned_at", UTCDateTime, nullable=True),
    # The API key the call was made with (directly, or through a browser session signed in with it):
    # revoking that key ends the call.
    Column("api_key_id", Integer, nullable=True),
    Index("ix_calls_user_id_started_at", "user_id", "started_at"),
    Index("ix_calls_started_at", "started_at"),
    Index("ix_calls_ended_at", "ended_at"),
)

call_items = Table(
    "call_items",
    metadata,
    # The id also keeps the order items were first recorded in (an upsert keeps the first id).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(32), ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("item_id", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("type", String(32), nullable=False),
    Column("text", Text, nullable=True),
    Column("status", String(32), nullable=True),
    Column("previous_item_id", String(100), nullable=True),
    Column("interrupted", Boolean, nullable=False),
    Column("truncated_ms", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("call_id", "item_id", name="uq_call_items_call_id_item_id"),
)

call_responses = Table(
    "call_responses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(32), ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("response_id", String(100), nullable=False),
    Column("status", String(32), nullable=False),
    Column("model", String(100), nullable=True),
    # response.done's usage as received: every token count, the cached and per-modality details.
    Column("usage", JSON, nullable=False),
    Column("cost_usd", Money, nullable=True),  # NULL: the price is unknown
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("call_id", "response_id", name="uq_call_responses_call_id_response_id"),
)

call_transcriptions = Table(
    "call_transcriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(32), ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("item_id", String(100), nullable=False),
    Column("model", String(100), nullable=True),
    Column("seconds", Float, nullable=True),
    Column("usage", JSON, nullable=False),
    Column("cost_usd", Money, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("call_id", "item_id", name="uq_call_transcriptions_call_id_item_id"),
)

relay_tickets = Table(
    "relay_tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # The session the policy built when the ticket was issued; the relay creates calls with it.
    Column("session", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # What the ticket was issued under: a browser session (its digest) or an API key. It stops working
    # when that session ends or that key is revoked.
    Column("session_digest", String(64), nullable=True),
    Column("api_key_id", Integer, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=True),
    Index("ix_relay_tickets_expires_at", "expires_at"),
    Index("ix_relay_tickets_session_digest", "session_digest"),
    Index("ix_relay_tickets_api_key_id", "api_key_id"),
    Index("ix_relay_tickets_user_id", "user_id"),
)

# Leases when no Redis is configured: which replica supervises which call (see adapters.sql.leases).
call_leases = Table(
    "call_leases",
    metadata,
    # Usually a call id; any name of up to 64 characters works.
    Column("call_id", String(64), nullable=False),
    # A replica's name: host (up to 64 on Linux), pid and a random part.
    Column("holder", String(128), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("call_id", name="pk_call_leases"),
)

# The synthetic probe's calls (``voxgate probe``): what it said, what the upstream heard, how long it took.
probe_runs = Table(
    "probe_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("target", String(64), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("error", String(300), nullable=True),
    Column("wer", Float, nullable=True),
    Column("connect_ms", Float, nullable=True),
    Column("first_audio_ms", Float, nullable=True),
    Column("expected", Text, nullable=False),
    Column("heard", Text, nullable=True),
    Index("ix_probe_runs_created_at", "created_at"),
)

# -- budgets ---------------------------------------------------------------------------------------

# A user's own limits, overriding the settings' defaults; a NULL column keeps the default.
user_budgets = Table(
    "user_budgets",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("usd_per_day", Money, nullable=True),
    Column("usd_per_month", Money, nullable=True),
    Column("minutes_per_day", Money, nullable=True),
    # Which of the three are set here (a set NULL lifts the default's limit): a JSON list of names.
    Column("fields", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# What happened to a live call that its page must hear of (a warning, why it ended), and what an
# admin asked of it (an instruction, delivered by the replica that watches the call).
call_notices = Table(
    "call_notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(32), ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Index("ix_call_notices_call_id", "call_id"),
)
