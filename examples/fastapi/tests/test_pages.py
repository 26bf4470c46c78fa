"""The pages, through httpx sessions with their own cookies (the browser
tests, in browser/, drive a real Chromium through the same flows)."""
import hashlib
import re
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from app.bootstrap import issue_token
from app.sessions import new_nonce as nonce
from app.tokens import search_query

from .conftest import status_of

TOKEN = re.compile(r'id="new-token" value="([^"]+)"')


def csrf_of(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def make_token(b, name="laptop", scopes=("tokens:read",), days="30"):
    """Creates a token on the user page; returns (page, plaintext)."""
    csrf = b.csrf("/settings/tokens")
    page = b.post("/settings/tokens", data={"csrf_token": csrf, "nonce": nonce(), "name": name, "scopes": list(scopes),
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


def row_of(page, prefix):
    """The table row of the token with this prefix."""
    return re.search(r'<tr data-token-id="[^"]+" data-prefix="%s">.*?</tr>' % re.escape(prefix), page.text,
                     re.S).group(0)


def expiry_of(admin, token_id):
    with admin.begin() as conn:
        return conn.execute(text("SELECT expires_at FROM api_tokens.api_tokens WHERE id = :id"),
                            {"id": token_id}).scalar_one()


@pytest.mark.parametrize("grace, old_status, listed", [
    ("0", "rotated", r"^rotated$"),
    ("3600", "valid", r"^rotated \(grace until \d{4}-\d\d-\d\d \d\d:\d\d\)$"),
])
def test_rotate_on_the_page(browser, new_web_user, run, engine, grace, old_status, listed):
    b = browser()
    b.login(new_web_user())
    _, old = make_token(b)
    page = b.get("/settings/tokens")
    r = b.post(f"/settings/tokens/{row_id(page, old[:8])}/rotate",
               data={"csrf_token": csrf_of(page), "nonce": nonce(), "grace_seconds": grace, "expires_days": ""})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    new = TOKEN.search(r.text).group(1)
    assert new != old and "The old token" in r.text
    assert status_of(run, engine, new) == "valid"
    assert status_of(run, engine, old) == old_status

    row = row_of(b.get("/settings/tokens"), old[:8])
    status_cell = re.sub(r"<[^>]+>", "", re.search(r"<td data-label=\"Status\">(.*?)</td>", row, re.S).group(1)).strip()
    assert re.search(listed, status_cell), status_cell
    assert 'class="status status-rotated"' in row
    assert 'class="rotate"' not in row  # a token is rotated once
    assert ('class="revoke"' in row) == (grace != "0")  # ending the grace period early


@pytest.mark.parametrize("days", ["", "7", "365"])
def test_rotate_on_the_page_with_a_new_expiry(browser, new_web_user, admin, days):
    b = browser()
    b.login(new_web_user())
    _, old = make_token(b, days="30")
    page = b.get("/settings/tokens")
    old_id = row_id(page, old[:8])
    r = b.post(f"/settings/tokens/{old_id}/rotate",
               data={"csrf_token": csrf_of(page), "nonce": nonce(), "grace_seconds": "3600", "expires_days": days})
    assert r.status_code == 200, r.text
    new_id = row_id(b.get("/settings/tokens"), TOKEN.search(r.text).group(1)[:8])
    lifetime = expiry_of(admin, new_id) - datetime.now(timezone.utc)
    # Empty: as the old token, made for 30 days.
    expected = timedelta(days=int(days or "30"))
    assert expected - timedelta(minutes=1) < lifetime <= expected


def test_attack_bad_expiry_on_the_rotate_form(browser, new_web_user, run, engine):
    """Only the form's choices: no other number of days, and never a number
    of seconds."""
    b = browser()
    b.login(new_web_user())
    _, old = make_token(b)
    page = b.get("/settings/tokens")
    for days in ("0", "1", "366", "-7", "x", "7.0", "2592000", "\u0667"):
        r = b.post(f"/settings/tokens/{row_id(page, old[:8])}/rotate",
                   data={"csrf_token": csrf_of(page), "nonce": nonce(), "grace_seconds": "0", "expires_days": days})
        assert r.status_code == 400, (days, r.text)
    assert status_of(run, engine, old) == "valid"


def test_rotating_twice_on_the_page_names_the_replacement(browser, new_web_user, run, engine):
    """From a page loaded before the first rotation (another tab): 409, and
    the replacement to rotate instead, which is the user's own."""
    b = browser()
    b.login(new_web_user())
    _, old = make_token(b, "staging")
    page = b.get("/settings/tokens")
    path = f"/settings/tokens/{row_id(page, old[:8])}/rotate"
    first = b.post(path, data={"csrf_token": csrf_of(page), "nonce": nonce(), "grace_seconds": "3600"})
    new = TOKEN.search(first.text).group(1)
    r = b.post(path, data={"csrf_token": csrf_of(page), "nonce": nonce(), "grace_seconds": "0"})
    assert r.status_code == 409, r.text
    assert f"its replacement is “staging” ({new[:8]}…)" in r.text
    assert status_of(run, engine, new) == "valid"
    assert status_of(run, engine, old) == "valid"  # still in its grace period


@pytest.mark.parametrize("fields, status", [
    ({"name": "   "}, 422), ({"name": "a\u202eb"}, 422), ({"name": "a\x00b"}, 400),
    ({"name": "x" * 101}, 422), ({"scopes": ["admin"]}, 422),
    ({"expires_days": "100000"}, 400), ({"expires_days": "-1"}, 400), ({"expires_days": "true"}, 400),
    ({"expires_days": "\u0663\u0660"}, 400),  # 30 in Arabic-Indic digits, which int() reads
])
def test_attack_bad_input_on_the_page(browser, new_web_user, fields, status):
    b = browser()
    b.login(new_web_user())
    data = {"csrf_token": b.csrf("/settings/tokens"), "nonce": nonce(), "name": "ok", "scopes": ["tokens:read"],
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
    for action, data in (("revoke", {}), ("rotate", {"grace_seconds": "0", "nonce": nonce()})):
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


def test_admin_revokes_a_family(browser, new_web_user, run, engine):
    """A token rotated twice (first -> second -> third), and a token of
    another lineage of the same user: revoking the family of the first,
    found by its prefix (a leak of an old token, say), stops the whole
    lineage and nothing else."""
    a = browser()
    a.login(new_web_user())
    _, first = make_token(a, "deploy")
    _, other = make_token(a, "other")
    page = a.get("/settings/tokens")
    second = TOKEN.search(a.post(f"/settings/tokens/{row_id(page, first[:8])}/rotate",
                                 data={"csrf_token": csrf_of(page), "nonce": nonce(),
                                       "grace_seconds": "86400"}).text).group(1)
    page = a.get("/settings/tokens")
    third = TOKEN.search(a.post(f"/settings/tokens/{row_id(page, second[:8])}/rotate",
                                data={"csrf_token": csrf_of(page), "nonce": nonce(),
                                      "grace_seconds": "0"}).text).group(1)
    assert [status_of(run, engine, t) for t in (first, second, third)] == ["valid", "rotated", "valid"]

    admin = browser()
    admin.login(new_web_user(is_admin=True))
    page = admin.get("/admin/tokens", params={"prefix": first[:8]})
    row = row_of(page, first[:8])
    assert 'class="grace"' in row and "(grace until" in row and 'class="revoke-family"' in row
    # A token that was never rotated has no family to revoke.
    assert 'class="revoke-family"' not in row_of(admin.get("/admin/tokens", params={"prefix": other[:8]}), other[:8])

    r = admin.post(f"/admin/tokens/{row_id(page, first[:8])}/revoke-family",
                   data={"csrf_token": csrf_of(page), "prefix": first[:8]})
    assert r.status_code == 303 and r.headers["location"] == f"/admin/tokens?prefix={first[:8]}"
    assert "2 active tokens of the family revoked." in admin.get(r.headers["location"]).text
    assert [status_of(run, engine, t) for t in (first, second, third)] == ["rotated", "rotated", "inactive"]
    assert status_of(run, engine, other) == "valid"


def test_attack_revoke_family_as_a_user(browser, new_web_user, run, engine):
    b = browser()
    b.login(new_web_user())
    _, token = make_token(b)
    page = b.get("/settings/tokens")
    r = b.post(f"/admin/tokens/{row_id(page, token[:8])}/revoke-family", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 403, r.text
    assert status_of(run, engine, token) == "valid"


def test_events_record_who_acted_on_the_pages(browser, new_web_user, admin):
    """user:<id> for what users do on their page, admin:<id> for the admin
    page."""
    user, boss = new_web_user(), new_web_user(is_admin=True)
    b = browser()
    b.login(user)
    _, first = make_token(b, "first")
    page = b.get("/settings/tokens")
    first_id = row_id(page, first[:8])
    second = TOKEN.search(b.post(f"/settings/tokens/{first_id}/rotate",
                                 data={"csrf_token": csrf_of(page), "nonce": nonce(),
                                       "grace_seconds": "0"}).text).group(1)
    page = b.get("/settings/tokens")
    second_id = row_id(page, second[:8])
    _, third = make_token(b, "third")
    third_id = row_id(b.get("/settings/tokens"), third[:8])
    assert b.post(f"/settings/tokens/{second_id}/revoke", data={"csrf_token": csrf_of(page)}).status_code == 303

    a = browser()
    a.login(boss)
    csrf = a.csrf("/admin/tokens")
    assert a.post(f"/admin/tokens/{third_id}/revoke", data={"csrf_token": csrf}).status_code == 303

    with admin.begin() as conn:
        events = conn.execute(text(
            "SELECT event, token_id::text, actor FROM api_tokens.api_token_events WHERE user_id = :user ORDER BY id"),
            {"user": user.id}).all()
    me, boss_actor = f"user:{user.id}", f"admin:{boss.id}"
    assert [tuple(e) for e in events] == [
        ("created", first_id, me),
        ("rotated", first_id, me),
        ("created", second_id, me),
        ("created", third_id, me),
        ("revoked", second_id, me),
        ("revoked", third_id, boss_actor),
    ]


# ------------------------------------------------ issue 18: pages

def token_count(admin, email):
    with admin.begin() as conn:
        return conn.execute(text("SELECT count(*) FROM api_tokens.api_tokens t JOIN public.users u"
                                 " ON u.id = t.user_id WHERE u.email = :email"), {"email": email}).scalar_one()


def test_attack_reload_mints_a_second_token(browser, new_web_user, admin):
    """Reloading the page that showed a new token sends its form again: it
    used to make another token.  The form's nonce makes it once; the second
    send gets the list and a word on why no token is shown."""
    user = new_web_user()
    b = browser()
    b.login(user)
    data = {"csrf_token": b.csrf("/settings/tokens"), "nonce": nonce(), "name": "once", "scopes": ["tokens:read"],
            "expires_days": "30"}
    first = b.post("/settings/tokens", data=data)
    assert first.status_code == 200 and TOKEN.search(first.text)
    again = b.post("/settings/tokens", data=data)
    assert again.status_code == 303 and again.headers["location"] == "/settings/tokens"
    assert "already sent" in b.get("/settings/tokens").text
    assert token_count(admin, user.email) == 1

    page = b.get("/settings/tokens")
    rotate = {"csrf_token": csrf_of(page), "nonce": nonce(), "grace_seconds": "3600"}
    path = f"/settings/tokens/{row_id(page, TOKEN.search(first.text).group(1)[:8])}/rotate"
    assert b.post(path, data=rotate).status_code == 200
    assert b.post(path, data=rotate).status_code == 303
    assert token_count(admin, user.email) == 2


def test_attack_concurrent_submits_of_one_form(client, browser, new_web_user, admin):
    """Five submits of one form at once (a double click, five times) make
    one token."""
    user = new_web_user()
    b = browser()
    b.login(user)
    data = {"csrf_token": b.csrf("/settings/tokens"), "nonce": nonce(), "name": "clicked", "scopes": ["tokens:read"],
            "expires_days": "7"}
    results = []
    threads = [threading.Thread(target=lambda: results.append(b.post("/settings/tokens", data=data).status_code))
               for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [200, 303, 303, 303, 303]
    assert token_count(admin, user.email) == 1


def test_a_token_needs_a_scope_on_the_page(browser, new_web_user, admin):
    user = new_web_user()
    b = browser()
    b.login(user)
    r = b.post("/settings/tokens", data={"csrf_token": b.csrf("/settings/tokens"), "nonce": nonce(),
                                         "name": "nothing", "expires_days": "7"})
    assert r.status_code == 422 and "Choose at least one scope" in r.text
    assert 'value="nothing"' in r.text  # a valid name is kept in the form
    assert token_count(admin, user.email) == 0


@pytest.mark.parametrize("name", ["\u2800", "\u3164", "\u3164\u3164 admin", "e" + "\u0301" * 4,
                                  "\u0301x", "a\u115fb", "x\u034fy"])
def test_attack_invisible_or_stacked_name(client, browser, new_web_user, new_caller, name):
    """Names that draw nothing (Braille blank, Hangul fillers) or draw over
    other rows (stacks of combining marks): refused by the page and the API,
    and not shown back."""
    b = browser()
    b.login(new_web_user())
    r = b.post("/settings/tokens", data={"csrf_token": b.csrf("/settings/tokens"), "nonce": nonce(), "name": name,
                                         "scopes": ["tokens:read"], "expires_days": "7"})
    assert r.status_code == 422, r.text
    assert name not in r.text
    caller = new_caller()
    assert client.post("/tokens", headers=caller.headers, json={"name": name}).status_code == 422


def test_names_set_outside_the_application_are_shown_safely(browser, new_web_user, admin):
    """A name the rules would refuse, stored by other means, is shown with
    the offending characters replaced, or as "(no visible name)"."""
    b = browser()
    user = new_web_user()
    b.login(user)
    _, blank = make_token(b, "blank")
    _, stacked = make_token(b, "stacked")
    with admin.begin() as conn:
        for prefix, name in ((blank[:8], "\u2800\u3164"), (stacked[:8], "x" + "\u0336" * 40)):
            conn.execute(text("UPDATE api_tokens.api_tokens SET name = :n WHERE token_prefix = :p"),
                         {"n": name, "p": prefix})
    page = b.get("/settings/tokens")
    assert "(no visible name)" in row_of(page, blank[:8])
    assert "\u0336" * 4 not in page.text and "\u2800" not in page.text


def test_attack_name_rewrites_the_confirmation(browser, new_web_user):
    """A name written as a sentence ("x” of bob? Harmless, click OK “y")
    turned the confirmation of a revocation into another question: the
    confirmations name the token by its prefix only."""
    b = browser()
    b.login(new_web_user())
    name = "x” of nobody? This is harmless. Revoke “y"
    _, token = make_token(b, name)
    page = b.get("/settings/tokens")
    confirms = re.findall(r'data-confirm="([^"]*)"', row_of(page, token[:8]))
    assert confirms and all(token[:8] in c and "harmless" not in c for c in confirms)


def test_lineage_and_expiry_of_rotated_tokens(browser, new_web_user):
    """After a rotation both tokens have the same name: each says which
    prefix it replaced or was replaced by.  The rotated token's Expires
    column shows no date (the extension set it to the end of the grace
    period, which the status shows)."""
    b = browser()
    b.login(new_web_user())
    _, old = make_token(b, "deploy")
    page = b.get("/settings/tokens")
    r = b.post(f"/settings/tokens/{row_id(page, old[:8])}/rotate",
               data={"csrf_token": csrf_of(page), "nonce": nonce(), "grace_seconds": "3600"})
    new = TOKEN.search(r.text).group(1)
    assert f"<code>{old[:8]}…</code> stops working" in r.text
    page = b.get("/settings/tokens")
    assert f"replaces <code>{old[:8]}…</code>" in row_of(page, new[:8])
    assert f"replaced by <code>{new[:8]}…</code>" in row_of(page, old[:8])
    expires = re.search(r'<td class="when" data-label="Expires">(.*?)</td>', row_of(page, old[:8]), re.S).group(1)
    assert "—" in expires and not re.search(r"\d{4}-", expires)
    assert "(grace until" in row_of(page, old[:8])


def test_rotating_a_never_expiring_token_on_the_page(browser, new_web_user, admin):
    """A token that never expires (made by the bootstrap command): its
    replacement expires after the maximum lifetime, and the form says so."""
    user = new_web_user()
    with admin.begin() as conn:
        _, token_id, token = issue_token(conn, user.email, "forever", ["tokens:read"])
    b = browser()
    b.login(user)
    page = b.get("/settings/tokens")
    assert "the maximum; the old one never expires" in row_of(page, token[:8])
    r = b.post(f"/settings/tokens/{token_id}/rotate",
               data={"csrf_token": csrf_of(page), "nonce": nonce(), "grace_seconds": "0", "expires_days": ""})
    assert r.status_code == 200, r.text
    new_id = row_id(b.get("/settings/tokens"), TOKEN.search(r.text).group(1)[:8])
    lifetime = expiry_of(admin, new_id) - datetime.now(timezone.utc)
    assert timedelta(days=364) < lifetime <= timedelta(days=365)


def test_attack_token_in_the_admin_email_box(browser, new_web_user):
    """The search form posts; a whole token typed into either box is refused
    before any URL is made, and not shown back."""
    b = browser()
    b.login(new_web_user(is_admin=True))
    _, token = make_token(b)
    csrf = b.csrf("/admin/tokens")
    for fields in ({"user": token}, {"user": f"see {token} here"}, {"prefix": token}):
        r = b.post("/admin/search", data={"csrf_token": csrf, **fields})
        if "prefix" in fields:  # the prefix box keeps the prefix
            assert r.status_code == 422 and token not in r.text and token[:8] in r.text
            continue
        assert r.status_code == 422, r.text
        assert "whole token" in r.text and token not in r.text and "location" not in r.headers
    # Typed into a URL by hand: refused, not shown back.
    r = b.get("/admin/tokens", params={"user": token})
    assert r.status_code == 422 and token not in r.text
    r = b.post("/admin/search", data={"csrf_token": csrf, "prefix": token[:8], "user": "example"})
    assert r.status_code == 303 and r.headers["location"] == f"/admin/tokens?prefix={token[:8]}&user=example"


def test_an_invalid_prefix_says_so_and_keeps_the_email_filter(browser, new_web_user):
    b = browser()
    b.login(new_web_user(is_admin=True))
    r = b.get("/admin/tokens", params={"prefix": "pat_", "user": "alice"})
    assert r.status_code == 422 and "first 8 characters" in r.text
    assert re.search(r'name="user" value="alice"', r.text)
    assert "No tokens found" not in r.text  # no search was made: it does not claim none was found


def test_admin_pages_through_more_than_50_tokens(browser, new_web_user, admin):
    user = new_web_user()
    with admin.begin() as conn:
        for i in range(53):
            issue_token(conn, user.email, f"bulk {i}", ["tokens:read"], 3600)
    b = browser()
    b.login(new_web_user(is_admin=True))
    first = b.get("/admin/tokens", params={"user": user.email})
    assert first.text.count("data-token-id=") == 50
    older = re.search(r'<a href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
    assert "page=2" in older
    second = b.get(older)
    assert second.text.count("data-token-id=") == 3
    assert 'rel="next"' not in second.text and 'rel="prev"' in second.text
    # The leaked-token form comes before the list, however long.
    assert first.text.index('id="leaked"') < first.text.index('class="tokens"')
    assert b.get("/admin/tokens", params={"page": "0"}).status_code == 400


@pytest.mark.parametrize("path, method, status", [("/nowhere", "GET", 404), ("/logout", "GET", 405),
                                                  ("/settings/tokens/x/revoke", "GET", 405)])
def test_error_pages_keep_the_navigation(browser, new_web_user, path, method, status):
    b = browser()
    user = new_web_user()
    b.login(user)
    r = b.request(method, path, headers={"Accept": "text/html"})
    assert r.status_code == status
    assert user.email in r.text and 'href="/settings/tokens"' in r.text and 'action="/logout"' in r.text
    assert re.search(r'<a href="/settings/tokens" id="back">', r.text)  # not to "/"


def test_attack_lone_surrogate_name_through_a_form_charset(browser, new_web_user, admin):
    """A name sent as multipart with charset=unicode_escape becomes a lone
    surrogate: the page that refused it showed it back, and could not be
    encoded (a 500).  It is refused (400) and not shown back."""
    user = new_web_user()
    b = browser()
    b.login(user)
    fields = {"csrf_token": b.csrf("/settings/tokens"), "nonce": nonce(), "name": "\\ud800pat_shown",
              "scopes": "tokens:read", "expires_days": "7"}
    body = b"".join(b'--b\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (k.encode(), v.encode())
                    for k, v in fields.items()) + b"--b--\r\n"
    r = b.post("/settings/tokens", content=body,
               headers={"Content-Type": "multipart/form-data; boundary=b; charset=unicode_escape"})
    assert r.status_code == 400, r.text
    assert "pat_shown" not in r.text
    assert token_count(admin, user.email) == 0
