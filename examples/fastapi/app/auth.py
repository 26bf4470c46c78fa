"""Bearer-token authentication: one statement per request, which verifies
the token (with the client's address, spending one credit), gives the HTTP
answer to its status (RFC 6750) and, for a valid token, looks up its
successor.

The HTTP answer to a status is the extension's (api_token_http): 200; 401
with WWW-Authenticate: Bearer error="invalid_token" for a token that is
malformed, unknown, inactive, expired or rotated (the client is not told
which); 403 with error="insufficient_scope" and the scopes the route
needs; 403 without a challenge for a token used from an address outside
its allowlist; 429 for a rate limit or spent credits, with Retry-After when
the extension says when to retry.  STATUSES below is the one place where
the application interprets statuses itself: the body of each answer, and
for secret scanning whether a reported token is one of ours.

A token that was rotated out stays valid during its grace period, so that
the programs using it can move to the successor.  For that time it may
only read: a route that requires any scope outside READ_ONLY_SCOPES
(app/rules.py) answers 403.  Otherwise whoever holds the old token (a copy
left on an old machine, in a log, with an attacker) could rotate the
successor away from its legitimate holder, revoke it, or mint new tokens.
"""
import ipaddress
import logging
from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional, Union
from uuid import UUID

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.exc import DBAPIError

from .db import get_engine, sqlstate
from .rules import READ_ONLY_SCOPES

log = logging.getLogger(__name__)

# auto_error=False: a missing header must give 401, not FastAPI's default 403.
bearer = HTTPBearer(auto_error=False)

UUID_TYPE = PG_UUID(as_uuid=True)

# The credits a request spends, from a token that has credits.
COST = 1

# Bound parameters only ($1, $2, ... on the wire): a token spliced into SQL
# text would end up in the server log and pg_stat_activity.  Every function
# is called by its schema and with its argument types spelled out, so that
# no other function can be chosen in its place (a database owner could
# create public.api_token_verify(varchar, ...) and receive the tokens of a
# driver that sends varchar); the columns of the result are named, never
# the composite type api_token_verification, whose OID changes when the
# extension is dropped and created again (prepared statements would fail).
# One statement, one round trip: api_token_http answers for the status, and
# the successor is looked up only for a valid token (it is not NULL for a
# token rotated out and still in its grace period).
VERIFY = text(
    "SELECT v.status, v.token_id, v.user_id, v.scopes, v.retry_after, h.http_status, h.www_authenticate,"
    "       CASE WHEN v.status = 'valid' THEN api_tokens.api_token_successor(v.token_id) END AS successor_id"
    "  FROM api_tokens.api_token_verify(CAST(:token AS text), CAST(:scopes AS text[]),"
    " CAST(:address AS inet), CAST(:cost AS integer)) AS v"
    " CROSS JOIN LATERAL api_tokens.api_token_http(v.status, CAST(:scopes AS text[])) AS h"
).columns(token_id=UUID_TYPE, user_id=UUID_TYPE, successor_id=UUID_TYPE)

INVALID_TOKEN = "invalid or missing token"


@dataclass(frozen=True)
class StatusRule:
    known: bool  # the token is in api_tokens (secret scanning: true_positive)
    detail: str = INVALID_TOKEN  # the body of the answer to a request that presents such a token


STATUSES: Dict[str, StatusRule] = {
    "valid": StatusRule(known=True, detail=""),
    "insufficient_scope": StatusRule(known=True, detail="token lacks a required scope"),
    # Limits (version 1.2): the token is valid, its holder is told why it
    # may not be used now.
    "address_denied": StatusRule(known=True, detail="token may not be used from this address"),
    "rate_limited": StatusRule(known=True, detail="too many requests with this token; retry later"),
    "usage_exceeded": StatusRule(known=True, detail="this token has no credits left"),
    "inactive": StatusRule(known=True),
    "expired": StatusRule(known=True),
    # Rotated out, and its grace period (if any) is over: as inactive.
    "rotated": StatusRule(known=True),
    "unknown": StatusRule(known=False),
    "malformed": StatusRule(known=False),
}
# A status this code does not know (a later version of the extension may
# add some) is refused with 401, whatever api_token_http says of it: closed,
# not open.  It did come from a table lookup, so the token is counted as
# known.
UNRECOGNIZED = StatusRule(known=True)


def rule_for(validation_status: str) -> StatusRule:
    return STATUSES.get(validation_status, UNRECOGNIZED)


IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


def client_address(request: Request) -> Optional[IPAddress]:
    """The client's address, as the allowlists see it: the peer's, or the
    one a trusted proxy forwarded (app/middleware.py, TrustedProxies); an
    IPv4 client of a dual-stack socket (::ffff:192.0.2.1) as IPv4; without
    an IPv6 zone (which inet cannot hold).  None when the peer is not an IP
    address (a Unix socket, a test client): a token with an allowlist is
    then refused."""
    host = request.client.host if request.client else None
    try:
        address = ipaddress.ip_address((host or "").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


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
    return HTTPException(status.HTTP_401_UNAUTHORIZED, INVALID_TOKEN, headers={"WWW-Authenticate": challenge})


def refusal(token_status: str, http_status: Optional[int], www_authenticate: Optional[str],
            retry_after: Optional[int]) -> HTTPException:
    """The answer to a token that is not valid, from api_token_http's
    (http_status, www_authenticate) and api_token_verify's retry_after."""
    rule = STATUSES.get(token_status)
    if rule is None or http_status not in (401, 403, 429):
        return _unauthorized("invalid_token")  # a status this code does not know
    headers = {}
    if www_authenticate:
        headers["WWW-Authenticate"] = www_authenticate
    if http_status == status.HTTP_429_TOO_MANY_REQUESTS and retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return HTTPException(http_status, rule.detail, headers=headers or None)


async def authenticate(
    required: SecurityScopes,
    request: Request,
    credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer),
) -> Principal:
    """Use as Security(authenticate, scopes=[...]): the route's scopes are
    checked by the extension in the same call, before any limit (a request
    refused for its scopes spends no credit).  Routes declare no body
    parameter, so this runs before the body is read (app/api.py)."""
    if credentials is None:
        raise _unauthorized()
    try:
        # Its own transaction, committed at once: it keeps the last_used_at
        # that api_token_verify may record and, without the library
        # preloaded, the credits it spends (with it, both are counted in
        # shared memory and written by the extension's background worker).
        async with get_engine(request).begin() as conn:
            row = (await conn.execute(VERIFY, {"token": credentials.credentials,
                                               "scopes": required.scopes or None,
                                               "address": client_address(request), "cost": COST})).one()
    except DBAPIError as error:
        # The token has limits the server cannot apply: a rate limit on a
        # server without the library preloaded, or a row of api_token_limits
        # that breaks the table's checks.  Refused, and said in the log.
        if sqlstate(error) != "55000":
            raise
        log.error("a token's limits could not be applied (SQLSTATE 55000): %s",
                  getattr(error.orig, "args", ("",))[0])
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "this token's limits cannot be checked now; try again later") from None
    if row.status == "valid" and row.http_status == status.HTTP_200_OK:
        # A rotated-out token in its grace period has spent its credit
        # already: the extension counts every valid use.
        rotated_out = row.successor_id is not None
        if rotated_out and not set(required.scopes) <= READ_ONLY_SCOPES:
            raise rotated_out_forbidden(required.scope_str)
        return Principal(row.user_id, row.token_id, frozenset(row.scopes or ()), rotated_out)
    raise refusal(row.status, row.http_status, row.www_authenticate, row.retry_after)
