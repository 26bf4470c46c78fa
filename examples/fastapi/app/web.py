"""The pages: login, "Personal access tokens" for every user, and the admin
page.  Server-rendered Jinja2 templates and one small script, no build step.

- Sessions are Starlette's signed cookies (HttpOnly, SameSite=Lax, eight
  hours, Secure when SESSION_HTTPS_ONLY is set).  They hold the user's id, a
  CSRF token and at most a one-line notice; never a token.  Who the user is,
  and whether an administrator, is read from the database on every request.
- Every POST is checked before its form is parsed for the session, then for
  its Origin (when the browser sends one) and for the session's CSRF token
  in a hidden field (the synchronizer-token pattern).
- A plaintext token appears in exactly one response, the page that follows
  its creation or rotation, sent with Cache-Control: no-store.  Tokens never
  go in a URL (every form that takes one posts it), the session, or a log
  line.
- What a user does on their page is recorded by the extension as the actor
  user:<id>, what an administrator does on the admin page as admin:<id>
  (app/tokens.py, act_as).
"""
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, List, Optional
from urllib.parse import urlencode
from uuid import UUID

import anyio
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from starlette.datastructures import FormData

from . import tokens
from .db import get_engine
from .passwords import MAX_PASSWORD_CHARS, verify_password
from .rules import DAY, MAX_LIFETIME_SECONDS, SCOPES, clean_name
from .tokens import AlreadyRotated, Authority, Issued, admin_actor, database_errors

log = logging.getLogger(__name__)
router = APIRouter()

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

# Paths whose errors are pages rather than JSON (app/main.py).
PAGE_PREFIXES = ("/login", "/logout", "/settings", "/admin")
SESSION_MAX_AGE = 8 * 3600

EXPIRY_DAYS = [7, 30, 60, 90, 365]
DEFAULT_EXPIRY_DAYS = 30
assert max(EXPIRY_DAYS) * DAY <= MAX_LIFETIME_SECONDS
GRACE_CHOICES = [(0, "at once"), (3600, "in 1 hour"), (DAY, "in 1 day"), (7 * DAY, "in 7 days")]
MAX_LEAKED_TOKENS = 1000
PREFIX_CHARS = 8  # api_token_prefix: what the token lists show


def _when(value: Optional[datetime], utc: bool = False) -> str:
    """A date and time in UTC, to the minute ("never" for NULL)."""
    if value is None:
        return "never"
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") + (" UTC" if utc else "")


templates.env.filters["when"] = _when


@dataclass(frozen=True)
class WebUser:
    id: UUID
    email: str
    is_admin: bool


class LoginRequired(Exception):
    """Answered with a redirect to the login page."""


class PageError(Exception):
    """Answered with the error page."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


USER = text("SELECT id, email, is_admin FROM public.users WHERE id = CAST(:id AS uuid)")
LOGIN = text("SELECT id, password_hash FROM public.users WHERE email = CAST(:email AS text)")


async def current_user(request: Request) -> Optional[WebUser]:
    raw = request.session.get("uid")
    if not raw:
        return None
    try:
        user_id = UUID(raw)
    except (TypeError, ValueError):
        request.session.clear()
        return None
    async with get_engine(request).begin() as conn:
        row = (await conn.execute(USER, {"id": user_id})).one_or_none()
    if row is None:  # deleted since login
        request.session.clear()
        return None
    return WebUser(UUID(str(row.id)), row.email, row.is_admin)


async def require_user(request: Request) -> WebUser:
    user = await current_user(request)
    if user is None:
        raise LoginRequired()
    return user


async def require_admin(request: Request) -> WebUser:
    user = await require_user(request)
    if not user.is_admin:
        raise PageError(status.HTTP_403_FORBIDDEN, "This page is for administrators.")
    return user


def csrf_token(request: Request) -> str:
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    return request.session["csrf"]


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


async def checked_form(request: Request) -> FormData:
    """The posted form, after the CSRF checks; call it once the session has
    been checked.  A browser sends Origin with every POST: a foreign one is
    refused at once.  The hidden csrf_token must equal the session's."""
    origin = request.headers.get("origin")
    if origin is not None and origin != _own_origin(request):
        raise PageError(status.HTTP_403_FORBIDDEN, "Cross-site request refused (CSRF check failed).")
    form = await request.form()
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not expected or \
            not hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), expected.encode()):
        raise PageError(status.HTTP_403_FORBIDDEN,
                        "The form's security token is missing or wrong (CSRF check failed). "
                        "Reload the page and try again.")
    return form


def _notice(request: Request, message: str) -> None:
    """A one-line notice for the next page (kept in the session: never a token)."""
    request.session["notice"] = message


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("user", None)
    return templates.TemplateResponse(template, {
        "request": request, "csrf_token": csrf_token(request),
        "notice": request.session.pop("notice", None), **context,
    }, status_code=status_code)


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=status.HTTP_303_SEE_OTHER)


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise PageError(status.HTTP_404_NOT_FOUND, "No such token.") from None


def _field(form: FormData, name: str, max_chars: int = 1000) -> str:
    """A text field; 400 for a file, an overlong value, or a NUL (which no
    PostgreSQL text can hold: the query would fail)."""
    value = form.get(name, "")
    if not isinstance(value, str) or len(value) > max_chars or "\x00" in value:
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


# ------------------------------------------------------------------ login

@router.get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    return _redirect("/settings/tokens" if request.session.get("uid") else "/login")


@router.get("/login", include_in_schema=False)
async def login_page(request: Request) -> Response:
    if await current_user(request) is not None:
        return _redirect("/settings/tokens")
    return render(request, "login.html", title="Log in")


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    form = await checked_form(request)  # login CSRF: the anonymous session's token
    email = _field(form, "email", 254).strip()
    password = _field(form, "password", MAX_PASSWORD_CHARS)
    async with get_engine(request).begin() as conn:
        row = (await conn.execute(LOGIN, {"email": email})).one_or_none()
    # The same work, in a thread, whether the user exists or not.
    ok = await anyio.to_thread.run_sync(verify_password, password, row.password_hash if row else None)
    if not ok:
        log.info("failed login")
        return render(request, "login.html", status.HTTP_401_UNAUTHORIZED, title="Log in",
                      error="Wrong email or password.", email=email)
    request.session.clear()  # a new session: new CSRF token, nothing carried over
    request.session["uid"] = str(row.id)
    request.session["csrf"] = secrets.token_urlsafe(32)
    log.info("user %s logged in", row.id)
    return _redirect("/settings/tokens")


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    await require_user(request)
    await checked_form(request)
    request.session.clear()
    return _redirect("/login")


# ------------------------------------------------- personal access tokens

def _tokens_page(request: Request, user: WebUser, rows, status_code: int = 200, **context: Any) -> HTMLResponse:
    return render(request, "tokens.html", status_code, title="Personal access tokens", user=user,
                  tokens=rows, scopes=SCOPES, expiry_days=EXPIRY_DAYS, default_expiry=DEFAULT_EXPIRY_DAYS,
                  grace_choices=GRACE_CHOICES, **context)


def _token_page(request: Request, user: WebUser, issued: Issued, name: str, scopes: List[str],
                **context: Any) -> HTMLResponse:
    """The one page that shows a plaintext token."""
    response = render(request, "token_created.html", title="Your new token", user=user,
                      issued=issued, name=name, scopes=scopes, **context)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@router.get("/settings/tokens", include_in_schema=False)
async def tokens_page(request: Request) -> Response:
    user = await require_user(request)
    async with get_engine(request).begin() as conn:
        rows = await tokens.list_for_user(conn, user.id)
    return _tokens_page(request, user, rows)


@router.post("/settings/tokens", include_in_schema=False)
async def create_token(request: Request) -> Response:
    user = await require_user(request)
    form = await checked_form(request)
    name = _field(form, "name", 400)
    scopes = form.getlist("scopes")
    days = _choice(form, "expires_days", EXPIRY_DAYS)
    error = None
    try:
        name = clean_name(name)
    except ValueError as e:
        error = f"The name {e}."
    if not all(isinstance(s, str) and s in SCOPES for s in scopes):
        error = "Choose scopes from the list."
    if error:
        async with get_engine(request).begin() as conn:
            rows = await tokens.list_for_user(conn, user.id)
        return _tokens_page(request, user, rows, status.HTTP_422_UNPROCESSABLE_ENTITY,
                            error=error, form_name=name if isinstance(name, str) else "")
    scopes = [s for s in SCOPES if s in scopes]
    try:
        async with database_errors(), get_engine(request).begin() as conn:
            issued = await tokens.create(conn, Authority.of_user(user.id), name, scopes, days * DAY)
    except HTTPException as e:
        raise PageError(e.status_code, str(e.detail)) from None
    log.info("token %s created on the settings page by user %s", issued.id, user.id)
    return _token_page(request, user, issued, name, scopes)


@router.post("/settings/tokens/{token_id}/revoke", include_in_schema=False)
async def revoke_token(token_id: str, request: Request) -> Response:
    user = await require_user(request)
    await checked_form(request)
    tid = _uuid(token_id)
    try:
        async with database_errors(), get_engine(request).begin() as conn:
            was_active = await tokens.revoke_own(conn, Authority.of_user(user.id), tid)
    except HTTPException as e:
        raise PageError(e.status_code, "No such token.") from None
    log.info("token %s revoked on the settings page by user %s", tid, user.id)
    _notice(request, "Token revoked: it no longer works." if was_active else "That token was already revoked.")
    return _redirect("/settings/tokens")


@router.post("/settings/tokens/{token_id}/rotate", include_in_schema=False)
async def rotate_token(token_id: str, request: Request) -> Response:
    user = await require_user(request)
    form = await checked_form(request)
    tid = _uuid(token_id)
    grace = _choice(form, "grace_seconds", [g for g, _ in GRACE_CHOICES])
    # Empty: the new token keeps the old one's expiry.
    days = _optional_choice(form, "expires_days", EXPIRY_DAYS)
    try:
        async with database_errors(), get_engine(request).begin() as conn:
            rotated = await tokens.rotate(conn, Authority.of_user(user.id), tid, grace,
                                          None if days is None else days * DAY)
            listed = {r.id: r for r in await tokens.list_for_user(conn, user.id)}
    except AlreadyRotated as e:
        # The user's own token, and so its successor: name it.
        async with get_engine(request).begin() as conn:
            successor = {r.id: r for r in await tokens.list_for_user(conn, user.id)}.get(e.successor_id)
        raise PageError(e.status_code, "That token was already rotated" + (
            f": its replacement is “{successor.name}” ({successor.prefix}…). Rotate that one instead."
            if successor else ".")) from None
    except HTTPException as e:
        raise PageError(e.status_code, "That token cannot be rotated: it is revoked, expired or gone."
                        if e.status_code == status.HTTP_409_CONFLICT else "No such token.") from None
    log.info("token %s rotated to %s on the settings page by user %s", tid, rotated.successor.id, user.id)
    new = listed.get(rotated.successor.id)
    return _token_page(request, user, rotated.successor, new.name if new else "",
                       list(new.scopes or []) if new else [], rotated=rotated)


# -------------------------------------------------------------- the admin

def _admin_filters(source) -> dict:
    """The search: a token prefix (exactly as the lists show it, the first
    8 characters) and part of an email address."""
    prefix = (source.get("prefix") or "").strip().rstrip(".…")
    email = "".join(ch for ch in (source.get("user") or "") if ch.isprintable()).strip()
    return {"prefix": prefix[:PREFIX_CHARS + 1], "user": email[:254]}


def _admin_url(filters: dict) -> str:
    query = urlencode({k: v for k, v in filters.items() if v})
    return "/admin/tokens" + (f"?{query}" if query else "")


@router.get("/admin/tokens", include_in_schema=False)
async def admin_page(request: Request) -> Response:
    user = await require_admin(request)
    filters = _admin_filters(request.query_params)
    error = None
    prefix = filters["prefix"]
    if prefix and (len(prefix) != PREFIX_CHARS or not all(c.isascii() and (c.isalnum() or c == "_") for c in prefix)):
        error = f"A prefix is the first {PREFIX_CHARS} characters of a token, as the lists show it (pat_AbCd)."
        prefix = ""
    async with get_engine(request).begin() as conn:
        rows = [] if error else await tokens.search(conn, prefix or None, filters["user"] or None)
    users = {}
    for r in rows:
        users.setdefault(r.user_id, {"id": r.user_id, "email": r.email, "active": 0})
        users[r.user_id]["active"] += r.status == "active"
    return render(request, "admin.html", status.HTTP_422_UNPROCESSABLE_ENTITY if error else 200,
                  title="All tokens", user=user, tokens=rows, users=list(users.values()),
                  filters=filters, error=error, max_leaked=MAX_LEAKED_TOKENS)


@router.post("/admin/tokens/{token_id}/revoke", include_in_schema=False)
async def admin_revoke(token_id: str, request: Request) -> Response:
    admin = await require_admin(request)
    form = await checked_form(request)
    tid = _uuid(token_id)
    async with get_engine(request).begin() as conn:
        was_active = await tokens.revoke_any(conn, admin_actor(admin.id), tid)
    log.info("token %s revoked by administrator %s", tid, admin.id)
    _notice(request, "Token revoked." if was_active else "That token was not active.")
    return _redirect(_admin_url(_admin_filters(form)))


@router.post("/admin/tokens/{token_id}/revoke-family", include_in_schema=False)
async def admin_revoke_family(token_id: str, request: Request) -> Response:
    """Every active token of the lineage: for a leaked token that was
    rotated, whoever holds it may also hold (or have made) its successors."""
    admin = await require_admin(request)
    form = await checked_form(request)
    tid = _uuid(token_id)
    try:
        async with database_errors(), get_engine(request).begin() as conn:
            count = await tokens.revoke_family(conn, admin_actor(admin.id), tid)
    except HTTPException as e:  # 40001 cannot happen in READ COMMITTED; be safe anyway
        raise PageError(e.status_code, "Could not revoke the token's family; try again.") from None
    log.info("%d tokens of the family of token %s revoked by administrator %s", count, tid, admin.id)
    _notice(request, f"{count} active token{'s' if count != 1 else ''} of the family revoked.")
    return _redirect(_admin_url(_admin_filters(form)))


@router.post("/admin/users/{user_id}/revoke", include_in_schema=False)
async def admin_revoke_user(user_id: str, request: Request) -> Response:
    admin = await require_admin(request)
    form = await checked_form(request)
    uid = _uuid(user_id)
    try:
        async with database_errors(), get_engine(request).begin() as conn:
            count = await tokens.revoke_user(conn, admin_actor(admin.id), uid)
    except HTTPException as e:  # 40001 cannot happen in READ COMMITTED; be safe anyway
        raise PageError(e.status_code, "Could not revoke the user's tokens; try again.") from None
    log.info("%d tokens of user %s revoked by administrator %s", count, uid, admin.id)
    _notice(request, f"{count} active token{'s' if count != 1 else ''} of the user revoked.")
    return _redirect(_admin_url(_admin_filters(form)))


@router.post("/admin/leaked", include_in_schema=False)
async def admin_leaked(request: Request) -> Response:
    admin = await require_admin(request)
    form = await checked_form(request)
    pasted = list(dict.fromkeys(_field(form, "tokens", 64 * 1024).replace(",", " ").split()))
    if len(pasted) > MAX_LEAKED_TOKENS:
        raise PageError(status.HTTP_400_BAD_REQUEST, f"At most {MAX_LEAKED_TOKENS} tokens at a time.")
    # Anything that is not printable ASCII cannot be a token (and cannot be
    # sent as text if it holds a NUL).
    candidates = [t for t in pasted if t.isascii() and t.isprintable() and len(t) <= 64]
    async with get_engine(request).begin() as conn:
        check = await tokens.revoke_leaked(conn, admin_actor(admin.id), candidates)
    ours = sum(check.known)
    log.info("leaked tokens pasted by administrator %s: %d given, %d of ours, %d revoked now",
             admin.id, len(pasted), ours, check.revoked)
    _notice(request, f"{len(pasted)} checked: {ours} of ours ({check.revoked} revoked now, "
                     f"{ours - check.revoked} already inactive), {len(pasted) - ours} not ours.")
    return _redirect(_admin_url(_admin_filters(form)))
