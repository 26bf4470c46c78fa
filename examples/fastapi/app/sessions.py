"""Login sessions of the pages, kept in the database (public.web_sessions),
so that they can be ended: by logging out, by an administrator, by a
password change (a trigger, migration 0004), and by time, after
SESSION_IDLE_SECONDS without a request or SESSION_LIFETIME_SECONDS after
the login, whichever comes first.

The cookie holds 256 random bits; the table holds their SHA-256, so that
what a reader of the table sees cannot be sent back as a cookie.  A
session holds the user's id, the CSRF token of its forms and at most a
one-line notice for the next page; never a token.  Who the user is, and
whether an administrator, is read from users on every request, in the
statement that finds the session.

Before a login there is no session (nothing is stored for anonymous
visitors): the login form's CSRF token is the HMAC, under SESSION_SECRET,
of a random value kept in a cookie of its own (a signed double-submit
cookie).

The forms that make a token (create, rotate) carry a nonce, recorded in
public.web_form_submissions in the transaction that makes the token: the
same form sent again (a reload of the page that showed the token, a double
click) makes nothing (form_already_submitted).
"""
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Optional
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from .settings import Settings


@dataclass(frozen=True)
class Session:
    id: str  # the SHA-256 of the cookie's value
    user_id: UUID
    email: str
    is_admin: bool
    csrf_token: str
    notice: Optional[str]


def session_cookie(settings: Settings) -> str:
    # __Host-: a cookie only this host, over HTTPS, may set (no subdomain).
    return "__Host-session" if settings.https_only else "session"


def login_cookie(settings: Settings) -> str:
    return "__Host-login" if settings.https_only else "login"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("ascii")).hexdigest()


def _cookie_value(request: Request, name: str) -> Optional[str]:
    value = request.cookies.get(name)
    # token_urlsafe(32) makes 43 characters of [A-Za-z0-9_-].
    if value is None or len(value) != 43 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in value):
        return None
    return value


# The session and its user, if it has not ended, with its last request now;
# its notice is handed over once.
_FIND = text("""
WITH found AS (
    SELECT s.id, s.notice FROM public.web_sessions s
     WHERE s.id = CAST(:id AS text)
       AND s.last_seen_at > now() - make_interval(secs => CAST(:idle AS double precision))
       AND s.created_at > now() - make_interval(secs => CAST(:lifetime AS double precision))
       FOR UPDATE
)
UPDATE public.web_sessions s SET last_seen_at = now(), notice = NULL
  FROM found, public.users u
 WHERE s.id = found.id AND u.id = s.user_id
RETURNING s.id, u.id AS user_id, u.email, u.is_admin, s.csrf_token, found.notice
""")
_START = text("INSERT INTO public.web_sessions (id, user_id, csrf_token)"
              " VALUES (CAST(:id AS text), CAST(:user_id AS uuid), CAST(:csrf AS text))")
# Sessions that have ended by time, whoever's: cleared at each login.
_PURGE = text("DELETE FROM public.web_sessions"
              " WHERE last_seen_at <= now() - make_interval(secs => CAST(:idle AS double precision))"
              "    OR created_at <= now() - make_interval(secs => CAST(:lifetime AS double precision))")
_END = text("DELETE FROM public.web_sessions WHERE id = CAST(:id AS text)")
_END_USER = text("DELETE FROM public.web_sessions WHERE user_id = CAST(:user_id AS uuid)")
_NOTICE = text("UPDATE public.web_sessions SET notice = CAST(:notice AS text) WHERE id = CAST(:id AS text)")
_SUBMITTED = text("INSERT INTO public.web_form_submissions (session_id, nonce)"
                  " VALUES (CAST(:id AS text), CAST(:nonce AS text)) ON CONFLICT DO NOTHING RETURNING nonce")


async def find(request: Request, engine: AsyncEngine, settings: Settings) -> Optional[Session]:
    """The request's session, or None; looked up once per request."""
    if hasattr(request.state, "session"):
        return request.state.session
    value = _cookie_value(request, session_cookie(settings))
    session = None
    if value is not None:
        async with engine.begin() as conn:
            row = (await conn.execute(_FIND, {"id": _digest(value), "idle": settings.session_idle_seconds,
                                              "lifetime": settings.session_lifetime_seconds})).one_or_none()
        if row is not None:
            session = Session(row.id, UUID(str(row.user_id)), row.email, row.is_admin, row.csrf_token, row.notice)
    request.state.session = session
    return session


async def start(conn: AsyncConnection, settings: Settings, response: Response, user_id: UUID) -> None:
    """A new session for the user, in the login's transaction; its cookie
    on the response.  Nothing of a previous session carries over."""
    value = secrets.token_urlsafe(32)
    await conn.execute(_PURGE, {"idle": settings.session_idle_seconds,
                                "lifetime": settings.session_lifetime_seconds})
    await conn.execute(_START, {"id": _digest(value), "user_id": user_id, "csrf": secrets.token_urlsafe(32)})
    response.set_cookie(session_cookie(settings), value, max_age=settings.session_lifetime_seconds, path="/",
                        secure=settings.https_only, httponly=True, samesite="lax")


async def end(engine: AsyncEngine, settings: Settings, session: Session, response: Response) -> None:
    async with engine.begin() as conn:
        await conn.execute(_END, {"id": session.id})
    response.delete_cookie(session_cookie(settings), path="/", secure=settings.https_only, httponly=True,
                           samesite="lax")


async def end_all(conn: AsyncConnection, user_id: UUID) -> int:
    """Ends every session of the user; returns how many there were."""
    return (await conn.execute(_END_USER, {"user_id": user_id})).rowcount


async def set_notice(engine: AsyncEngine, session: Session, notice: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(_NOTICE, {"id": session.id, "notice": notice})


async def first_submission(conn: AsyncConnection, session: Session, nonce: str) -> bool:
    """Records the form's nonce in the caller's transaction: False if it
    was recorded before (or is being recorded by a concurrent request,
    which this waits for), True otherwise."""
    return (await conn.execute(_SUBMITTED, {"id": session.id, "nonce": nonce})).first() is not None


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def valid_nonce(value: object) -> bool:
    return isinstance(value, str) and len(value) == 22 and all(
        c.isascii() and (c.isalnum() or c in "_-") for c in value)


# ------------------------------------------------------ the login form

def login_csrf(request: Request, settings: Settings, response: Optional[Response] = None) -> str:
    """The CSRF token of the login form: the HMAC of the login cookie's
    value.  Sets a new cookie on the response when there is none."""
    value = _cookie_value(request, login_cookie(settings))
    if value is None:
        value = getattr(request.state, "new_login_cookie", None) or secrets.token_urlsafe(32)
        request.state.new_login_cookie = value
        if response is not None:
            response.set_cookie(login_cookie(settings), value, path="/", secure=settings.https_only, httponly=True,
                                samesite="lax")
    return _sign(settings, value)


def login_csrf_matches(request: Request, settings: Settings, sent: object) -> bool:
    value = _cookie_value(request, login_cookie(settings))
    return value is not None and isinstance(sent, str) and sent.isascii() and \
        hmac.compare_digest(sent.encode("ascii"), _sign(settings, value).encode("ascii"))


def _sign(settings: Settings, value: str) -> str:
    return hmac.new(settings.session_secret.encode("utf-8", "surrogatepass"), b"login-csrf:" + value.encode("ascii"),
                    hashlib.sha256).hexdigest()
