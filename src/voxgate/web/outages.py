"""A database that is down or hung answers 503 ``database_unavailable`` with ``Retry-After``, not 500.

Refused and timed-out connections already arrive as :class:`DatabaseUnavailable` (a ``VoxgateError``);
this maps what SQLAlchemy raises for a connection lost mid-request, or a statement timed out, the same way.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from voxgate.adapters.sql.database import RETRY_AFTER_S, UNAVAILABLE_ERRORS, DatabaseUnavailable
from voxgate.web.errors import error_response

__all__ = ["install_outage_handlers"]

log = logging.getLogger("voxgate.web")


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning(
        "%s %s -> 503: the database is unavailable (%s)", request.method, request.url.path, type(exc).__name__
    )
    return error_response(
        503,
        "server_error",
        DatabaseUnavailable.default_code,
        "The database is unavailable; try again shortly.",
        None,
        **{"Retry-After": str(RETRY_AFTER_S)},
    )


def install_outage_handlers(app: FastAPI) -> None:
    """Register the 503 answers for an unavailable database (the limiter's come as ``VoxgateError``)."""
    for error in UNAVAILABLE_ERRORS:
        if not issubclass(error, DatabaseUnavailable):
            app.add_exception_handler(error, _database_unavailable)
