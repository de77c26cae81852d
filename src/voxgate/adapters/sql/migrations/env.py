"""Alembic environment: always run with a connection handed over by :class:`Database`."""

from __future__ import annotations

from alembic import context

from voxgate.adapters.sql.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when someone runs the alembic CLI by hand
    raise RuntimeError("voxgate runs its migrations itself at start: use `voxgate migrate`.")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # The whole upgrade is one transaction on every backend (Database.migrate opens it with a real
    # BEGIN on SQLite too), so a kill part-way leaves the schema as it was before.
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
