"""A query past its time budget answers 503 ``QUERY_TIMEOUT`` (docs/security.md), never a stuck
worker. The budget itself is set on the engine (``audience.db.make_engine``)."""

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from audience.errors import error_response

# PostgreSQL's query_canceled (statement_timeout); SQLite says "interrupted" when its
# progress handler stops a statement.
_CANCELED = "57014"
_log = logging.getLogger("audience.errors")


def is_query_timeout(exc: DBAPIError) -> bool:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) == _CANCELED or str(orig) == "interrupted"


def install(app: FastAPI) -> None:
    @app.exception_handler(DBAPIError)
    async def _database_error(_request: Request, exc: DBAPIError) -> JSONResponse:
        if is_query_timeout(exc):
            return error_response(
                503, "QUERY_TIMEOUT", "The query took longer than its time budget; narrow it"
            )
        # Logged with its SQL, never its values (the engine hides parameters).
        _log.error("database error", exc_info=exc)
        return error_response(500, "INTERNAL_ERROR", "Internal server error")
