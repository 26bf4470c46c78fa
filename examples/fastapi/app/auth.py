"""Bearer-token authentication: one statement per request, which validates
the token and, for a valid one, looks up its successor.

STATUSES below is the one place where the statuses of api_token_validate
are interpreted, for the API (which HTTP answer) and for secret scanning
(whether a reported token is one of ours).

A token that was rotated out stays valid during its grace period, so that
the programs using it can move to the successor.  For that time it may
only read: a route that requires any scope outside READ_ONLY_SCOPES
(app/rules.py) answers 403.  Otherwise whoever holds the old token (a copy
left on an old machine, in a log, with an attacker) could rotate the
successor away from its legitimate holder, revoke it, or mint new tokens.
"""
from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional
from uuid import UUID

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from .db import get_engine
from .rules import READ_ONLY_SCOPES

# auto_error=False: a missing header must give 401, not FastAPI's default 403.
bearer = HTTPBearer(auto_error=False)

UUID_TYPE = PG_UUID(as_uuid=True)

# Bound parameters only ($1, $2 on the wire): a token spliced into SQL text
# would end up in the server log and pg_stat_activity.  Every function is
# called by its schema and with its argument types spelled out, so that no
# other function can be chosen in its place (a database owner could create
# public.api_token_validate(varchar, text[]) and receive the tokens of a
# driver that sends varchar); the columns of the result are named, never the
# composite type api_token_validation, whose OID changes when the extension
# is dropped and created again (prepared statements would fail).  One
# statement, one round trip: the successor is looked up only for a valid
# token, and is not NULL for a token rotated out and still in its grace
# period.
VALIDATE = text(
    "SELECT v.status, v.token_id, v.user_id, v.scopes,"
    "       CASE WHEN v.status = 'valid' THEN api_tokens.api_token_successor(v.token_id) END AS successor_id"
    "  FROM api_tokens.api_token_validate(CAST(:token AS text), CAST(:scopes AS text[])) AS v"
).columns(token_id=UUID_TYPE, user_id=UUID_TYPE, successor_id=UUID_TYPE)


@dataclass(frozen=True)
class StatusRule:
    http_status: int  # the answer to a request that presents such a token
    known: bool  # the token is in api_tokens (secret scanning: true_positive)


STATUSES: Dict[str, StatusRule] = {
    "valid": StatusRule(status.HTTP_200_OK, known=True),
    "insufficient_scope": StatusRule(status.HTTP_403_FORBIDDEN, known=True),
    "inactive": StatusRule(status.HTTP_401_UNAUTHORIZED, known=True),
    "expired": StatusRule(status.HTTP_401_UNAUTHORIZED, known=True),
    # Rotated out, and its grace period (if any) is over: as inactive.
    "rotated": StatusRule(status.HTTP_401_UNAUTHORIZED, known=True),
    "unknown": StatusRule(status.HTTP_401_UNAUTHORIZED, known=False),
    "malformed": StatusRule(status.HTTP_401_UNAUTHORIZED, known=False),
}
# A status this code does not know (a later version of the extension may
# add some) is refused: closed, not open.  It did come from a table lookup,
# so the token is counted as known.
UNRECOGNIZED = StatusRule(status.HTTP_401_UNAUTHORIZED, known=True)


def rule_for(validation_status: str) -> StatusRule:
    return STATUSES.get(validation_status, UNRECOGNIZED)


@dataclass(frozen=True)
class Principal:
    """The caller of an API route: a user, through one of their tokens."""
    user_id: UUID
    token_id: UUID
    scopes: FrozenSet[str]
    # Rotated out, in its grace period: it may only read (see above).
    rotated_out: bool = False


ROTATED_OUT_DETAIL = "this token was rotated out: until its grace period ends it may only read; use its successor"


def rotated_out_forbidden(required_scopes: str) -> HTTPException:
    """The answer to a rotated-out token on a route that does more than read."""
    return HTTPException(status.HTTP_403_FORBIDDEN, ROTATED_OUT_DETAIL, headers={
        "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{required_scopes}", '
                            'error_description="token rotated out, read-only until its grace period ends"'})


def _unauthorized(error: Optional[str] = None) -> HTTPException:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or missing token",
                         headers={"WWW-Authenticate": challenge})


async def authenticate(
    required: SecurityScopes,
    request: Request,
    credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer),
) -> Principal:
    """Use as Security(authenticate, scopes=[...]): the route's scopes are
    checked by the extension in the same call.  Routes declare no body
    parameter, so this runs before the body is read (app/api.py)."""
    if credentials is None:
        raise _unauthorized()
    # Its own transaction, committed at once: it keeps the last_used_at that
    # api_token_validate records.
    async with get_engine(request).begin() as conn:
        row = (await conn.execute(VALIDATE, {"token": credentials.credentials,
                                             "scopes": required.scopes or None})).one()
    rule = rule_for(row.status)
    if rule.http_status == status.HTTP_200_OK:
        rotated_out = row.successor_id is not None
        if rotated_out and not set(required.scopes) <= READ_ONLY_SCOPES:
            raise rotated_out_forbidden(required.scope_str)
        return Principal(row.user_id, row.token_id, frozenset(row.scopes or ()), rotated_out)
    if rule.http_status == status.HTTP_403_FORBIDDEN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "token lacks a required scope", headers={
            "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{required.scope_str}"'})
    # malformed, unknown, inactive, expired, rotated: the client is not told which.
    raise _unauthorized("invalid_token")
