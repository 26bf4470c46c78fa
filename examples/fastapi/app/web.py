"""The pages: login, "Personal access tokens" for every user, and the admin
page.  Server-rendered Jinja2 templates and one small script, no build step.

- Sessions are kept in the database (app/sessions.py), so that logging
  out, an administrator or a password change ends them at once; they also
  end after SESSION_IDLE_SECONDS without a request, and
  SESSION_LIFETIME_SECONDS after the login.  Their cookie is HttpOnly,
  SameSite=Lax, and Secure with SESSION_HTTPS_ONLY=1.  A session holds the
  user's id, a CSRF token and at most a one-line notice; never a token.
  Who the user is, and whether an administrator, is read from the database
  on every request.
- Every POST is checked for its Origin (when the browser sends one), then
  for the session's CSRF token in a hidden field (the synchronizer-token
  pattern); the login form, before any session, for a token bound to a
  cookie of its own.  Logins are throttled (app/throttle.py).
- A plaintext token appears in exactly one response, the page that follows
  its creation or rotation, sent with Cache-Control: no-store; the form
  that made it carries a nonce, so that sending it again (a reload) makes
  nothing.  Tokens never go in a URL (every form that takes one, the admin
  search included, posts it), the session, or a log line.
- No input the application refuses is ever shown back; text that cannot
  be encoded (a lone surrogate, from a form in a strange charset) is
  refused with 400 before anything else reads it.
- What a user does on their page is recorded by the extension as the actor
  user:<id>, what an administrator does on the admin page as admin:<id>
  (app/tokens.py, act_as).
- The lists show each token's limits (version 1.2); an administrator sets
  and removes them on a page of the token's own (/admin/tokens/<id>/limits),
  whose forms check every value (app/limits.py) before the extension's
  setters do.
"""
import hmac
import logging
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, List, Optional
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import FormData

from . import limits, sessions, tokens
from .db import get_engine, sqlstate
from .passwords import MAX_PASSWORD_CHARS, verify_password
from .rules import DAY, MAX_LIFETIME_SECONDS, SCOPES, clean_name, shown_name
from .sessions import Session
from .settings import Settings
from .throttle import Busy, LoginThrottle
from .tokens import AlreadyRotated, Authority, Issued, admin_actor, database_errors

log = logging.getLogger(__name__)
router = APIRouter()

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

# Paths whose errors are pages rather than JSON (app/main.py).
PAGE_PREFIXES = ("/login", "/logout", "/settings", "/admin")

EXPIRY_DAYS = [7, 30, 60, 90, 365]
DEFAULT_EXPIRY_DAYS = 30
assert max(EXPIRY_DAYS) * DAY <= MAX_LIFETIME_SECONDS
GRACE_CHOICES = [(0, "at once"), (3600, "in 1 hour"), (DAY, "in 1 day"), (7 * DAY, "in 7 days")]
MAX_LEAKED_TOKENS = 1000
PREFIX_CHARS = 8  # api_token_prefix: what the token lists show
ADMIN_PAGE_ROWS = 50
MAX_ADMIN_PAGE = 10000
# A whole token, as api_token_generate makes them: a brand of letters and
# digits, "_", 36 characters of base 62.  Never taken into a URL.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9]{1,10}_[0-9A-Za-z]{36}")

ALREADY_SUBMITTED = ("That form was already sent: the token it made was shown once, and cannot be shown "
                     "again. If you did not copy it, revoke it and make a new one.")


def _when(value: Optional[datetime], utc: bool = False) -> str:
    """A date and time in UTC, to the minute ("never" for NULL)."""
    if value is None:
        return "never"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") + (" UTC" if utc else "")


def _period(seconds: Any) -> str:
    """A period given in seconds, in words: "minute", "7 days", "90 seconds"."""
    if seconds is None:
        return ""
    value = float(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if value >= size and value % size == 0:
            count = int(value // size)
            return unit if count == 1 else f"{count:,} {unit}s"
    return f"{value:g} seconds"


def _count(value: Any) -> str:
    return f"{int(value):,}"


templates.env.filters["when"] = _when
templates.env.filters["period"] = _period
templates.env.filters["count"] = _count
templates.env.filters["name"] = shown_name
templates.env.globals["new_nonce"] = sessions.new_nonce


class LoginRequired(Exception):
    """Answered with a redirect to the login page."""


class PageError(Exception):
    """Answered with the error page."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


async def current_session(request: Request) -> Optional[Session]:
    return await sessions.find(request, get_engine(request), settings_of(request))


async def require_user(request: Request) -> Session:
    session = await current_session(request)
    if session is None:
        raise LoginRequired()
    return session


async def require_admin(request: Request) -> Session:
    session = await require_user(request)
    if not session.is_admin:
        raise PageError(status.HTTP_403_FORBIDDEN, "This page is for administrators.")
    return session


def _own_origin(request: Request) -> str:
    # The scheme is the one a trusted proxy reports (app/middleware.py).
    return f"{request.url.scheme}://{request.url.netloc}"


def _check_origin(request: Request) -> None:
    """A browser sends Origin with every POST: a foreign one is refused."""
    origin = request.headers.get("origin")
    if origin is not None and origin != _own_origin(request):
        raise PageError(status.HTTP_403_FORBIDDEN, "Cross-site request refused (CSRF check failed).")


async def checked_form(request: Request, session: Session) -> FormData:
    """The posted form of a signed-in user, after the CSRF checks: Origin,
    and the hidden csrf_token, which must equal the session's."""
    _check_origin(request)
    form = await request.form()
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not sent.isascii() or \
            not hmac.compare_digest(sent.encode("ascii"), session.csrf_token.encode("ascii")):
        raise PageError(status.HTTP_403_FORBIDDEN,
                        "The form's security token is missing or wrong (CSRF check failed). "
                        "Reload the page and try again.")
    return form


async def _notice(request: Request, session: Session, message: str) -> None:
    """A one-line notice for the next page (kept in the session: never a token)."""
    await sessions.set_notice(get_engine(request), session, message)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page.  Signed in, its forms carry the session's CSRF token; before
    a login, the login form's (and its cookie, if new)."""
    session = getattr(request.state, "session", None)
    settings = settings_of(request)
    context.setdefault("user", session)
    csrf = session.csrf_token if session is not None else sessions.login_csrf(request, settings)
    response = templates.TemplateResponse(template, {
        "request": request, "csrf_token": csrf,
        "notice": session.notice if session is not None else None, **context,
    }, status_code=status_code)
    if session is None:
        sessions.login_csrf(request, settings, response)
    return response


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=status.HTTP_303_SEE_OTHER)


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise PageError(status.HTTP_404_NOT_FOUND, "No such token.") from None


def encodable(value: str) -> bool:
    """Text that UTF-8 can hold, without NUL (which no PostgreSQL text
    can): what may reach the database or a page."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _field(form: FormData, name: str, max_chars: int = 1000) -> str:
    """A text field; 400 for a file, an overlong value, or text that cannot
    be stored or shown (a form sent with charset=unicode_escape can hold a
    lone surrogate)."""
    value = form.get(name, "")
    if not isinstance(value, str) or len(value) > max_chars or not encodable(value):
        raise PageError(status.HTTP_400_BAD_REQUEST, f"Invalid field {name}.")
    return value


def _choice(form: FormData, name: str, allowed: List[int]) -> int:
    value = _field(form, name, 20)
    # ASCII digits only: int() also reads other scripts' digits ("٧" is 7).
    if not (value.isascii() and value.isdigit()) or int(value) not in allowed:
        raise PageError(status.HTTP_400_BAD_REQUEST, f"Invalid choice for {name}.")
    return int(value)


def _optional_choice(form: FormData, name: str, allowed: List[int]) -> Optional[int]:
    """As _choice; an empty or missing field is None."""
    return None if _field(form, name, 20) == "" else _choice(form, name, allowed)


def _nonce(form: FormData) -> str:
    value = form.get("nonce")
    if not sessions.valid_nonce(value):
        raise PageError(status.HTTP_400_BAD_REQUEST, "This form is incomplete. Reload the page and try again.")
    return value


class _AlreadySubmitted(Exception):
    pass


# ------------------------------------------------------------------ login

@router.get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    return _redirect("/settings/tokens" if await current_session(request) else "/login")


# Emails are stored in lower case (migration 0004).
LOGIN = text("SELECT id, password_hash FROM public.users WHERE email = lower(CAST(:email AS text))")
END_SESSION = text("DELETE FROM public.web_sessions WHERE id = CAST(:id AS text)")


def _login_page(request: Request, status_code: int = 200, error: Optional[str] = None, email: str = "",
                headers: Optional[dict] = None) -> HTMLResponse:
    # The email is shown back only if it is plain printable text.
    shown = email if email.isprintable() and len(email) <= 254 else ""
    response = render(request, "login.html", status_code, title="Log in", error=error, email=shown)
    response.headers.update(headers or {})
    return response


@router.get("/login", include_in_schema=False)
async def login_page(request: Request) -> Response:
    if await current_session(request) is not None:
        return _redirect("/settings/tokens")
    return _login_page(request)


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    settings = settings_of(request)
    throttle: LoginThrottle = request.app.state.login_throttle
    _check_origin(request)
    form = await request.form()
    email = form.get("email", "")
    password = form.get("password", "")
    if not (isinstance(email, str) and len(email) <= 254 and encodable(email) and
            isinstance(password, str) and len(password) <= MAX_PASSWORD_CHARS and encodable(password)):
        return _login_page(request, status.HTTP_400_BAD_REQUEST, "Enter an email address and a password.")
    email = email.strip()
    if not sessions.login_csrf_matches(request, settings, form.get("csrf_token")):
        # A form older than its cookie (the browser was closed, or the
        # cookie cleared): a new form, not an error page.
        return _login_page(request, status.HTTP_403_FORBIDDEN,
                           "This login form had expired. Please log in again.", email)
    wait = throttle.attempt(email, request.client.host if request.client else None)
    if wait is not None:
        log.info("login throttled")
        minutes = (wait + 59) // 60
        return _login_page(request, status.HTTP_429_TOO_MANY_REQUESTS,
                           f"Too many login attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
                           email, headers={"Retry-After": str(wait)})
    async with get_engine(request).begin() as conn:
        row = (await conn.execute(LOGIN, {"email": email})).one_or_none()
    try:
        # The same work whether the user exists or not.
        ok = await throttle.hashing.run(verify_password, password, row.password_hash if row else None)
    except Busy:
        log.warning("login refused: too many logins waiting for a password hash")
        return _login_page(request, status.HTTP_503_SERVICE_UNAVAILABLE,
                           "The server is busy. Try again in a moment.", email, headers={"Retry-After": "5"})
    if not ok:
        log.info("failed login")
        return _login_page(request, status.HTTP_401_UNAUTHORIZED, "Wrong email or password.", email)
    throttle.succeeded(email)
    previous = await current_session(request)
    response = _redirect("/settings/tokens")
    async with get_engine(request).begin() as conn:
        if previous is not None:  # a new session: nothing carried over
            await conn.execute(END_SESSION, {"id": previous.id})
        await sessions.start(conn, settings, response, row.id)
    log.info("user %s logged in", row.id)
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    session = await require_user(request)
    await checked_form(request, session)
    response = _redirect("/login")
    await sessions.end(get_engine(request), settings_of(request), session, response)
    log.info("user %s logged out", session.user_id)
    return response


# ------------------------------------------------- personal access tokens

def _tokens_page(request: Request, session: Session, rows, status_code: int = 200, **context: Any) -> HTMLResponse:
    return render(request, "tokens.html", status_code, title="Personal access tokens",
                  tokens=rows, scopes=SCOPES, expiry_days=EXPIRY_DAYS, default_expiry=DEFAULT_EXPIRY_DAYS,
                  grace_choices=GRACE_CHOICES, max_days=max(EXPIRY_DAYS), **context)


def _token_page(request: Request, issued: Issued, name: str, scopes: List[str], **context: Any) -> HTMLResponse:
    """The one page that shows a plaintext token."""
    response = render(request, "token_created.html", title="Your new token",
                      issued=issued, name=name, scopes=scopes, **context)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@router.get("/settings/tokens", include_in_schema=False)
async def tokens_page(request: Request) -> Response:
    session = await require_user(request)
    async with get_engine(request).begin() as conn:
        rows = await tokens.list_for_user(conn, session.user_id)
    return _tokens_page(request, session, rows)


@router.post("/settings/tokens", include_in_schema=False)
async def create_token(request: Request) -> Response:
    session = await require_user(request)
    form = await checked_form(request, session)
    nonce = _nonce(form)
    name = _field(form, "name", 400)
    scopes = form.getlist("scopes")
    days = _choice(form, "expires_days", EXPIRY_DAYS)
    error = None
    try:
        name = clean_name(name)
    except ValueError as e:
        error, name = f"The name {e}.", ""  # a refused name is not shown back
    if not all(isinstance(s, str) and s in SCOPES for s in scopes):
        error = "Choose scopes from the list."
    elif not scopes and not error:
        error = "Choose at least one scope: a token without scopes can do nothing here."
    if error:
        async with get_engine(request).begin() as conn:
            rows = await tokens.list_for_user(conn, session.user_id)
        return _tokens_page(request, session, rows, status.HTTP_422_UNPROCESSABLE_ENTITY,
                            error=error, form_name=name)
    scopes = [s for s in SCOPES if s in scopes]
    try:
        async with database_errors(), get_engine(request).begin() as conn:
            if not await sessions.first_submission(conn, session, nonce):
                raise _AlreadySubmitted()
            issued = await tokens.create(conn, Authority.of_user(session.user_id), name, scopes, days * DAY)
    except _AlreadySubmitted:
        await _notice(request, session, ALREADY_SUBMITTED)
        return _redirect("/settings/tokens")
    except HTTPException as e:
        raise PageError(e.status_code, str(e.detail)) from None
    log.info("token %s created on the settings page by user %s", issued.id, session.user_id)
    return _token_page(request, issued, name, scopes)


@router.post("/settings/tokens/{token_id}/revoke", include_in_schema=False)
async def revoke_token(token_id: str, request: Request) -> Response:
    session = await require_user(request)
    await checked_form(request, session)
    tid = _uuid(token_id)
    try:
        async with database_errors(), get_engine(request).begin() as conn:
            was_active = await tokens.revoke_own(conn, Authority.of_user(session.user_id), tid)
    except HTTPException as e:
        raise PageError(e.status_code, "No such token.") from None
    log.info("token %s revoked on the settings page by user %s", tid, session.user_id)
    await _notice(request, session,
                  "Token revoked: it no longer works." if was_active else "That token was already revoked.")
    return _redirect("/settings/tokens")


@router.post("/settings/tokens/{token_id}/rotate", include_in_schema=False)
async def rotate_token(token_id: str, request: Request) -> Response:
    session = await require_user(request)
    form = await checked_form(request, session)
    nonce = _nonce(form)
    tid = _uuid(token_id)
    grace = _choice(form, "grace_seconds", [g for g, _ in GRACE_CHOICES])
    # Empty: the new token keeps the old one's expiry (at most the maximum).
    days = _optional_choice(form, "expires_days", EXPIRY_DAYS)
    try:
        async with database_errors(), get_engine(request).begin() as conn:
            if not await sessions.first_submission(conn, session, nonce):
                raise _AlreadySubmitted()
            rotated = await tokens.rotate(conn, Authority.of_user(session.user_id), tid, grace,
                                          None if days is None else days * DAY)
            listed = {r.id: r for r in await tokens.list_for_user(conn, session.user_id)}
    except _AlreadySubmitted:
        await _notice(request, session, ALREADY_SUBMITTED)
        return _redirect("/settings/tokens")
    except AlreadyRotated as e:
        # The user's own token, and so its successor: name it.
        async with get_engine(request).begin() as conn:
            successor = {r.id: r for r in await tokens.list_for_user(conn, session.user_id)}.get(e.successor_id)
        raise PageError(e.status_code, "That token was already rotated" + (
            f": its replacement is “{shown_name(successor.name)}” ({successor.prefix}…). Rotate that one instead."
            if successor else ".")) from None
    except HTTPException as e:
        raise PageError(e.status_code, "That token cannot be rotated: it is revoked, expired or gone."
                        if e.status_code == status.HTTP_409_CONFLICT else "No such token.") from None
    log.info("token %s rotated to %s on the settings page by user %s", tid, rotated.successor.id, session.user_id)
    new = listed.get(rotated.successor.id)
    return _token_page(request, rotated.successor, new.name if new else "",
                       list(new.scopes or []) if new else [], rotated=rotated,
                       old_prefix=listed[tid].prefix if tid in listed else None)


# -------------------------------------------------------------- the admin

def _admin_filters(source) -> dict:
    """The search: a token prefix (exactly as the lists show it, the first
    8 characters) and part of an email address; each shown back only if it
    is plain printable text of a sensible length."""
    prefix = source.get("prefix") or ""
    user = source.get("user") or ""
    prefix = prefix.strip().rstrip(".…") if isinstance(prefix, str) else ""
    user = user.strip() if isinstance(user, str) else ""
    return {"prefix": prefix if prefix.isprintable() and len(prefix) <= 64 and encodable(prefix) else "",
            "user": user if user.isprintable() and len(user) <= 254 and encodable(user) else ""}


def _filter_error(filters: dict, raw_user: object) -> Optional[str]:
    """Why the search cannot run, if it cannot."""
    prefix = filters["prefix"]
    if isinstance(raw_user, str) and TOKEN_PATTERN.search(raw_user):
        filters["user"] = ""  # not shown back
        return ("That looks like a whole token: never paste one into a search box. "
                "Search by its prefix (its first 8 characters), or revoke it below.")
    if isinstance(raw_user, str) and raw_user.strip() and not filters["user"]:
        return "The email to search for must be plain printable text."
    if prefix and (len(prefix) != PREFIX_CHARS or not all(c.isascii() and (c.isalnum() or c == "_") for c in prefix)):
        filters["prefix"] = prefix[:PREFIX_CHARS] if prefix.isascii() else ""
        return f"A prefix is the first {PREFIX_CHARS} characters of a token, as the lists show it (pat_AbCd)."
    return None


def _admin_url(filters: dict, page: int = 1) -> str:
    query = urlencode({k: v for k, v in {**filters, "page": page if page > 1 else ""}.items() if v})
    return "/admin/tokens" + (f"?{query}" if query else "")


def _page_number(value: Optional[str]) -> int:
    if not value:
        return 1
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_ADMIN_PAGE:
        raise PageError(status.HTTP_400_BAD_REQUEST, "Invalid page number.")
    return int(value)


async def _admin_page(request: Request, session: Session, filters: dict, error: Optional[str],
                      page: int = 1) -> HTMLResponse:
    rows: list = []
    if error is None:
        async with get_engine(request).begin() as conn:
            rows = await tokens.search(conn, filters["prefix"] or None, filters["user"] or None,
                                       ADMIN_PAGE_ROWS + 1, (page - 1) * ADMIN_PAGE_ROWS)
    more, rows = len(rows) > ADMIN_PAGE_ROWS, rows[:ADMIN_PAGE_ROWS]
    users: dict = {}
    for r in rows:
        users.setdefault(r.user_id, {"id": r.user_id, "email": r.email, "active": 0})
        users[r.user_id]["active"] += r.status == "active"
    return render(request, "admin.html", status.HTTP_422_UNPROCESSABLE_ENTITY if error else 200,
                  title="All tokens", tokens=rows, users=list(users.values()), filters=filters, error=error,
                  max_leaked=MAX_LEAKED_TOKENS, page=page, first_row=(page - 1) * ADMIN_PAGE_ROWS + 1,
                  newer_url=_admin_url(filters, page - 1) if page > 1 else None,
                  older_url=_admin_url(filters, page + 1) if more else None)


@router.get("/admin/tokens", include_in_schema=False)
async def admin_page(request: Request) -> Response:
    session = await require_admin(request)
    filters = _admin_filters(request.query_params)
    error = _filter_error(filters, request.query_params.get("user"))
    return await _admin_page(request, session, filters, error, _page_number(request.query_params.get("page")))


@router.post("/admin/search", include_in_schema=False)
async def admin_search(request: Request) -> Response:
    """The search form posts here, and is sent on to the page's URL once
    checked: a whole token pasted into a box never reaches a URL (and so
    neither the browser's history nor an access log)."""
    session = await require_admin(request)
    form = await checked_form(request, session)
    filters = _admin_filters(form)
    error = _filter_error(filters, form.get("user"))
    if error:
        return await _admin_page(request, session, filters, error)
    return _redirect(_admin_url(filters))


def _back_to_search(form: FormData) -> RedirectResponse:
    filters = _admin_filters(form)
    if _filter_error(dict(filters), form.get("user")):
        filters = {"prefix": "", "user": ""}
    return _redirect(_admin_url(filters))


@router.post("/admin/tokens/{token_id}/revoke", include_in_schema=False)
async def admin_revoke(token_id: str, request: Request) -> Response:
    admin = await require_admin(request)
    form = await checked_form(request, admin)
    tid = _uuid(token_id)
    async with get_engine(request).begin() as conn:
        was_active = await tokens.revoke_any(conn, admin_actor(admin.user_id), tid)
    log.info("token %s revoked by administrator %s", tid, admin.user_id)
    await _notice(request, admin, "Token revoked." if was_active else "That token was not active.")
    return _back_to_search(form)


@router.post("/admin/tokens/{token_id}/revoke-family", include_in_schema=False)
async def admin_revoke_family(token_id: str, request: Request) -> Response:
    """Every active token of the lineage: for a leaked token that was
    rotated, whoever holds it may also hold (or have made) its successors."""
    admin = await require_admin(request)
    form = await checked_form(request, admin)
    tid = _uuid(token_id)
    try:
        async with database_errors(), get_engine(request).begin() as conn:
            count = await tokens.revoke_family(conn, admin_actor(admin.user_id), tid)
    except HTTPException as e:  # 40001 cannot happen in READ COMMITTED; be safe anyway
        raise PageError(e.status_code, "Could not revoke the token's family; try again.") from None
    log.info("%d tokens of the family of token %s revoked by administrator %s", count, tid, admin.user_id)
    await _notice(request, admin, f"{count} active token{'s' if count != 1 else ''} of the family revoked.")
    return _back_to_search(form)


@router.post("/admin/users/{user_id}/revoke", include_in_schema=False)
async def admin_revoke_user(user_id: str, request: Request) -> Response:
    admin = await require_admin(request)
    form = await checked_form(request, admin)
    uid = _uuid(user_id)
    try:
        async with database_errors(), get_engine(request).begin() as conn:
            count = await tokens.revoke_user(conn, admin_actor(admin.user_id), uid)
    except HTTPException as e:  # 40001 cannot happen in READ COMMITTED; be safe anyway
        raise PageError(e.status_code, "Could not revoke the user's tokens; try again.") from None
    log.info("%d tokens of user %s revoked by administrator %s", count, uid, admin.user_id)
    await _notice(request, admin, f"{count} active token{'s' if count != 1 else ''} of the user revoked.")
    return _back_to_search(form)


@router.post("/admin/users/{user_id}/end-sessions", include_in_schema=False)
async def admin_end_sessions(user_id: str, request: Request) -> Response:
    """Logs the user out everywhere, at once (their tokens are untouched)."""
    admin = await require_admin(request)
    form = await checked_form(request, admin)
    uid = _uuid(user_id)
    async with get_engine(request).begin() as conn:
        count = await sessions.end_all(conn, uid)
    log.info("%d sessions of user %s ended by administrator %s", count, uid, admin.user_id)
    if uid == admin.user_id:
        return _redirect("/login")  # the administrator's own session was among them
    await _notice(request, admin, f"{count} session{'s' if count != 1 else ''} of the user ended.")
    return _back_to_search(form)


@router.post("/admin/leaked", include_in_schema=False)
async def admin_leaked(request: Request) -> Response:
    admin = await require_admin(request)
    form = await checked_form(request, admin)
    pasted = list(dict.fromkeys(_field(form, "tokens", 64 * 1024).replace(",", " ").split()))
    if len(pasted) > MAX_LEAKED_TOKENS:
        raise PageError(status.HTTP_400_BAD_REQUEST, f"At most {MAX_LEAKED_TOKENS} tokens at a time.")
    # Anything that is not printable ASCII cannot be a token.
    candidates = [t for t in pasted if t.isascii() and t.isprintable() and len(t) <= 64]
    async with get_engine(request).begin() as conn:
        check = await tokens.revoke_leaked(conn, admin_actor(admin.user_id), candidates)
    ours = sum(check.known)
    log.info("leaked tokens pasted by administrator %s: %d given, %d of ours, %d revoked now",
             admin.user_id, len(pasted), ours, check.revoked)
    await _notice(request, admin, f"{len(pasted)} checked: {ours} of ours ({check.revoked} revoked now, "
                                  f"{ours - check.revoked} already inactive), {len(pasted) - ours} not ours.")
    return _back_to_search(form)


# ------------------------------------------------------- a token's limits

LIMITS_TITLE = "Token limits"
RATE_LIMITS_NEED_PRELOAD = ("This server cannot count rate limits: the extension's library is not preloaded "
                            "(shared_preload_libraries). Credits and allowlists work without it.")


async def _limits_page(request: Request, token_id: UUID, status_code: int = 200,
                       errors: Optional[dict] = None) -> HTMLResponse:
    async with get_engine(request).begin() as conn:
        row = await tokens.find_any(conn, token_id)
    if row is None:
        raise PageError(status.HTTP_404_NOT_FOUND, "No such token.")
    return render(request, "limits.html", status_code, title=LIMITS_TITLE, t=row, errors=errors or {},
                  rate_windows=limits.RATE_WINDOWS, refill_periods=limits.REFILL_PERIODS,
                  max_requests=limits.MAX_REQUESTS, max_credits=limits.MAX_CREDITS,
                  max_addresses=limits.MAX_ADDRESSES, max_addresses_chars=limits.MAX_ADDRESSES_CHARS,
                  back_url=_admin_url({"prefix": row.prefix, "user": ""}))


@router.get("/admin/tokens/{token_id}/limits", include_in_schema=False)
async def admin_limits_page(token_id: str, request: Request) -> Response:
    await require_admin(request)
    return await _limits_page(request, _uuid(token_id))


@router.post("/admin/tokens/{token_id}/limits", include_in_schema=False)
async def admin_set_limits(token_id: str, request: Request) -> Response:
    """One of the token's limits (the form's `limit`: rate, credits or
    addresses), set or removed (`action`).  A value the form refuses, or
    the extension does, is answered with the page again (422) and a word
    on the field; a tampered choice (a select's value) with 400."""
    admin = await require_admin(request)
    form = await checked_form(request, admin)
    tid = _uuid(token_id)
    kind = _field(form, "limit", 20)
    action = _field(form, "action", 20)
    if kind not in limits.LIMIT_KINDS or action not in ("set", "remove"):
        raise PageError(status.HTTP_400_BAD_REQUEST, "Invalid limit form.")
    remove = action == "remove"
    actor = admin_actor(admin.user_id)
    try:
        if kind == "rate":
            rate = None if remove else limits.rate_limit(
                _field(form, "max_requests", 100), _choice(form, "per", [p for p, _ in limits.RATE_WINDOWS]))
            done = "Rate limit removed." if remove else \
                f"Rate limit set: {rate.max_requests:,} requests per {_period(rate.per_seconds)}."
        elif kind == "credits":
            credits = None if remove else limits.credits(
                _field(form, "remaining", 100), _field(form, "refill", 100),
                _optional_choice(form, "refill_every", [p for p, _ in limits.REFILL_PERIODS]))
            done = "Credits removed." if remove else f"Credits set: {credits.remaining:,} left" + (
                f", refilled to {credits.refill:,} every {_period(credits.refill_every_seconds)}."
                if credits.refill is not None else ", never refilled.")
        else:
            addresses = None if remove else limits.allowed_addresses(
                _field(form, "addresses", limits.MAX_ADDRESSES_CHARS))
            done = "Allowlist removed: the token may be used from any address." if remove else \
                f"Allowlist set: {len(addresses):,} {'entry' if len(addresses) == 1 else 'entries'}."
    except limits.LimitInputError as e:
        return await _limits_page(request, tid, status.HTTP_422_UNPROCESSABLE_ENTITY, {kind: str(e)})
    try:
        async with get_engine(request).begin() as conn:
            if kind == "rate":
                await tokens.set_rate_limit(conn, actor, tid, rate)
            elif kind == "credits":
                await tokens.set_credits(conn, actor, tid, credits)
            else:
                await tokens.set_allowed_addresses(conn, actor, tid, addresses)
    except DBAPIError as error:
        code = sqlstate(error)
        if code == "P0002":  # no such token (deleted meanwhile)
            raise PageError(status.HTTP_404_NOT_FOUND, "No such token.") from None
        if code == "55000" and kind == "rate":
            return await _limits_page(request, tid, status.HTTP_422_UNPROCESSABLE_ENTITY,
                                      {kind: RATE_LIMITS_NEED_PRELOAD})
        if code in ("22023", "22P02", "22003", "23514", "0A000"):
            return await _limits_page(request, tid, status.HTTP_422_UNPROCESSABLE_ENTITY,
                                      {kind: "The database refused this value."})
        raise
    log.info("%s limit of token %s %s by administrator %s", kind, tid, "removed" if remove else "set",
             admin.user_id)
    await _notice(request, admin, done)
    return _redirect(f"/admin/tokens/{tid}/limits")
