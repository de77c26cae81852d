"""The database: one async engine, owned here, migrated with Alembic at start.

Migrations are all-or-nothing on both backends. PostgreSQL runs DDL in a transaction natively. SQLite can
too, but Python's sqlite3 driver never opens a transaction before DDL, so each ``CREATE TABLE`` would
commit on its own and a kill half-way through left half a schema that no later start could migrate
(``table users already exists``). The migrations therefore run on a connection of their own with the
driver's transaction handling off and an explicit ``BEGIN IMMEDIATE`` (SQLAlchemy's documented pysqlite
recipe), so that the whole upgrade, the version row included, commits at once or not at all.

A database that is down or hung is reported as :class:`DatabaseUnavailable` (503, ``Retry-After``) within
bounded time: connections time out after ``connect_timeout`` and statements after ``statement_timeout``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection, ExceptionContext
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_

from voxgate.adapters.sql.writer import Writer
from voxgate.errors import VoxgateError

__all__ = ["UNAVAILABLE_ERRORS", "Database", "DatabaseUnavailable", "MissingDatabase", "sqlite_path"]

MIGRATIONS = Path(__file__).with_name("migrations")

# Any constant works: it only has to be the same in every replica, so that two replicas starting
# together do not both run the migrations.
_PG_MIGRATION_LOCK = 0x766F7867
#: What a 503 for an unavailable database tells clients to wait, in seconds.
RETRY_AFTER_S = 5
#: How long the pool waits for a pooled connection to answer before it connects anew, in seconds.
PING_TIMEOUT_S = 1.0


class DatabaseUnavailable(VoxgateError):
    """The database did not answer (refused, reset or timed out): 503, try again shortly."""

    status_code: ClassVar[int] = 503
    error_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str] = "database_unavailable"


class MissingDatabase(VoxgateError):
    """A command that must not create a database found none where the settings say it is."""

    default_code: ClassVar[str] = "database_missing"


#: What a database that is down or hung raises; the web layer answers these with 503. (A refused or
#: timed-out connect is turned into :class:`DatabaseUnavailable` by ``_connect``: drivers raise plain
#: ``OSError`` there, which says nothing about where it came from.)
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    DatabaseUnavailable,
    OperationalError,
    InterfaceError,
    PoolTimeout,
)


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers run while a writer commits (several workers share one file).
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode, NORMAL syncs at checkpoints instead of at every commit: a commit survives the process
    # being killed (the tests SIGKILL servers mid-burst), and only an OS crash or power loss can undo
    # the last ones, never corrupt the file. An fsync per commit was the largest part of each audit and
    # ledger write, held SQLite's one write lock while it ran, and made concurrent requests queue on it.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _sqlite_manual_transactions(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # The driver's own transaction handling skips DDL; with it off, SQLAlchemy's "begin" below is the
    # only BEGIN, and it covers every statement.
    dbapi_conn.isolation_level = None


def _sqlite_begin_immediate(conn: Connection) -> None:
    # IMMEDIATE takes the write lock at once, so two processes migrating together queue up (busy_timeout)
    # instead of both reading "not migrated" and then colliding.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    try:
        return dialect.loaded_dbapi.connect(*cargs, **cparams)
    except OSError as exc:  # refused, reset, unreachable, or the connect timeout (TimeoutError)
        raise DatabaseUnavailable(
            "The database is not reachable; try again shortly.", retry_after=RETRY_AFTER_S
        ) from exc


def _lost(context: ExceptionContext) -> None:
    # asyncpg reports a statement timeout (a hung server) as a bare TimeoutError, and a connection reset
    # as an OSError, which SQLAlchemy passes through untranslated: say what they mean, and drop the
    # connection rather than give it back to the pool.
    if isinstance(context.original_exception, OSError):  # TimeoutError and ConnectionError included
        context.is_disconnect = True
        raise DatabaseUnavailable(
            "The database did not answer; try again shortly.", retry_after=RETRY_AFTER_S
        ) from context.original_exception


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL (None for other databases and in-memory SQLite)."""
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


class Database:
    """Owns the connection pool. ``aclose()`` releases it; calling it twice is harmless.

    ``create=False`` refuses to start on a SQLite file that does not exist yet (:class:`MissingDatabase`):
    a management command run from the wrong folder must not quietly make a new, empty database.
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 3.0,
        statement_timeout: float = 5.0,
        create: bool = True,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        path = sqlite_path(url)
        if path is not None and not create and not path.exists():
            raise MissingDatabase(f"No voxgate database at {path}.")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.connect_timeout = connect_timeout
        self.engine: AsyncEngine = create_async_engine(url, **self._engine_options(statement_timeout))
        self._configure(self.engine)
        #: Short write transactions in one hop (:mod:`voxgate.adapters.sql.writer`).
        self.writer = Writer(self.engine, on_connect=_sqlite_pragmas if self.is_sqlite else None)

    def _configure(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "do_connect", _connect)
        event.listen(engine.sync_engine, "handle_error", _lost)
        dialect = engine.sync_engine.dialect
        ping = dialect.do_ping
        ping_timeout = min(self.connect_timeout, PING_TIMEOUT_S)

        def do_ping(dbapi_connection: DBAPIConnection) -> bool:
            # The pool pings a connection before handing it out. On a hung server asyncpg's own ping waits
            # for the statement timeout and ends in a bare TimeoutError the pool does not expect: ping with
            # a short timeout instead, and call a silent server a dead connection, so that the pool drops
            # it and connects anew (bounded by connect_timeout).
            raw = getattr(dbapi_connection, "_connection", None)
            try:
                if raw is None or not hasattr(raw, "fetchrow"):  # not asyncpg
                    return ping(dbapi_connection)
                await_(raw.fetchrow(";", timeout=ping_timeout))
                return True
            except OSError:
                return False
            except Exception:  # asyncpg's own "connection closed" errors: equally a dead connection
                if raw is None:
                    raise
                return False

        dialect.do_ping = do_ping  # type: ignore[method-assign]
        if self.is_sqlite:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)

    def _engine_options(self, statement_timeout: float | None) -> dict[str, Any]:
        if self.is_sqlite:
            return {"pool_pre_ping": False}
        connect_args: dict[str, Any] = {"timeout": self.connect_timeout}
        if statement_timeout is not None:
            connect_args["command_timeout"] = statement_timeout
        # pool_timeout: waiting for a free connection is bounded too.
        return {"pool_pre_ping": True, "pool_timeout": self.connect_timeout, "connect_args": connect_args}

    async def migrate(self) -> None:
        """Bring the schema to the newest revision: atomically, idempotently, serialised across replicas."""
        engine = self._migration_engine()
        try:
            async with engine.begin() as conn:
                if not self.is_sqlite:
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                    )
                await conn.run_sync(self._upgrade)
        finally:
            await engine.dispose()

    def _migration_engine(self) -> AsyncEngine:
        # A separate, short-lived engine: the transaction recipe below must not change how the serving
        # pool's transactions behave, and migrations may wait on a lock longer than a request may.
        engine = create_async_engine(self.url, **self._engine_options(None))
        if self.is_sqlite:
            event.listen(engine.sync_engine, "connect", _sqlite_manual_transactions)
            event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        self._configure(engine)
        return engine

    @staticmethod
    def _upgrade(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async def is_empty(self) -> bool:
        """True when no migration has run yet (no ``alembic_version`` row)."""
        async with self.engine.connect() as conn:
            has_table = await conn.run_sync(lambda sync: sync.dialect.has_table(sync, "alembic_version"))
            if not has_table:
                return True
            rows = (await conn.execute(text("SELECT count(*) FROM alembic_version"))).scalar_one()
            return int(rows) == 0

    async def ping(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109 - a bound, not a cancel scope API
        """Raise if the database does not answer ``SELECT 1`` in time."""
        async with asyncio.timeout(timeout), self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def aclose(self) -> None:
        await self.writer.aclose()
        await self.engine.dispose()
