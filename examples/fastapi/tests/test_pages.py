"""The pages, through httpx sessions with their own cookies (the browser
tests, in browser/, drive a real Chromium through the same flows)."""
import hashlib
import re

import pytest
from sqlalchemy import text

from app.tokens import search_query

from .conftest import status_of

TOKEN = re.compile(r'id="new-token" value="([^"]+)"')


def csrf_of(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def make_token(b, name="laptop", scopes=("tokens:read",), days="30"):
    """Creates a token on the user page; returns (page, plaintext)."""
    csrf = b.csrf("/settings/tokens")
    page = b.post("/settings/tokens", data={"csrf_token": csrf, "name": name, "scopes": list(scopes),
                                            "expires_days": days})
    assert page.status_code == 200, page.text
    return page, TOKEN.search(page.text).group(1)


def row_id(page, prefix):
    return re.search(r'data-token-id="([^"]+)" data-prefix="%s"' % re.escape(prefix), page.text).group(1)


def test_pages_need_a_login(browser):
    b = browser()
    for path in ("/", "/settings/tokens", "/admin/tokens"):
        r = b.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    r = b.post("/settings/tokens", data={"name": "x"})
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_login_and_logout(browser, new_web_user):
    user = new_web_user()
    b = browser()
    r = b.login(user)
    assert r.headers["location"] == "/settings/tokens"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    page = b.get("/settings/tokens")
    assert page.status_code == 200 and user.email in page.text
    assert "Personal access tokens" in page.text
    r = b.post("/logout", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 303
    assert b.get("/settings/tokens").status_code == 303


def test_wrong_password_or_unknown_user(browser, new_web_user):
    user = new_web_user()
    answers = []
    for email, password in ((user.email, "wrong"), ("nobody@example.com", user.password)):
        b = browser()
        r = b.post("/login", data={"email": email, "password": password, "csrf_token": b.csrf("/login")})
        answers.append((r.status_code, "Wrong email or password." in r.text))
    assert answers == [(401, True), (401, True)]


def test_create_use_and_revoke_a_token(client, browser, new_web_user, run, engine):
    user = new_web_user()
    b = browser()
    b.login(user)
    page, token = make_token(b, "deploy key", ["tokens:read"])
    assert page.headers["cache-control"] == "no-store"
    assert "You will not see it again" in page.text

    r = client.get("/tokens", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    [listed] = r.json()
    assert listed["name"] == "deploy key" and listed["scopes"] == ["tokens:read"]

    # After its one display, the token is on no page, nor its hash.
    tokens_page = b.get("/settings/tokens")
    assert token[:8] in tokens_page.text
    assert token not in tokens_page.text
    assert hashlib.sha256(token.encode()).hexdigest() not in tokens_page.text

    r = b.post(f"/settings/tokens/{listed['id']}/revoke", data={"csrf_token": csrf_of(tokens_page)})
    assert r.status_code == 303
    after = b.get("/settings/tokens")
    assert "Token revoked" in after.text and 'status-revoked' in after.text
    assert status_of(run, engine, token) == "inactive"
    assert client.get("/tokens", headers={"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.parametrize("grace, old_status", [("0", "inactive"), ("3600", "valid")])
def test_rotate_on_the_page(browser, new_web_user, run, engine, grace, old_status):
    b = browser()
    b.login(new_web_user())
    _, old = make_token(b)
    page = b.get("/settings/tokens")
    r = b.post(f"/settings/tokens/{row_id(page, old[:8])}/rotate",
               data={"csrf_token": csrf_of(page), "grace_seconds": grace})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    new = TOKEN.search(r.text).group(1)
    assert new != old and "The old token" in r.text
    assert status_of(run, engine, new) == "valid"
    assert status_of(run, engine, old) == old_status


@pytest.mark.parametrize("fields, status", [
    ({"name": "   "}, 422), ({"name": "a\u202eb"}, 422), ({"name": "a\x00b"}, 400),
    ({"name": "x" * 101}, 422), ({"scopes": ["admin"]}, 422),
    ({"expires_days": "100000"}, 400), ({"expires_days": "-1"}, 400), ({"expires_days": "true"}, 400),
])
def test_attack_bad_input_on_the_page(browser, new_web_user, fields, status):
    b = browser()
    b.login(new_web_user())
    data = {"csrf_token": b.csrf("/settings/tokens"), "name": "ok", "scopes": ["tokens:read"],
            "expires_days": "30", **fields}
    r = b.post("/settings/tokens", data=data)
    assert r.status_code == status, r.text
    assert 'id="new-token"' not in r.text


def test_attack_csrf(client, browser, new_web_user, run, engine):
    """A forged revocation: no CSRF token, a wrong one, another session's,
    or the right one from a foreign Origin.  The token survives them all."""
    victim = new_web_user()
    b = browser()
    b.login(victim)
    _, token = make_token(b)
    page = b.get("/settings/tokens")
    path = f"/settings/tokens/{row_id(page, token[:8])}/revoke"

    other = browser()
    other.login(new_web_user())
    foreign_csrf = other.csrf("/settings/tokens")

    attempts = [
        ({}, {}),
        ({"csrf_token": "forged"}, {}),
        ({"csrf_token": foreign_csrf}, {}),
        ({"csrf_token": csrf_of(page)}, {"Origin": "https://evil.example"}),
    ]
    for data, headers in attempts:
        r = b.post(path, data=data, headers=headers)
        assert r.status_code == 403, (data, headers, r.text)
        assert "CSRF" in r.text
    assert status_of(run, engine, token) == "valid"

    # Login CSRF: logging a victim in to the attacker's account.
    r = browser().post("/login", data={"email": victim.email, "password": victim.password})
    assert r.status_code == 403

    # The genuine form works.
    r = b.post(path, data={"csrf_token": csrf_of(page)}, headers={"Origin": "http://testserver"})
    assert r.status_code == 303
    assert status_of(run, engine, token) == "inactive"


def test_attack_revoke_or_rotate_another_users_token_on_the_page(browser, new_web_user, run, engine):
    alice, mallory = browser(), browser()
    alice.login(new_web_user())
    mallory.login(new_web_user())
    _, token = make_token(alice)
    token_id = row_id(alice.get("/settings/tokens"), token[:8])
    csrf = mallory.csrf("/settings/tokens")
    for action, data in (("revoke", {}), ("rotate", {"grace_seconds": "0"})):
        r = mallory.post(f"/settings/tokens/{token_id}/{action}", data={"csrf_token": csrf, **data})
        assert r.status_code == 404, r.text
    assert status_of(run, engine, token) == "valid"


def test_attack_non_admin_on_the_admin_page(browser, new_web_user, run, engine):
    b = browser()
    user = new_web_user()
    b.login(user)
    _, token = make_token(b)
    assert b.get("/admin/tokens").status_code == 403
    csrf = b.csrf("/settings/tokens")
    for path, data in ((f"/admin/users/{user.id}/revoke", {}), ("/admin/leaked", {"tokens": token})):
        r = b.post(path, data={"csrf_token": csrf, **data})
        assert r.status_code == 403, r.text
    assert status_of(run, engine, token) == "valid"


def test_admin_search_revoke_and_leaked(browser, new_web_user, run, engine):
    alice = new_web_user()
    a = browser()
    a.login(alice)
    _, first = make_token(a, "first")
    _, second = make_token(a, "second")
    _, third = make_token(a, "third")

    admin = browser()
    admin.login(new_web_user(is_admin=True))
    page = admin.get("/admin/tokens", params={"prefix": first[:8]})
    assert page.status_code == 200
    assert alice.email in page.text and first[:8] in page.text
    assert second[:8] not in page.text
    # Shown as the lists show it, with the ellipsis: also found.
    assert first[:8] in admin.get("/admin/tokens", params={"prefix": first[:8] + "…"}).text
    bad = admin.get("/admin/tokens", params={"prefix": "pat_"})
    assert bad.status_code == 422 and "first 8 characters" in bad.text

    by_user = admin.get("/admin/tokens", params={"user": alice.email.split("@")[0]})
    for t in (first, second, third):
        assert t[:8] in by_user.text

    # Revoke one.
    csrf = csrf_of(page)
    r = admin.post(f"/admin/tokens/{row_id(page, first[:8])}/revoke",
                   data={"csrf_token": csrf, "prefix": first[:8]})
    assert r.status_code == 303 and r.headers["location"] == f"/admin/tokens?prefix={first[:8]}"
    assert status_of(run, engine, first) == "inactive"

    # Paste leaked tokens: ours are revoked, the rest reported as not ours.
    r = admin.post("/admin/leaked", data={"csrf_token": csrf,
                                          "tokens": f"{second}\nnot-a-token, pat_x {first}"})
    assert r.status_code == 303
    notice = admin.get("/admin/tokens").text
    assert "4 checked: 2 of ours (1 revoked now, 1 already inactive), 2 not ours." in notice
    assert status_of(run, engine, second) == "inactive"
    assert second not in notice

    # Revoke all of the user's tokens.
    r = admin.post(f"/admin/users/{alice.id}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 303
    assert "1 active token of the user revoked." in admin.get("/admin/tokens").text
    assert status_of(run, engine, third) == "inactive"


def test_attack_nul_in_login_or_search(browser, new_web_user):
    """A NUL cannot be sent to PostgreSQL as text: refused or dropped
    before any query, never a 500."""
    b = browser()
    r = b.post("/login", data={"email": "a\x00@example.com", "password": "x", "csrf_token": b.csrf("/login")})
    assert r.status_code == 400, r.text
    b.login(new_web_user(is_admin=True))
    for params in ({"user": "a\x00b"}, {"prefix": "pat_\x00xyz"}):
        r = b.get("/admin/tokens", params=params)
        assert r.status_code in (200, 422), (params, r.text)


def test_admin_prefix_search_uses_the_index(admin):
    query = search_query("pat_AbCd", None)
    from sqlalchemy.dialects import postgresql
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    with admin.connect() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(conn.execute(text("EXPLAIN " + sql)).scalars())
    assert "ix_api_tokens_token_prefix" in plan, plan


def test_attack_tokens_in_urls(browser, new_web_user):
    """Every form that carries a token, or could, posts it; the search box
    keeps at most a prefix."""
    b = browser()
    b.login(new_web_user(is_admin=True))
    page = b.get("/admin/tokens").text + b.get("/settings/tokens").text
    for form in re.findall(r"<form[^>]*>", page):
        if 'id="search"' in form:
            continue
        assert 'method="post"' in form, form
    assert re.search(r'<input type="text" name="prefix"[^>]*maxlength="8"', page)


def test_security_headers(browser, new_web_user):
    b = browser()
    b.login(new_web_user())
    r = b.get("/settings/tokens")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    assert "<script>" not in r.text  # no inline script: the policy would block it
