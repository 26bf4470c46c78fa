"""Token management, shared by the JSON API, the pages and secret scanning.

Every function takes an open connection (``async with engine.begin() as
conn``) and leaves committing to its caller.  The rules that keep a caller
from gaining through a new token more than it has are here:

- who asks is an Authority: a user signed in to the pages, who may issue
  any of the application's scopes for up to MAX_LIFETIME_SECONDS; or a
  bearer token, whose tokens may have at most its own scopes and may not
  outlive it;
- a rotation's successor has the scopes of the rotated token, and its
  expiry unless given a new one: rotating a token that out-scopes the
  caller is refused, and so is keeping the expiry of one that outlives it
  (a new expiry is checked as a new token's lifetime is); a kept expiry is
  at most the longest a new token may live, so every successor expires;
- revoking follows the same rule: a token may revoke only tokens within
  its scopes and lifetime;
- a token that has limits (rate, credits, allowlist) may not create
  tokens, which would have none;
- a token is acted on only by its owner: another user's token and an
  unknown id get the same 404;
- every transaction that creates, rotates or revokes says who acts
  (api_tokens.actor, recorded by the extension in api_token_events).

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
from sqlalchemy import Text, and_, case, cast, extract, func, literal_column, not_, null, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Row
from sqlalchemy.orm import aliased
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from .auth import ROTATED_OUT_DETAIL, Principal, UUID_TYPE, rule_for
from .db import sqlstate
from .models import ApiToken, User, api_token_limits, api_token_rotations
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
        # authenticate() refuses a rotated-out token any route that does
        # more than read; this is the backstop, where tokens are acted on.
        if principal.rotated_out:
            raise HTTPException(status.HTTP_403_FORBIDDEN, ROTATED_OUT_DETAIL)
        return cls(principal.user_id, principal.token_id, principal.scopes)

    @classmethod
    def of_user(cls, user_id: UUID) -> "Authority":
        return cls(user_id)

    @property
    def actor(self) -> str:
        """What api_token_events records as the actor."""
        if self.token_id is None:
            return f"user:{self.user_id}"
        return f"user:{self.user_id} token:{self.token_id}"


def admin_actor(admin_id: UUID) -> str:
    return f"admin:{admin_id}"


SECRET_SCANNING_ACTOR = "secret-scanning"

# SET LOCAL api_tokens.actor, with the value bound as a parameter (SET
# takes none): until the end of the transaction, every event the extension
# records names the actor, beside the database role (db_user).
SET_ACTOR = text("SELECT set_config('api_tokens.actor', CAST(:actor AS text), true)")


async def act_as(conn: AsyncConnection, actor: str) -> None:
    await conn.execute(SET_ACTOR, {"actor": actor})


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


class AlreadyRotated(HTTPException):
    """409: the token already has a successor; a token is rotated once.
    Raised only after the ownership check, so successor_id (a token of the
    same user) is the caller's to know."""

    def __init__(self, successor_id: UUID) -> None:
        super().__init__(status.HTTP_409_CONFLICT, "token was already rotated; rotate its successor instead")
        self.successor_id = successor_id


@dataclass(frozen=True)
class LeakCheck:
    revoked: int  # how many were active until now
    known: List[bool]  # for each token given, whether it is one of ours


# SQLSTATE -> (HTTP status, detail).  These are errors a client can cause,
# by input or by racing another request; anything else is a bug and a 500.
_ANSWERS = {
    "P0002": (status.HTTP_404_NOT_FOUND, NOT_FOUND),  # deleted (pruned) since the ownership check
    "55000": (status.HTTP_409_CONFLICT, "token is not active"),  # revoked or expired (rotate() tells "already rotated")
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


# The rotation that replaced a token (if it was rotated out), and the one
# that made it (if it is a successor).
_OUT = api_token_rotations.alias("rotated_out")
_IN = api_token_rotations.alias("rotated_in")
_ROTATED_OUT = _OUT.c.predecessor_id.is_not(None)

# What a list shows as the token's state, from the database's clock.  A
# rotated-out token is "rotated", whether still in its grace period (the
# extension keeps it active until then, with expires_at set to the end of
# the grace period) or not; one revoked during its grace period is
# "revoked" (is_active is false only after a rotation without grace, or a
# revocation).
STATE = case(
    (and_(_ROTATED_OUT, ApiToken.is_active), "rotated"),
    (and_(_ROTATED_OUT, _OUT.c.grace_ends_at <= _OUT.c.rotated_at), "rotated"),
    (not_(ApiToken.is_active), "revoked"),
    (ApiToken.expires_at <= func.now(), "expired"),
    else_="active",
)
# Rotated out and still working: "rotated (grace until ...)".
IN_GRACE = and_(_ROTATED_OUT, ApiToken.is_active, ApiToken.expires_at > func.now())


# A token's limits (version 1.2), if it has any.  Intervals are read as
# seconds (extract gives a number whatever the interval holds), addresses
# as text, and at most ADDRESSES_LISTED of them: an allowlist may hold a
# thousand.  The credits are those last written (with the library
# preloaded, the extension's background worker writes what was spent every
# api_tokens.flush_interval), or, when a refill is due, what it refills to.
_LIMITS = api_token_limits.alias("limits")
ADDRESSES_LISTED = 3
_REFILL_DUE = and_(
    _LIMITS.c.credits_refill_every.is_not(None), _LIMITS.c.credits_refilled_at.is_not(None),
    extract("epoch", func.now() - _LIMITS.c.credits_refilled_at) >= extract("epoch", _LIMITS.c.credits_refill_every))
LIMIT_COLUMNS = (
    _LIMITS.c.rate_limit,
    extract("epoch", _LIMITS.c.rate_window).label("rate_window_seconds"),
    case((_REFILL_DUE, _LIMITS.c.credits_refill), else_=_LIMITS.c.credits).label("credits"),
    _LIMITS.c.credits_refill,
    extract("epoch", _LIMITS.c.credits_refill_every).label("refill_every_seconds"),
    func.cardinality(_LIMITS.c.allowed_addresses).label("address_count"),
    cast(_LIMITS.c.allowed_addresses[1:ADDRESSES_LISTED], ARRAY(Text)).label("addresses_listed"),
)

# The tokens a token replaced and was replaced by, for their prefixes: after
# a rotation both have the same name.
_PREDECESSOR = aliased(ApiToken, name="predecessor")
_SUCCESSOR = aliased(ApiToken, name="successor")


def _listing(*extra) -> Select:
    # Named columns: the application role may not read token_hash at all.
    return select(
        ApiToken.id, ApiToken.user_id, ApiToken.name, ApiToken.token_prefix.label("prefix"),
        ApiToken.scopes, _shown(ApiToken.expires_at).label("expires_at"),
        _shown(ApiToken.last_used_at).label("last_used_at"), ApiToken.is_active,
        _shown(ApiToken.created_at).label("created_at"), STATE.label("status"),
        _OUT.c.successor_id, _shown(_OUT.c.grace_ends_at).label("grace_ends_at"),
        func.coalesce(IN_GRACE, False).label("in_grace"),
        or_(_ROTATED_OUT, _IN.c.predecessor_id.is_not(None)).label("in_lineage"),
        _PREDECESSOR.token_prefix.label("predecessor_prefix"), _SUCCESSOR.token_prefix.label("successor_prefix"),
        *LIMIT_COLUMNS, *extra,
    ).select_from(ApiToken).outerjoin(_OUT, _OUT.c.predecessor_id == ApiToken.id) \
        .outerjoin(_IN, _IN.c.successor_id == ApiToken.id) \
        .outerjoin(_PREDECESSOR, _PREDECESSOR.id == _IN.c.predecessor_id) \
        .outerjoin(_SUCCESSOR, _SUCCESSOR.id == _OUT.c.successor_id) \
        .outerjoin(_LIMITS, _LIMITS.c.token_id == ApiToken.id)


async def list_for_user(conn: AsyncConnection, user_id: UUID) -> List[Row]:
    rows = await conn.execute(
        _listing().where(ApiToken.user_id == user_id).order_by(ApiToken.created_at.desc(), ApiToken.id))
    return list(rows)


def search_query(prefix: Optional[str], email: Optional[str], limit: int = 50, offset: int = 0) -> Select:
    """All users' tokens for the admin page, a page at a time.  The prefix
    is matched exactly, with the ix_api_tokens_token_prefix index."""
    query = _listing(User.email.label("email")).join(User, User.id == ApiToken.user_id)
    if prefix:
        query = query.where(ApiToken.token_prefix == prefix)
    if email:
        pattern = email.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(User.email.ilike(f"%{pattern}%", escape="\\"))
    return query.order_by(ApiToken.created_at.desc(), ApiToken.id).limit(limit).offset(offset)


async def search(conn: AsyncConnection, prefix: Optional[str], email: Optional[str], limit: int,
                 offset: int) -> List[Row]:
    return list(await conn.execute(search_query(prefix, email, limit, offset)))


async def find_any(conn: AsyncConnection, token_id: UUID) -> Optional[Row]:
    """For administrators: one token as the admin list shows it, with its
    whole allowlist (addresses) for the limits form; None if there is none."""
    query = _listing(User.email.label("email"), cast(_LIMITS.c.allowed_addresses, ARRAY(Text)).label("addresses")) \
        .join(User, User.id == ApiToken.user_id).where(ApiToken.id == token_id)
    return (await conn.execute(query)).one_or_none()


# --------------------------------------------------------------- issuing

CREATE = text(
    "SELECT token_id, token, now() + make_interval(secs => CAST(:ttl AS double precision)) AS expires_at"
    "  FROM api_tokens.api_token_create(CAST(:user_id AS uuid), CAST(:name AS text), CAST(:scopes AS text[]),"
    "                                   now() + make_interval(secs => CAST(:ttl AS double precision)))"
).columns(token_id=UUID_TYPE)

# Seconds the calling token has left; NULL if it never expires.
REMAINING = text(
    "SELECT extract(epoch FROM expires_at) - extract(epoch FROM now()) AS remaining"
    "  FROM api_tokens.api_tokens WHERE id = CAST(:id AS uuid)")


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


# Whether a token has limits (version 1.2: a rate limit, credits or an
# address allowlist, set by an administrator).
HAS_LIMITS = text(
    "SELECT EXISTS (SELECT FROM api_tokens.api_token_limits WHERE token_id = CAST(:id AS uuid)) AS limited")


async def create(conn: AsyncConnection, who: Authority, name: str, scopes: Sequence[str],
                 expires_in_seconds: Optional[int]) -> Issued:
    """name and scopes must have passed app/rules.py already."""
    if who.scopes is not None and not set(scopes) <= who.scopes:
        raise _forbidden("a token cannot grant scopes its creator lacks")
    # A new token has no limits: one made by a token that has some would
    # escape them (its credits, its rate, its allowlist).  Rotation keeps
    # them (the extension gives the successor the old token's limits).
    if who.token_id is not None and (await conn.execute(HAS_LIMITS, {"id": who.token_id})).scalar_one():
        raise _forbidden("a token with limits cannot create tokens: they would not have its limits")
    ttl = await _lifetime(conn, who, expires_in_seconds)
    await act_as(conn, who.actor)
    row = (await conn.execute(CREATE, {"user_id": who.user_id, "name": name,
                                       "scopes": list(scopes), "ttl": ttl})).one()
    return Issued(row.token_id, row.token, row.expires_at)


# -------------------------------------------------------------- rotation

# Owner, whether the token to rotate or revoke stays within the caller's
# scopes and lifetime (a successor gets its scopes, and its expiry unless
# given one), and its successor if it was already rotated.
ROTATION_CHECK = text(
    "SELECT t.user_id,"
    "       coalesce(CAST(t.scopes AS text[]), '{}') <@ CAST(:caller_scopes AS text[]) AS within_scopes,"
    "       c.id IS NOT NULL AS caller_found,"
    "       (c.expires_at IS NULL OR (t.expires_at IS NOT NULL AND t.expires_at <= c.expires_at))"
    "           AS within_lifetime,"
    "       extract(epoch FROM t.expires_at) - extract(epoch FROM now()) AS remaining,"
    "       api_tokens.api_token_successor(t.id) AS successor_id"
    "  FROM api_tokens.api_tokens t LEFT JOIN api_tokens.api_tokens c ON c.id = CAST(:caller_token_id AS uuid)"
    " WHERE t.id = CAST(:token_id AS uuid)"
).columns(user_id=UUID_TYPE, successor_id=UUID_TYPE)

# The one call of api_token_rotate.  A NULL ttl makes a NULL expires_at:
# the successor keeps the old token's expiry.
ROTATE = text(
    "SELECT token_id, token"
    "  FROM api_tokens.api_token_rotate(CAST(:token_id AS uuid),"
    "                                   make_interval(secs => CAST(:grace AS double precision)),"
    "                                   now() + make_interval(secs => CAST(:ttl AS double precision)))"
).columns(token_id=UUID_TYPE)

SUCCESSOR = text("SELECT api_tokens.api_token_successor(CAST(:id AS uuid)) AS successor_id") \
    .columns(successor_id=UUID_TYPE)

# For the page that shows the successor: its expiry, and when the old token
# stops (now, or at the end of the grace period, never after its expiry).
AFTER_ROTATION = text(
    "SELECT CASE WHEN t.expires_at IS NOT NULL"
    "            THEN least(t.expires_at, timestamptz '9999-12-31 00:00:00+00') END AS expires_at,"
    "       CASE WHEN o.is_active THEN least(o.expires_at, timestamptz '9999-12-31 00:00:00+00')"
    "            ELSE now() END AS old_stops_at"
    "  FROM api_tokens.api_tokens t, api_tokens.api_tokens o"
    " WHERE t.id = CAST(:new_id AS uuid) AND o.id = CAST(:old_id AS uuid)")


async def _target(conn: AsyncConnection, who: Authority, token_id: UUID, verb: str, check_lifetime: bool) -> Row:
    """The token a caller means to rotate or revoke, if the caller may:
    404 if it is not the caller's; for a bearer token, 401 if that token is
    gone, and 403 if the target has a scope the calling token lacks or, with
    check_lifetime, outlives it.  Rotation and revocation follow the same
    rule: a narrow or short-lived token may act on no broader token."""
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
            raise _forbidden(f"cannot {verb} a token that has scopes the calling token lacks")
        if check_lifetime and not check.within_lifetime:
            raise _forbidden(f"cannot {verb} a token that outlives the calling token")
    return check


async def rotate(conn: AsyncConnection, who: Authority, token_id: UUID, grace_seconds: int,
                 expires_in_seconds: Optional[int] = None) -> Rotated:
    """expires_in_seconds: the successor's lifetime, checked as create()
    checks a new token's; None keeps the old token's expiry (at most the
    longest lifetime a new token may have).  Answers, in
    this order: 404 (not the caller's), 401, 403 (scopes, lifetime), 422
    (a new token expiring before the old one stops), and 409
    AlreadyRotated, which names the successor: the caller owns it."""
    check = await _target(conn, who, token_id, "rotate", check_lifetime=expires_in_seconds is None)
    if expires_in_seconds is not None:
        ttl: Optional[int] = await _lifetime(conn, who, expires_in_seconds)
    else:
        # The old token's expiry, unless it never expires or is further away
        # than a new token may live: then the longest a new token may live.
        # Every token made through the API or the pages expires, successors
        # of bootstrap tokens included.
        allowed = await _lifetime(conn, who, None)
        ttl = None if check.remaining is not None and check.remaining <= allowed else allowed
    # The extension would let the new token expire before the old one stops
    # (at the end of the grace period, or at its own expiry if sooner).
    old_stops_in = grace_seconds if check.remaining is None else min(grace_seconds, check.remaining)
    if ttl is not None and ttl < old_stops_in:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            "the new token would expire before the old one stops working")
    if check.successor_id is not None:
        raise AlreadyRotated(check.successor_id)
    await act_as(conn, who.actor)
    try:
        # In a savepoint: if a concurrent rotation won since the check, the
        # extension refuses this one (55000, or 40001), and the transaction
        # can still tell which by looking up the successor.
        async with conn.begin_nested():
            row = (await conn.execute(ROTATE, {"token_id": token_id, "grace": grace_seconds,
                                               "ttl": ttl})).one()
    except DBAPIError as error:
        if sqlstate(error) in ("55000", "40001"):
            successor = (await conn.execute(SUCCESSOR, {"id": token_id})).scalar_one()
            if successor is not None:
                raise AlreadyRotated(successor) from None
        raise
    after = (await conn.execute(AFTER_ROTATION, {"new_id": row.token_id, "old_id": token_id})).one()
    return Rotated(Issued(row.token_id, row.token, after.expires_at), token_id, after.old_stops_at)


# ------------------------------------------------------------ revocation

REVOKE = text("SELECT api_tokens.api_token_revoke(CAST(:token_id AS uuid))")
REVOKE_USER = text("SELECT api_tokens.api_token_revoke_user(CAST(:user_id AS uuid))")
REVOKE_LEAKED = text("SELECT api_tokens.api_token_revoke_leaked(CAST(:tokens AS text[]))")
REVOKE_FAMILY = text("SELECT api_tokens.api_token_revoke_family(CAST(:token_id AS uuid))")
# After api_token_revoke_leaked in the same transaction, every known token
# is inactive; and the transaction is made read-only first (READ_ONLY), so
# that validating them is a lookup, not a use: api_token_validate records
# nothing at the commit of a read-only transaction, neither a use nor (since
# 1.1) the reuse of a rotated-out token, which the extension would log as
# an attack and, with api_tokens.rotated_reuse = revoke_family, answer by
# revoking the token's successors.
READ_ONLY = text("SET TRANSACTION READ ONLY")
LEAKED_STATUSES = text(
    "SELECT v.status FROM unnest(CAST(:tokens AS text[])) WITH ORDINALITY AS u(token, n)"
    " CROSS JOIN LATERAL api_tokens.api_token_validate(u.token, CAST(NULL AS text[])) AS v ORDER BY u.n")


async def revoke_own(conn: AsyncConnection, who: Authority, token_id: UUID) -> bool:
    """404 unless the token belongs to the caller: api_token_revoke acts on
    any token id it is given.  A bearer token may revoke only tokens within
    its scopes and lifetime (itself included), as for rotation (_target).
    A token never changes owner, so checking first and acting next is safe.
    True if the token was active."""
    await _target(conn, who, token_id, "revoke", check_lifetime=True)
    await act_as(conn, who.actor)
    return (await conn.execute(REVOKE, {"token_id": token_id})).scalar_one()


async def revoke_any(conn: AsyncConnection, actor: str, token_id: UUID) -> bool:
    """For administrators."""
    await act_as(conn, actor)
    return (await conn.execute(REVOKE, {"token_id": token_id})).scalar_one()


async def revoke_family(conn: AsyncConnection, actor: str, token_id: UUID) -> int:
    """For administrators: every active token of the token's lineage, its
    predecessors and successors (a leaked token, rotated or not, and
    whatever replaced it).  Returns how many."""
    await act_as(conn, actor)
    return (await conn.execute(REVOKE_FAMILY, {"token_id": token_id})).scalar_one()


async def revoke_user(conn: AsyncConnection, actor: str, user_id: UUID) -> int:
    """For administrators: every active token of the user."""
    await act_as(conn, actor)
    return (await conn.execute(REVOKE_USER, {"user_id": user_id})).scalar_one()


async def revoke_leaked(conn: AsyncConnection, actor: str, tokens: Sequence[str], batch: int = 1000) -> LeakCheck:
    """Revokes the tokens (given in plaintext) that are ours, and says which
    were: found by their hash, whatever their state.  They are sent `batch`
    at a time: all revoked first, then all looked up."""
    if not tokens:
        return LeakCheck(0, [])
    await act_as(conn, actor)
    batches = [list(tokens[i:i + batch]) for i in range(0, len(tokens), batch)]
    revoked = 0
    for part in batches:
        revoked += (await conn.execute(REVOKE_LEAKED, {"tokens": part})).scalar_one()
    await conn.execute(READ_ONLY)  # possible after writes; they still commit
    known: List[bool] = []
    for part in batches:
        statuses = (await conn.execute(LEAKED_STATUSES, {"tokens": part})).scalars().all()
        known.extend(rule_for(s).known for s in statuses)
    return LeakCheck(revoked, known)


# ---------------------------------------------------------------- limits

# Version 1.2: the setters are SECURITY DEFINER, granted to the application
# role for the admin page only.  NULL removes a limit.  Intervals are given
# in seconds (make_interval gives NULL for NULL).  Addresses are sent as
# text and cast to cidr on the server, which checks them again.
SET_RATE_LIMIT = text(
    "SELECT api_tokens.api_token_set_rate_limit(CAST(:token_id AS uuid), CAST(:max_requests AS integer),"
    " make_interval(secs => CAST(:per AS double precision)))")
SET_CREDITS = text(
    "SELECT api_tokens.api_token_set_credits(CAST(:token_id AS uuid), CAST(:remaining AS bigint),"
    " CAST(:refill AS bigint), make_interval(secs => CAST(:refill_every AS double precision)))")
SET_ALLOWED_ADDRESSES = text(
    "SELECT api_tokens.api_token_set_allowed_addresses(CAST(:token_id AS uuid),"
    " CAST(CAST(:addresses AS text[]) AS cidr[]))")


@dataclass(frozen=True)
class RateLimit:
    max_requests: int
    per_seconds: int


@dataclass(frozen=True)
class Credits:
    remaining: int
    refill: Optional[int] = None  # both or neither
    refill_every_seconds: Optional[int] = None


async def set_rate_limit(conn: AsyncConnection, actor: str, token_id: UUID, limit: Optional[RateLimit]) -> None:
    """None removes it.  Fails with 55000 on a server that does not preload
    the library (which alone can count rates), and P0002 for a token that
    does not exist."""
    await act_as(conn, actor)
    await conn.execute(SET_RATE_LIMIT, {"token_id": token_id,
                                        "max_requests": limit.max_requests if limit else None,
                                        "per": limit.per_seconds if limit else None})


async def set_credits(conn: AsyncConnection, actor: str, token_id: UUID, credits: Optional[Credits]) -> None:
    """None removes them."""
    await act_as(conn, actor)
    await conn.execute(SET_CREDITS, {"token_id": token_id,
                                     "remaining": credits.remaining if credits else None,
                                     "refill": credits.refill if credits else None,
                                     "refill_every": credits.refill_every_seconds if credits else None})


async def set_allowed_addresses(conn: AsyncConnection, actor: str, token_id: UUID,
                                addresses: Optional[Sequence[str]]) -> None:
    """Networks in CIDR notation; None removes the allowlist."""
    await act_as(conn, actor)
    await conn.execute(SET_ALLOWED_ADDRESSES, {"token_id": token_id,
                                               "addresses": list(addresses) if addresses is not None else None})
