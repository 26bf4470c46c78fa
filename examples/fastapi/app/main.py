"""Personal access tokens for the caller: create, list, revoke, rotate."""
from datetime import datetime
from typing import List, Optional
from uuid import UUID

from fastapi import Depends, FastAPI, HTTPException, Query, Response, Security, status
from pydantic import BaseModel, conint, constr
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from .auth import Principal, authenticate
from .db import get_session
from .models import ApiToken

app = FastAPI(title="api_tokens example")

UUID_TYPE = PG_UUID(as_uuid=True)
CREATE = text(
    "SELECT token_id, token FROM api_token_create("
    ":user_id, :name, CAST(:scopes AS text[]), now() + make_interval(secs => :ttl))"
).columns(token_id=UUID_TYPE)
REVOKE = text("SELECT api_token_revoke(:token_id)")
ROTATE = text(
    "SELECT token_id, token FROM api_token_rotate(:token_id, make_interval(secs => :grace))"
).columns(token_id=UUID_TYPE)


class TokenCreate(BaseModel):
    name: constr(min_length=1, max_length=100)
    scopes: List[constr(min_length=1, max_length=50)] = []
    expires_in_seconds: Optional[conint(gt=0)] = None  # never expires if omitted


class TokenCreated(BaseModel):
    id: UUID
    token: str  # the plaintext, shown this once and stored nowhere


class TokenOut(BaseModel):
    id: UUID
    name: str
    prefix: str
    scopes: List[str]
    expires_at: Optional[datetime]
    last_used_at: Optional[datetime]
    is_active: bool
    created_at: datetime


def _owned_token(session: Session, token_id: UUID, caller: Principal) -> None:
    """404 unless the token belongs to the caller: the extension's functions
    act on any token id they are given.  A token never changes owner, so
    checking first and acting next is safe."""
    owner = session.scalar(select(ApiToken.user_id).where(ApiToken.id == token_id))
    if owner != caller.user_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such token")


@app.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def create_token(
    body: TokenCreate,
    caller: Principal = Security(authenticate, scopes=["tokens:write"]),
    session: Session = Depends(get_session),
):
    if not set(body.scopes) <= set(caller.scopes):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a token cannot grant scopes its creator lacks")
    row = session.execute(CREATE, {"user_id": caller.user_id, "name": body.name,
                                   "scopes": body.scopes, "ttl": body.expires_in_seconds}).one()
    session.commit()
    return TokenCreated(id=row.token_id, token=row.token)


@app.get("/tokens", response_model=List[TokenOut])
def list_tokens(
    caller: Principal = Security(authenticate, scopes=["tokens:read"]),
    session: Session = Depends(get_session),
):
    # Named columns: the application role may not read token_hash at all.
    rows = session.execute(
        select(ApiToken.id, ApiToken.name, ApiToken.token_prefix, ApiToken.scopes,
               ApiToken.expires_at, ApiToken.last_used_at, ApiToken.is_active, ApiToken.created_at)
        .where(ApiToken.user_id == caller.user_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id)
    )
    return [TokenOut(id=r.id, name=r.name, prefix=r.token_prefix, scopes=r.scopes or [],
                     expires_at=r.expires_at, last_used_at=r.last_used_at,
                     is_active=r.is_active, created_at=r.created_at)
            for r in rows]


@app.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(
    token_id: UUID,
    caller: Principal = Security(authenticate, scopes=["tokens:write"]),
    session: Session = Depends(get_session),
):
    _owned_token(session, token_id, caller)
    session.execute(REVOKE, {"token_id": token_id})  # false if already revoked: still 204
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@app.post("/tokens/{token_id}/rotate", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def rotate_token(
    token_id: UUID,
    grace_seconds: int = Query(0, ge=0, le=30 * 24 * 3600,
                               description="how long the old token keeps working"),
    caller: Principal = Security(authenticate, scopes=["tokens:write"]),
    session: Session = Depends(get_session),
):
    _owned_token(session, token_id, caller)
    try:
        row = session.execute(ROTATE, {"token_id": token_id, "grace": grace_seconds}).one()
    except DBAPIError as e:
        # 55000: revoked or expired; 40001: a concurrent rotation or revocation won.
        if getattr(e.orig, "pgcode", None) in ("55000", "40001"):
            raise HTTPException(status.HTTP_409_CONFLICT, "token is not active") from None
        raise
    session.commit()
    return TokenCreated(id=row.token_id, token=row.token)
