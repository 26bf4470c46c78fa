"""Token management, shared by the JSON API, the pages and secret scanning.

Every function takes an open connection (``async with engine.begin() as
conn``) and leaves committing to its caller.  The rules that keep a caller
from gaining through a new token more than it has are here:

- who asks is an Authority: a user signed in to the pages, who may issue
  any of the application's scopes for up to MAX_LIFETIME_SECONDS; or a
  bearer token, whose tokens may have at most its own scopes and may not
  outlive it;
- a rotation's successor has the scopes and expiry of the rotated token,
  so rotating a token that out-scopes or outlives the caller is refused;
- a token is acted on only by its owner: another user's token and an
  unknown id get the same 404.

Database errors the caller can cause are turned into HTTP answers in one
place, database_errors().
"""
import math
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import AsyncIterator, FrozenSet, List, Optional, Sequence
from uuid import UUID

from fastapi import HTTPException, status
from sqlalchemy import case, func, literal_column, not_, null, select, text
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from .auth import Principal, UUID_TYPE, rule_for
from .db import sqlstate
from .models import ApiToken, User
from .rules import MAX_LIFETIME_SECONDS

NOT_FOUND = "no such token"


@dataclass(frozen=True)
class Authority:
    """Who asks for a token to be issued, rotated or revoked."""
    user_id: UUID
    token_id: Optional[UUID] = None  # None: a user signed in to the pages
    scopes: Optional[FrozenSet[str]] = None  # None: any scope of the application

    @classmethod
    def of_token(cls, principal: Principal) -> "Authority":
        return cls(principal.user_id, principal.token_id, principal.scopes)

    @classmethod
    def of_user(cls, user_id: UUID) -> "Authority":
        return cls(user_id)


@dataclass(frozen=True)
class Issued:
    id: UUID
    token: str  # the plaintext: shown once, stored nowhere
    expires_at: Optional[datetime]


@dataclass(frozen=True)
class Rotated:
    successor: Issued
    old_id: UUID
    old_stops_at: datetime  # now, or the end of the grace period


@dataclass(frozen=True)
class LeakCheck:
    revoked: int  # how many were active until now
    known: List[bool]  # for each token given, whether it is one of ours


# SQLSTATE -> (HTTP status, detail).  These are errors a client can cause,
# by input or by racing another request; anything else is a bug and a 500.
_ANSWERS = {
    "P0002": (status.HTTP_404_NOT_FOUND, NOT_FOUND),  # deleted (pruned) since the ownership check
    "55000": (status.HTTP_409_CONFLICT, "token is not active"),  # revoked or expired
    "40001": (status.HTTP_409_CONFLICT, "token is not active"),  # a concurrent rotation or revocation won
    "54000": (status.HTTP_422_UNPROCESSABLE_ENTITY, "too many scopes"),
    "22001": (status.HTTP_422_UNPROCESSABLE_ENTITY, "name or scope too long"),
    "22023": (status.HTTP_422_UNPROCESSABLE_ENTITY, "invalid name, scope or expiry"),
    "22021": (status.HTTP_422_UNPROCESSABLE_ENTITY, "invalid characters"),  # NUL, bad encoding
    "22P05": (status.HTTP_422_UNPROCESSABLE_ENTITY, "invalid characters"),
    "23503": (status.HTTP_404_NOT_FOUND, "no such user"),  # deleted meanwhile
}


@asynccontextmanager
async def database_errors() -> AsyncIterator[None]:
    """Wrap a transaction: ``async with database_errors(), engine.begin()``.
    The transaction is rolled back before the error is turned into an
    HTTPException (whose message never holds a parameter)."""
    try:
        yield
    except DBAPIError as error:
        answer = _ANSWERS.get(sqlstate(error))
        if answer is None:
            raise
        raise HTTPException(*answer) from None


# ---------------------------------------------------------------- listing

# asyncpg decodes timestamps into Python datetimes, which stop at year 9999;
# PostgreSQL's go to 294276.  A date set by hand past 9999 would make every
# listing fail: show it as 9999-12-31 instead.
_LATEST = literal_column("timestamptz '9999-12-31 00:00:00+00'")
_EARLIEST = literal_column("timestamptz '0001-01-02 00:00:00+00'")


def _shown(column):
    # LEAST and GREATEST ignore NULLs: keep a NULL (never expires, never used).
    return case((column.is_(None), null()), else_=func.greatest(func.least(column, _LATEST), _EARLIEST))


# What a list shows as the token's state, from the database's clock.
STATE = case(
    (not_(ApiToken.is_active), "revoked"),
    (ApiToken.expires_at <= func.now(), "expired"),
    else_="active",
)


def _listing(*extra) -> Select:
    # Named columns: the application role may not read token_hash at all.
    return select(
        ApiToken.id, ApiToken.user_id, ApiToken.name, ApiToken.token_prefix.label("prefix"),
        ApiToken.scopes, _shown(ApiToken.expires_at).label("expires_at"),
        _shown(ApiToken.last_used_at).label("last_used_at"), ApiToken.is_active,
        _shown(ApiToken.created_at).label("created_at"), STATE.label("status"), *extra,
    )


async def list_for_user(conn: AsyncConnection, user_id: UUID) -> List[Row]:
    rows = await conn.execute(
        _listing().where(ApiToken.user_id == user_id).order_by(ApiToken.created_at.desc(), ApiToken.id))
    return list(rows)


def search_query(prefix: Optional[str], email: Optional[str], limit: int = 100) -> Select:
    """All users' tokens for the admin page.  The prefix is matched exactly,
    with the ix_api_tokens_token_prefix index."""
    query = _listing(User.email.label("email")).join(User, User.id == ApiToken.user_id)
    if prefix:
        query = query.where(ApiToken.token_prefix == prefix)
    if email:
        pattern = email.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(User.email.ilike(f"%{pattern}%", escape="\\"))
    return query.order_by(ApiToken.created_at.desc(), ApiToken.id).limit(limit)


async def search(conn: AsyncConnection, prefix: Optional[str], email: Optional[str]) -> List[Row]:
    return list(await conn.execute(search_query(prefix, email)))


# --------------------------------------------------------------- issuing

CREATE = text(
    "SELECT token_id, token, now() + make_interval(secs => :ttl) AS expires_at"
    "  FROM api_token_create(:user_id, :name, CAST(:scopes AS text[]),"
    "                        now() + make_interval(secs => :ttl))"
).columns(token_id=UUID_TYPE)

# Seconds the calling token has left; NULL if it never expires.
REMAINING = text(
    "SELECT extract(epoch FROM expires_at) - extract(epoch FROM now()) AS remaining"
    "  FROM api_tokens WHERE id = :id")


def _forbidden(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail)


async def _lifetime(conn: AsyncConnection, who: Authority, requested: Optional[int]) -> int:
    """The new token's lifetime in seconds: what was requested, or else the
    longest allowed.  Never more than MAX_LIFETIME_SECONDS, and never beyond
    the expiry of the token that asks."""
    if requested is not None and not 1 <= requested <= MAX_LIFETIME_SECONDS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"expiry must be 1 to {MAX_LIFETIME_SECONDS} seconds away")
    allowed = MAX_LIFETIME_SECONDS
    if who.token_id is not None:
        row = (await conn.execute(REMAINING, {"id": who.token_id})).one_or_none()
        if row is None:  # the calling token was deleted since it was validated
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or missing token",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if row.remaining is not None:
            left = math.floor(row.remaining)
            if left < 1:
                raise _forbidden("the calling token is about to expire")
            if requested is not None and requested > left:
                raise _forbidden("a token cannot outlive the token that creates it")
            allowed = min(allowed, left)
    return allowed if requested is None else requested


async def create(conn: AsyncConnection, who: Authority, name: str, scopes: Sequence[str],
                 expires_in_seconds: Optional[int]) -> Issued:
    """name and scopes must have passed app/rules.py already."""
    if who.scopes is not None and not set(scopes) <= who.scopes:
        raise _forbidden("a token cannot grant scopes its creator lacks")
    ttl = await _lifetime(conn, who, expires_in_seconds)
    row = (await conn.execute(CREATE, {"user_id": who.user_id, "name": name,
                                       "scopes": list(scopes), "ttl": ttl})).one()
    return Issued(row.token_id, row.token, row.expires_at)


# -------------------------------------------------------------- rotation

# Owner, and whether the token to rotate stays within the caller's scopes
# and lifetime (its successor gets its scopes and expiry).
ROTATION_CHECK = text(
    "SELECT t.user_id,"
    "       coalesce(CAST(t.scopes AS text[]), '{}') <@ CAST(:caller_scopes AS text[]) AS within_scopes,"
    "       c.id IS NOT NULL AS caller_found,"
    "       (c.expires_at IS NULL OR (t.expires_at IS NOT NULL AND t.expires_at <= c.expires_at))"
    "           AS within_lifetime"
    "  FROM api_tokens t LEFT JOIN api_tokens c ON c.id = :caller_token_id"
    " WHERE t.id = :token_id"
).columns(user_id=UUID_TYPE)

# The one call of api_token_rotate.  Version 1.1 of the extension adds a
# third argument, the successor's expires_at: pass it here, and check it in
# rotate() as create() checks its lifetime.
ROTATE = text(
    "SELECT token_id, token FROM api_token_rotate(:token_id, make_interval(secs => :grace))"
).columns(token_id=UUID_TYPE)

# For the page that shows the successor: its expiry, and when the old token
# stops (now, or at the end of the grace period, never after its expiry).
AFTER_ROTATION = text(
    "SELECT CASE WHEN t.expires_at IS NOT NULL"
    "            THEN least(t.expires_at, timestamptz '9999-12-31 00:00:00+00') END AS expires_at,"
    "       CASE WHEN o.is_active THEN least(o.expires_at, timestamptz '9999-12-31 00:00:00+00')"
    "            ELSE now() END AS old_stops_at"
    "  FROM api_tokens t, api_tokens o WHERE t.id = :new_id AND o.id = :old_id")


async def rotate(conn: AsyncConnection, who: Authority, token_id: UUID, grace_seconds: int) -> Rotated:
    check = (await conn.execute(ROTATION_CHECK, {
        "token_id": token_id, "caller_token_id": who.token_id,
        "caller_scopes": sorted(who.scopes) if who.scopes is not None else None,
    })).one_or_none()
    if check is None or check.user_id != who.user_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    if who.token_id is not None:
        if not check.caller_found:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or missing token",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if not check.within_scopes:
            raise _forbidden("cannot rotate a token that has scopes the calling token lacks")
        if not check.within_lifetime:
            raise _forbidden("cannot rotate a token that outlives the calling token")
    row = (await conn.execute(ROTATE, {"token_id": token_id, "grace": grace_seconds})).one()
    after = (await conn.execute(AFTER_ROTATION, {"new_id": row.token_id, "old_id": token_id})).one()
    return Rotated(Issued(row.token_id, row.token, after.expires_at), token_id, after.old_stops_at)


# ------------------------------------------------------------ revocation

OWNER = text("SELECT user_id FROM api_tokens WHERE id = :id").columns(user_id=UUID_TYPE)
REVOKE = text("SELECT api_token_revoke(:token_id)")
REVOKE_USER = text("SELECT api_token_revoke_user(:user_id)")
REVOKE_LEAKED = text("SELECT api_token_revoke_leaked(CAST(:tokens AS text[]))")
# After api_token_revoke_leaked in the same transaction, every known token
# is inactive, so validating it records no use.
LEAKED_STATUSES = text(
    "SELECT v.status FROM unnest(CAST(:tokens AS text[])) WITH ORDINALITY AS u(token, n)"
    " CROSS JOIN LATERAL api_token_validate(u.token) AS v ORDER BY u.n")


async def revoke_own(conn: AsyncConnection, user_id: UUID, token_id: UUID) -> bool:
    """404 unless the token belongs to user_id: api_token_revoke acts on any
    token id it is given.  A token never changes owner, so checking first
    and acting next is safe.  True if the token was active."""
    owner = (await conn.execute(OWNER, {"id": token_id})).scalar_one_or_none()
    if owner != user_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return (await conn.execute(REVOKE, {"token_id": token_id})).scalar_one()


async def revoke_any(conn: AsyncConnection, token_id: UUID) -> bool:
    """For administrators."""
    return (await conn.execute(REVOKE, {"token_id": token_id})).scalar_one()


async def revoke_user(conn: AsyncConnection, user_id: UUID) -> int:
    """For administrators: every active token of the user."""
    return (await conn.execute(REVOKE_USER, {"user_id": user_id})).scalar_one()


async def revoke_leaked(conn: AsyncConnection, tokens: Sequence[str]) -> LeakCheck:
    """Revokes the tokens (given in plaintext) that are ours, and says which
    were: found by their hash, whatever their state."""
    if not tokens:
        return LeakCheck(0, [])
    revoked = (await conn.execute(REVOKE_LEAKED, {"tokens": list(tokens)})).scalar_one()
    statuses = (await conn.execute(LEAKED_STATUSES, {"tokens": list(tokens)})).scalars().all()
    return LeakCheck(revoked, [rule_for(s).known for s in statuses])
