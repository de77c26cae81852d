"""SQL persistence (SQLAlchemy 2 async; SQLite by default, PostgreSQL at scale; Alembic migrations)."""

from voxgate.adapters.sql.database import Database
from voxgate.adapters.sql.leases import SqlLeases
from voxgate.adapters.sql.ledger import LedgerStore
from voxgate.adapters.sql.store import AccountStore
from voxgate.adapters.sql.tickets import TicketStore

__all__ = ["AccountStore", "Database", "LedgerStore", "SqlLeases", "TicketStore"]
