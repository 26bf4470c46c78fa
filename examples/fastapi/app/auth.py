"""Bearer-token authentication: one call to api_token_validate per request.

STATUSES below is the one place where the statuses of api_token_validate
are interpreted, for the API (which HTTP answer) and for secret scanning
(whether a reported token is one of ours).
"""
from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional
from uuid import UUID

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from .db import get_engine

# auto_error=False: a missing header must give 401, not FastAPI's default 403.
bearer = HTTPBearer(auto_error=False)

UUID_TYPE = PG_UUID(as_uuid=True)

# Bound parameters only ($1, $2 on the wire): a token spliced into SQL text
# would end up in the server log and pg_stat_activity.
VALIDATE = text(
    "SELECT status, token_id, user_id, scopes FROM api_token_validate(:token, :scopes)"
).columns(token_id=UUID_TYPE, user_id=UUID_TYPE)


@dataclass(frozen=True)
class StatusRule:
    http_status: int  # the answer to a request that presents such a token
    known: bool  # the token is in api_tokens (secret scanning: true_positive)


STATUSES: Dict[str, StatusRule] = {
    "valid": StatusRule(status.HTTP_200_OK, known=True),
    "insufficient_scope": StatusRule(status.HTTP_403_FORBIDDEN, known=True),
    "inactive": StatusRule(status.HTTP_401_UNAUTHORIZED, known=True),
    "expired": StatusRule(status.HTTP_401_UNAUTHORIZED, known=True),
    "unknown": StatusRule(status.HTTP_401_UNAUTHORIZED, known=False),
    "malformed": StatusRule(status.HTTP_401_UNAUTHORIZED, known=False),
}
# A status this code does not know is refused: closed, not open.  It did
# come from a table lookup, so the token is counted as known.  (Version 1.1
# of the extension adds "rotated", a rotated-out token whose grace period
# has ended: that is exactly its rule, as for "inactive".)
UNRECOGNIZED = StatusRule(status.HTTP_401_UNAUTHORIZED, known=True)


def rule_for(validation_status: str) -> StatusRule:
    return STATUSES.get(validation_status, UNRECOGNIZED)


@dataclass(frozen=True)
class Principal:
    """The caller of an API route: a user, through one of their tokens."""
    user_id: UUID
    token_id: UUID
    scopes: FrozenSet[str]


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
        # With version 1.1, a token rotated out but still in its grace
        # period validates too; this is where it is held to reading
        # (api_token_successor(token_id) IS NOT NULL, in the transaction
        # above, and a 403 for a route that requires a non-read scope).
        return Principal(row.user_id, row.token_id, frozenset(row.scopes or ()))
    if rule.http_status == status.HTTP_403_FORBIDDEN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "token lacks a required scope", headers={
            "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{required.scope_str}"'})
    # malformed, unknown, inactive, expired: the client is not told which.
    raise _unauthorized("invalid_token")
