"""Bearer-token authentication: one call to api_token_validate per request."""
from dataclasses import dataclass
from typing import Optional, Tuple
from uuid import UUID

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Session

from .db import get_session

# auto_error=False: a missing header must give 401, not FastAPI's default 403.
bearer = HTTPBearer(auto_error=False)

UUID_TYPE = PG_UUID(as_uuid=True)

VALIDATE = text(
    "SELECT status, token_id, user_id, scopes FROM api_token_validate(:token, :scopes)"
).columns(token_id=UUID_TYPE, user_id=UUID_TYPE)


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    token_id: UUID
    scopes: Tuple[str, ...]


def _unauthorized(error: Optional[str] = None) -> HTTPException:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or missing token",
                         headers={"WWW-Authenticate": challenge})


def authenticate(
    required: SecurityScopes,
    credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer),
    session: Session = Depends(get_session),
) -> Principal:
    """Use as Security(authenticate, scopes=[...]): the route's scopes are
    checked by the extension in the same call."""
    if credentials is None:
        raise _unauthorized()
    # Bound parameters only: a token spliced into SQL text would end up in
    # pg_stat_statements and, on error, in the server log.
    row = session.execute(VALIDATE, {"token": credentials.credentials,
                                     "scopes": required.scopes or None}).one()
    session.commit()  # keeps the last_used_at the function may have recorded
    if row.status == "valid":
        return Principal(row.user_id, row.token_id, tuple(row.scopes or ()))
    if row.status == "insufficient_scope":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "token lacks a required scope", headers={
            "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{required.scope_str}"'})
    # malformed, unknown, inactive, expired; the client is not told which.
    raise _unauthorized("invalid_token")
