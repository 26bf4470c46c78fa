"""The application's database access: SQLAlchemy's async engine on asyncpg.

asyncpg binds every parameter on the server (the extended query protocol):
the SQL text the server sees, logs and keeps in pg_stat_statements has $1
where a token was passed, never the token.  psycopg2, by contrast, splices
parameters into the SQL text on the client; it is used here only by the
migrations and the bootstrap command (app/bootstrap.py), which send no token.

Every request opens its transactions with ``async with engine.begin()``,
which commits or rolls back before the block is left: a connection is back
in the pool, outside any transaction, before the response is sent, whatever
went wrong.

No error message holds a parameter: SQLAlchemy's hide theirs
(hide_parameters=True), and asyncpg's own message about an argument it
cannot encode, which quotes the value, is replaced (_hide_argument_values).
The application checks its input before it reaches the driver anyway.
"""
import logging
from typing import Optional

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.requests import HTTPConnection

from .models import APP_SCHEMA

# What pg_stat_activity shows for the application's connections.
APPLICATION_NAME = "api_tokens_example"

DRIVER = "postgresql+asyncpg"


class _NoDebugRecords(logging.Filter):
    """SQLAlchemy logs result rows at DEBUG level, and the rows of
    api_token_create and api_token_rotate hold plaintext tokens: whatever
    level a deployment sets for sqlalchemy.engine, no DEBUG record of the
    engine is ever emitted.  (Parameters, logged at INFO, are hidden by
    hide_parameters=True below.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


logging.getLogger("sqlalchemy.engine.Engine").addFilter(_NoDebugRecords())


class ArgumentNotEncodable(Exception):
    """What replaces asyncpg's error for an argument it cannot encode (a
    string with a lone surrogate, say), whose message quotes the value: a
    token, a password.  SQLSTATE 22021, character_not_in_repertoire, is what
    the server would have said."""
    sqlstate = "22021"


def _hide_argument_values(context) -> None:
    """handle_error: hide_parameters keeps the parameters out of SQLAlchemy's
    messages, but not out of the driver's own, which asyncpg writes for an
    argument it cannot encode ("invalid input for query argument $1:
    '<the value>'").  Such an error is raised again without the message."""
    if "invalid input for query argument" in str(context.original_exception):
        raise DBAPIError(context.statement, None, ArgumentNotEncodable(
            "a query argument could not be encoded (its value is not shown)"), hide_parameters=True) from None


def create_engine_from_url(database_url: str) -> AsyncEngine:
    """The engine of DATABASE_URL, the least-privileged application role
    (README.md), which must name the asyncpg driver."""
    url = make_url(database_url)
    if url.drivername != DRIVER:
        raise RuntimeError(
            f"DATABASE_URL must use {DRIVER}://, a driver that binds parameters on the server, "
            f"not {url.drivername}://: with a client-side driver, tokens would be part of the SQL text")
    engine = create_async_engine(
        url,
        future=True,
        # The models' tables of the default schema (schema=None) are
        # qualified as public; those of the extension are api_tokens.* already.
        execution_options={"schema_translate_map": {None: APP_SCHEMA}},
        # Error messages and INFO logs show "[SQL parameters hidden ...]"
        # instead of the parameters, which include tokens.
        hide_parameters=True,
        pool_pre_ping=True,
        connect_args={"server_settings": {
            "application_name": APPLICATION_NAME,
            # No schema is searched but pg_catalog (and pg_temp, last): every
            # table and function of the application and of the extension is
            # named with its schema, so that nothing can be planted in a
            # schema on the path to be called in its place.
            "search_path": "pg_catalog, pg_temp",
            # Defence in depth: no request holds a transaction open, but if a
            # bug ever did, the server would end it.
            "idle_in_transaction_session_timeout": "30s",
            "statement_timeout": "30s",
        }},
    )
    event.listen(engine.sync_engine, "handle_error", _hide_argument_values)
    return engine


def get_engine(connection: HTTPConnection) -> AsyncEngine:
    """The engine created at startup (app/main.py)."""
    return connection.app.state.engine


def sqlstate(error: DBAPIError) -> Optional[str]:
    """The SQLSTATE of a database error raised through asyncpg, or None for
    an error raised on the client."""
    return getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
