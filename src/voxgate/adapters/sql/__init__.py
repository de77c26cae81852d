"""SQL persistence (SQLAlchemy 2 async; SQLite by default, PostgreSQL at scale; Alembic migrations)."""

from voxgate.adapters.sql.database import Database
from voxgate.adapters.sql.store import AccountStore

__all__ = ["AccountStore", "Database"]
