"""Login sessions that can be ended, login throttling, proxies and the
settings (README.md, "Sessions" and "Settings")."""
import dataclasses
import hashlib
import re
import time
from contextlib import contextmanager

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.bootstrap import set_login
from app.main import app, create_app
from app.settings import Settings, SettingsError
from app.throttle import Busy, Hashing, Window, address_key

from .conftest import BASE_URL, PASSWORD, Browser, record_server_errors


def csrf_of(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def copy_of(b: Browser, browser) -> Browser:
    """Another client with the same cookies: a stolen or copied cookie."""
    other = browser()
    for cookie in b.cookies.jar:
        other.cookies.set(cookie.name, cookie.value)
    return other


def logged_in(b: Browser) -> bool:
    r = b.get("/settings/tokens")
    assert r.status_code in (200, 303), r.text
    return r.status_code == 200


def test_logout_ends_the_session_everywhere(browser, new_web_user):
    """Logging out deletes the session, not just the browser's cookie: a
    copy of the cookie stops working at once."""
    b = browser()
    b.login(new_web_user())
    stolen = copy_of(b, browser)
    assert logged_in(stolen)
    r = b.post("/logout", data={"csrf_token": csrf_of(b.get("/settings/tokens"))})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert not logged_in(b) and not logged_in(stolen)


def test_password_change_ends_the_sessions(browser, new_web_user, admin):
    user = new_web_user()
    b = browser()
    b.login(user)
    with admin.begin() as conn:
        set_login(conn, user.email, "a new password", None)
    assert not logged_in(b)
    assert b.post("/login", data={"email": user.email, "password": PASSWORD,
                                  "csrf_token": b.csrf("/login")}).status_code == 401
    b.login(dataclasses.replace(user, password="a new password"))
    # The admin flag alone is no password change: the session stays.
    with admin.begin() as conn:
        set_login(conn, user.email, None, False)
    assert logged_in(b)


def test_admin_ends_a_users_sessions(browser, new_web_user, run, engine):
    user = new_web_user()
    laptop, phone = browser(), browser()
    laptop.login(user)
    phone.login(user)
    boss = browser()
    boss.login(new_web_user(is_admin=True))
    page = boss.get("/admin/tokens", params={"user": user.email})
    r = boss.post(f"/admin/users/{user.id}/end-sessions", data={"csrf_token": csrf_of(page), "user": user.email})
    assert r.status_code == 303, r.text
    assert "2 sessions of the user ended." in boss.get(r.headers["location"]).text
    assert not logged_in(laptop) and not logged_in(phone)
    assert logged_in(boss)


def _age_session(admin, user_id, column, seconds):
    with admin.begin() as conn:
        conn.execute(text(f"UPDATE public.web_sessions SET {column} = {column} - make_interval(secs => :s)"
                          " WHERE user_id = :id"), {"s": seconds, "id": user_id})


def test_session_idle_timeout(browser, new_web_user, admin):
    user = new_web_user()
    b = browser()
    b.login(user)
    idle = app.state.settings.session_idle_seconds
    _age_session(admin, user.id, "last_seen_at", idle - 60)
    assert logged_in(b)  # a request: the idle time starts again
    _age_session(admin, user.id, "last_seen_at", idle + 1)
    assert not logged_in(b)


def test_session_absolute_lifetime(browser, new_web_user, admin):
    """Activity does not extend a session past its lifetime, and the cookie
    is not sent again with every response (it was re-signed on every
    response, which made eight hours an idle timeout)."""
    user = new_web_user()
    b = browser()
    b.login(user)
    r = b.get("/settings/tokens")
    assert r.status_code == 200 and "set-cookie" not in r.headers
    _age_session(admin, user.id, "created_at", app.state.settings.session_lifetime_seconds - 60)
    assert logged_in(b)
    _age_session(admin, user.id, "created_at", 61)
    assert not logged_in(b)


def test_the_database_holds_no_usable_session_cookie(browser, new_web_user, admin):
    user = new_web_user()
    b = browser()
    b.login(user)
    cookie = b.cookies["session"]
    with admin.begin() as conn:
        ids = conn.execute(text("SELECT id FROM public.web_sessions WHERE user_id = :id"),
                           {"id": user.id}).scalars().all()
    assert ids == [hashlib.sha256(cookie.encode()).hexdigest()]


def test_a_login_starts_a_new_session(browser, new_web_user):
    """Logging in again from a signed-in browser ends the session it had."""
    user = new_web_user()
    b = browser()
    csrf = b.csrf("/login")
    form = {"email": user.email, "password": user.password, "csrf_token": csrf}
    assert b.post("/login", data=form).status_code == 303
    before = copy_of(b, browser)
    assert b.post("/login", data=form).status_code == 303
    assert logged_in(b)
    assert not logged_in(before)


def test_expired_login_form_shows_the_login_page(browser, new_web_user):
    """A login form whose cookie is gone (the browser was closed, or a
    stale tab) gets the login page again with a fresh form, not a CSRF
    error page; the second try works."""
    user = new_web_user()
    b = browser()
    csrf = b.csrf("/login")
    b.cookies.clear()
    r = b.post("/login", data={"email": user.email, "password": user.password, "csrf_token": csrf})
    assert r.status_code == 403
    assert "This login form had expired" in r.text and 'id="login"' in r.text
    assert "CSRF" not in r.text
    r = b.post("/login", data={"email": user.email, "password": user.password, "csrf_token": csrf_of(r)})
    assert r.status_code == 303, r.text


def test_login_email_ignores_case(browser, new_web_user):
    user = new_web_user()
    b = browser()
    r = b.post("/login", data={"email": f"  {user.email.upper()} ", "password": user.password,
                               "csrf_token": b.csrf("/login")})
    assert r.status_code == 303, r.text


def test_attack_guess_an_accounts_password(browser, new_web_user):
    """After LOGIN_ATTEMPTS_PER_ACCOUNT attempts, the account is refused
    (429), the right password included, whichever case the email is typed
    in; other accounts are not affected."""
    user, other = new_web_user(), new_web_user()
    b = browser()
    for i in range(app.state.settings.login_attempts_per_account):
        r = b.post("/login", data={"email": user.email if i % 2 else user.email.upper(), "password": f"guess {i}",
                                   "csrf_token": b.csrf("/login")})
        assert r.status_code == 401, r.text
    r = b.post("/login", data={"email": user.email, "password": user.password, "csrf_token": b.csrf("/login")})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "Too many login attempts" in r.text
    browser().login(other)


class FromAddress:
    """The application as seen from a client at `host` (TestClient's is
    "testclient")."""

    def __init__(self, app, host: str) -> None:
        self.app = app
        self.host = host

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            scope = {**scope, "client": (self.host, 40000)}
        await self.app(scope, receive, send)


@contextmanager
def application(**settings):
    """An application of its own, with these settings changed."""
    wrapped = FromAddress(create_app(dataclasses.replace(Settings.from_env(), **settings)), "198.51.100.7")
    with TestClient(wrapped, base_url=BASE_URL) as c:
        c.follow_redirects = False
        c.event_hooks = {"request": [], "response": [record_server_errors]}
        yield c, wrapped


def _login(c, email, password, headers=None):
    c.cookies.clear()  # a new visitor each time
    page = c.get("/login", headers=headers)
    return c.post("/login", data={"email": email, "password": password, "csrf_token": csrf_of(page)},
                  headers=headers)


def test_attack_spray_passwords_from_one_address(new_web_user):
    """From one address, LOGIN_ATTEMPTS_PER_ADDRESS attempts over any
    accounts; then 429.  Another address may still log in; an IPv6 client
    is counted by its /64."""
    users = [new_web_user() for _ in range(4)]
    with application(login_attempts_per_address=3) as (c, wrapped):
        for user in users[:3]:
            assert _login(c, user.email, "wrong").status_code == 401
        assert _login(c, users[3].email, users[3].password).status_code == 429
        wrapped.host = "198.51.100.8"
        assert _login(c, users[3].email, users[3].password).status_code == 303
        for i in range(3):
            wrapped.host = f"2001:db8:1:2::{i + 1}"
            assert _login(c, users[0].email, "wrong" if i < 2 else users[0].password).status_code in (401, 303)
        wrapped.host = "2001:db8:1:2::99"
        assert _login(c, users[1].email, users[1].password).status_code == 429
    assert address_key("2001:db8:1:2::99") == address_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"


def test_throttle_memory_is_bounded():
    window = Window(limit=1, window_seconds=60, max_keys=100)
    for i in range(10000):
        assert window.attempt(f"user{i}@example.com") is None
    assert len(window) == 100
    assert window.attempt("user9999@example.com") is not None  # the latest are remembered
    assert window.attempt("user0@example.com") is None  # the oldest were forgotten


def test_too_many_logins_waiting_are_refused_at_once():
    """Password hashes run in `threads` threads with at most `queue`
    waiting; the rest are refused (503) without waiting."""
    async def main():
        hashing = Hashing(threads=1, queue=2)
        results = []

        async def login():
            try:
                results.append(await hashing.run(time.sleep, 0.2))
            except Busy:
                results.append("busy")
        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(login)
        return results
    results = anyio.run(main)
    assert sorted(results, key=str) == [None, None, None, "busy", "busy", "busy"]


def test_behind_a_tls_proxy(new_web_user):
    """Behind a proxy that ends TLS, the browser's Origin is https://...
    and the application sees http: every POST was refused.  With the
    proxy's address in TRUSTED_PROXIES, X-Forwarded-Proto is believed (and
    X-Forwarded-For, for throttling); from any other address it is not."""
    user = new_web_user()
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5", "Origin": "https://testserver"}
    with application(trusted_proxies=Settings.from_env({"DATABASE_URL": "x", "SESSION_SECRET": "s" * 32,
                                                       "TRUSTED_PROXIES": "192.0.2.10/32"}).trusted_proxies,
                     login_attempts_per_address=2) as (c, wrapped):
        assert _login(c, user.email, user.password, proxy).status_code == 403  # not from the proxy
        wrapped.host = "192.0.2.10"
        assert _login(c, user.email, user.password, proxy).status_code == 303
        # The client's address is the forwarded one: counted apart from the proxy's.
        for i in range(2):
            assert _login(c, user.email, "wrong", {**proxy, "X-Forwarded-For": "203.0.113.6"}).status_code == 401
        assert _login(c, user.email, "wrong", {**proxy, "X-Forwarded-For": "203.0.113.6"}).status_code == 429
        assert _login(c, user.email, user.password, proxy).status_code == 303


def test_attack_host_header_reflected_by_a_redirect(client):
    """A trailing slash used to be redirected to a URL built from the Host
    header; there is no such redirect."""
    r = client.get("/tokens/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert r.status_code == 404
    assert "location" not in r.headers and "evil.example" not in r.text


def test_server_errors_carry_the_security_headers():
    """A 500 (a bug) says nothing of the error, and has the headers of
    every other response."""
    app = create_app()

    @app.get("/settings/boom")
    async def boom():
        raise RuntimeError("secret detail")
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/settings/boom")
    assert r.status_code == 500
    assert "secret detail" not in r.text
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("env, message", [
    ({"DATABASE_URL": "x"}, "SESSION_SECRET"),
    ({"DATABASE_URL": "x", "SESSION_SECRET": "short"}, "SESSION_SECRET"),
    ({"DATABASE_URL": "x", "SESSION_SECRET": "s" * 32, "TRUSTED_PROXIES": "proxy.example"}, "TRUSTED_PROXIES"),
    ({"DATABASE_URL": "x", "SESSION_SECRET": "s" * 32, "SESSION_IDLE_SECONDS": "7200",
      "SESSION_LIFETIME_SECONDS": "3600"}, "SESSION_IDLE_SECONDS"),
    ({"DATABASE_URL": "x", "SESSION_SECRET": "s" * 32, "LOGIN_ATTEMPTS_PER_ACCOUNT": "٣"}, "LOGIN_ATTEMPTS"),
])
def test_settings_refuse_what_would_break_later(env, message):
    """No random session secret per process (with several workers, a login
    made in one was unknown to the others), no proxy by name."""
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
