"""Limits per token (version 1.2 of the extension): the API's answers
(api_token_verify with the client's address and a cost of 1, mapped to HTTP
by api_token_http), the lists that show limits, and the admin page that sets
and removes them.

Rate limits are counted only by a server that preloads the library
(test/scripts/examples.sh starts its server so); their tests are skipped
on one that does not, and the admin page's answer there is tested instead."""
import dataclasses
import re
import uuid
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.auth import refusal
from app.bootstrap import issue_token
from app.main import create_app
from app.settings import Settings

from .conftest import BASE_URL, record_server_errors

INVALID_TOKEN = 'Bearer error="invalid_token"'


@pytest.fixture(scope="module")
def preloaded(admin):
    """Whether the server preloads the library (api_tokens_limit_state is
    for superusers and pg_read_all_stats: asked as the owner)."""
    with admin.connect() as conn:
        return conn.execute(text("SELECT preloaded FROM api_tokens.api_tokens_limit_state()")).scalar_one()


@pytest.fixture
def set_limits(admin):
    """set_limits(token_id, rate=(n, 'interval'), credits=(n, refill, 'every'),
    addresses=[...]): as the owner, through the extension's setters."""
    def set_(token_id, rate=None, credits=None, addresses=None):
        with admin.begin() as conn:
            if rate is not None:
                conn.execute(text("SELECT api_tokens.api_token_set_rate_limit(CAST(:id AS uuid),"
                                  " CAST(:n AS integer), CAST(:per AS interval))"),
                             {"id": token_id, "n": rate[0], "per": rate[1]})
            if credits is not None:
                remaining, refill, every = (tuple(credits) + (None, None))[:3]
                conn.execute(text("SELECT api_tokens.api_token_set_credits(CAST(:id AS uuid), CAST(:n AS bigint),"
                                  " CAST(:refill AS bigint), CAST(:every AS interval))"),
                             {"id": token_id, "n": remaining, "refill": refill, "every": every})
            if addresses is not None:
                conn.execute(text("SELECT api_tokens.api_token_set_allowed_addresses(CAST(:id AS uuid),"
                                  " CAST(:a AS cidr[]))"), {"id": token_id, "a": addresses})
    return set_


def limits_row(admin, token_id):
    """The token's row of api_token_limits, read as the owner (None: no limits)."""
    with admin.connect() as conn:
        return conn.execute(text(
            "SELECT rate_limit, extract(epoch FROM rate_window) AS rate_window, credits, credits_refill,"
            "       extract(epoch FROM credits_refill_every) AS refill_every,"
            "       CAST(allowed_addresses AS text[]) AS addresses"
            "  FROM api_tokens.api_token_limits WHERE token_id = CAST(:id AS uuid)"), {"id": token_id}).one_or_none()


class FromAddress:
    """The application as seen from a client at `host` (TestClient's is
    "testclient", not an IP address)."""

    def __init__(self, app, host: str) -> None:
        self.app = app
        self.host = host

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            scope = {**scope, "client": (self.host, 40000)}
        await self.app(scope, receive, send)


@contextmanager
def application(host="198.51.100.7", **settings):
    """An application of its own, seen from `host`, with these settings changed."""
    wrapped = FromAddress(create_app(dataclasses.replace(Settings.from_env(), **settings)), host)
    with TestClient(wrapped, base_url=BASE_URL) as c:
        c.event_hooks = {"request": [], "response": [record_server_errors]}
        yield c, wrapped


# ------------------------------------------------------------- the API

def test_401_for_tokens_that_are_not_valid(client, new_caller, admin):
    alice = new_caller()
    with admin.begin() as conn:
        conn.execute(text("SELECT api_tokens.api_token_revoke(:id)"), {"id": alice.token_id})
        unknown = conn.execute(text("SELECT api_tokens.api_token_generate()")).scalar_one()
    for headers in (alice.headers, {"Authorization": f"Bearer {unknown}"}, {"Authorization": "Bearer pat_x"}):
        r = client.get("/tokens", headers=headers)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == INVALID_TOKEN
        assert "retry-after" not in r.headers
    r = client.get("/tokens")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_403_insufficient_scope_names_the_scope_and_spends_no_credit(client, new_caller, set_limits):
    reader = new_caller(scopes=["tokens:read"])
    set_limits(reader.token_id, credits=[2])
    for _ in range(3):
        r = client.post("/tokens", headers=reader.headers, json={"name": "x"})
        assert r.status_code == 403, r.text
        assert r.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="tokens:write"'
    # The scopes are checked before the limits: both credits are left.
    assert [client.get("/tokens", headers=reader.headers).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize("credits", [1, 3])
def test_credits_are_spent_exactly(client, new_caller, set_limits, credits):
    """N credits: N requests succeed, then 429 (usage_exceeded), with no
    Retry-After when the credits are never refilled, and no challenge."""
    alice = new_caller()
    set_limits(alice.token_id, credits=[credits])
    answers = [client.get("/tokens", headers=alice.headers) for _ in range(credits + 2)]
    assert [r.status_code for r in answers] == [200] * credits + [429, 429]
    for r in answers[credits:]:
        assert r.json() == {"detail": "this token has no credits left"}
        assert "retry-after" not in r.headers and "www-authenticate" not in r.headers


def test_credits_with_a_refill_say_when_to_retry(client, new_caller, set_limits):
    alice = new_caller()
    set_limits(alice.token_id, credits=[1, 5, "1 hour"])
    assert client.get("/tokens", headers=alice.headers).status_code == 200
    r = client.get("/tokens", headers=alice.headers)
    assert r.status_code == 429
    assert 0 < int(r.headers["retry-after"]) <= 3600


def test_credits_set_again_start_afresh(client, new_caller, set_limits):
    alice = new_caller()
    set_limits(alice.token_id, credits=[1])
    assert [client.get("/tokens", headers=alice.headers).status_code for _ in range(2)] == [200, 429]
    set_limits(alice.token_id, credits=[2])
    assert [client.get("/tokens", headers=alice.headers).status_code for _ in range(3)] == [200, 200, 429]


def test_rate_limited(client, new_caller, set_limits, preloaded):
    if not preloaded:
        pytest.skip("rate limits need the library preloaded (shared_preload_libraries)")
    alice = new_caller()
    set_limits(alice.token_id, rate=(2, "1 hour"))
    answers = [client.get("/tokens", headers=alice.headers) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert answers[2].json() == {"detail": "too many requests with this token; retry later"}
    assert 0 < int(answers[2].headers["retry-after"]) <= 3600
    assert "www-authenticate" not in answers[2].headers
    # Removed, the token works again at once.
    set_limits(alice.token_id, rate=(None, None))
    assert client.get("/tokens", headers=alice.headers).status_code == 200


@pytest.mark.parametrize("host, allowed", [
    ("192.0.2.77", True), ("2001:db8:5::1", True),
    ("::ffff:192.0.2.77", True),  # an IPv4 client of a dual-stack socket
    ("198.51.100.7", False), ("2001:db9::1", False), ("fe80::1%eth0", False),
])
def test_address_allowlist(new_caller, set_limits, host, allowed):
    alice = new_caller()
    set_limits(alice.token_id, addresses=["192.0.2.0/24", "2001:db8::/32"])
    with application(host) as (c, _):
        r = c.get("/tokens", headers=alice.headers)
    if allowed:
        assert r.status_code == 200, r.text
    else:
        # 403 (address_denied), with no challenge: another token would not help.
        assert r.status_code == 403, r.text
        assert r.json() == {"detail": "token may not be used from this address"}
        assert "www-authenticate" not in r.headers


def test_address_allowlist_without_a_client_address(client, new_caller, set_limits):
    """TestClient's client is "testclient", not an address: no address is
    sent, and a token with an allowlist is refused."""
    alice = new_caller()
    set_limits(alice.token_id, addresses=["0.0.0.0/0", "::/0"])
    assert client.get("/tokens", headers=alice.headers).status_code == 403


def test_address_denied_spends_no_credit(new_caller, set_limits):
    alice = new_caller()
    set_limits(alice.token_id, credits=[1], addresses=["192.0.2.0/24"])
    with application("198.51.100.7") as (c, wrapped):
        assert c.get("/tokens", headers=alice.headers).status_code == 403
        wrapped.host = "192.0.2.1"
        assert [c.get("/tokens", headers=alice.headers).status_code for _ in range(2)] == [200, 429]


def test_address_forwarded_by_a_trusted_proxy(new_caller, set_limits):
    """Behind a trusted proxy the client's address is the forwarded one;
    from anyone else, X-Forwarded-For is not believed."""
    alice = new_caller()
    set_limits(alice.token_id, addresses=["203.0.113.0/24"])
    trusted = Settings.from_env({"DATABASE_URL": "x", "SESSION_SECRET": "s" * 32,
                                 "TRUSTED_PROXIES": "192.0.2.10"}).trusted_proxies
    with application("192.0.2.10", trusted_proxies=trusted) as (c, wrapped):
        assert c.get("/tokens", headers={**alice.headers, "X-Forwarded-For": "203.0.113.5"}).status_code == 200
        assert c.get("/tokens", headers={**alice.headers, "X-Forwarded-For": "198.51.100.1"}).status_code == 403
        assert c.get("/tokens", headers=alice.headers).status_code == 403  # the proxy's own address
        wrapped.host = "198.51.100.9"  # not the proxy: its header is the client's word
        assert c.get("/tokens", headers={**alice.headers, "X-Forwarded-For": "203.0.113.5"}).status_code == 403


def test_a_token_with_limits_cannot_create_tokens(client, new_caller, set_limits):
    """A new token has no limits: made by a token that has some, it would
    escape them.  Its other routes work."""
    alice = new_caller()
    set_limits(alice.token_id, credits=[10])
    r = client.post("/tokens", headers=alice.headers, json={"name": "escape"})
    assert r.status_code == 403 and "limits" in r.json()["detail"]
    assert client.get("/tokens", headers=alice.headers).status_code == 200
    set_limits(alice.token_id, credits=[None])
    assert client.post("/tokens", headers=alice.headers, json={"name": "now fine"}).status_code == 201


def test_a_status_the_code_does_not_know_is_401():
    """Whatever api_token_http would say of it."""
    for answer in (refusal("some_new_status", 200, None, None), refusal("some_new_status", 403, None, 5),
                   refusal("valid", 200, None, None), refusal("unknown", None, None, None)):
        assert answer.status_code == 401 and answer.headers == {"WWW-Authenticate": INVALID_TOKEN}


# ----------------------------------------------------------- the pages

def csrf_of(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def limits_cell(page, token_id):
    row = re.search(r'<tr data-token-id="%s".*?</tr>' % re.escape(str(token_id)), page.text, re.S).group(0)
    cell = re.search(r'<td class="limits" data-label="Limits">(.*?)</td>', row, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", "", cell).split())


def test_the_user_page_lists_limits(browser, new_web_user, admin, set_limits, preloaded):
    user = new_web_user()
    with admin.begin() as conn:
        _, limited, _ = issue_token(conn, user.email, "limited", ["tokens:read"], None)
        _, free, _ = issue_token(conn, user.email, "free", ["tokens:read"], None)
    set_limits(limited, credits=[1500, 2000, "1 day"],
               addresses=["192.0.2.0/24", "2001:db8::/32", "198.51.100.7/32", "203.0.113.0/24", "10.0.0.0/8"],
               rate=(100, "1 minute") if preloaded else None)
    b = browser()
    b.login(user)
    page = b.get("/settings/tokens")
    assert page.status_code == 200
    shown = limits_cell(page, limited)
    assert "1,500 credits left, refilled to 2,000 every day" in shown
    assert "from 192.0.2.0/24, 2001:db8::/32, 198.51.100.7/32 and 2 more" in shown
    assert ("100 requests per minute" in shown) == preloaded
    assert limits_cell(page, free) == "none"


def test_the_user_page_shows_credits_refilled_when_a_refill_is_due(browser, new_web_user, admin, set_limits):
    user = new_web_user()
    with admin.begin() as conn:
        _, token_id, _ = issue_token(conn, user.email, "refilled", ["tokens:read"], None)
    set_limits(token_id, credits=[0, 7, "1 hour"])
    with admin.begin() as conn:
        conn.execute(text("UPDATE api_tokens.api_token_limits SET credits_refilled_at = now() - interval '2 hours'"
                          " WHERE token_id = :id"), {"id": token_id})
    b = browser()
    b.login(user)
    assert limits_cell(b.get("/settings/tokens"), token_id).startswith("7 credits left")


@pytest.fixture
def admin_browser(browser, new_web_user):
    b = browser()
    b.login(new_web_user(is_admin=True))
    return b


@pytest.fixture
def target(new_caller):
    """A token to set limits on."""
    return new_caller()


def post_limits(b, token_id, fields):
    path = f"/admin/tokens/{token_id}/limits"
    return b.post(path, data={"csrf_token": b.csrf(path), **fields})


def test_admin_sets_and_removes_limits(admin_browser, target, admin, client, preloaded):
    b = admin_browser
    page = b.get("/admin/tokens")
    assert f'href="/admin/tokens/{target.token_id}/limits"' in page.text

    r = post_limits(b, target.token_id, {"limit": "credits", "action": "set", "remaining": " 2 ", "refill": "10",
                                         "refill_every": "86400"})
    assert r.status_code == 303 and r.headers["location"] == f"/admin/tokens/{target.token_id}/limits"
    page = b.get(r.headers["location"])
    assert "Credits set: 2 left, refilled to 10 every day." in page.text
    assert "2 credits left, refilled to 10 every day" in " ".join(re.sub(r"<[^>]+>", "", page.text).split())
    row = limits_row(admin, target.token_id)
    assert (row.credits, row.credits_refill, row.refill_every) == (2, 10, 86400)

    r = post_limits(b, target.token_id, {"limit": "addresses", "action": "set",
                                         "addresses": "192.0.2.0/24, 2001:DB8::/32\n192.0.2.0/24 198.51.100.7"})
    assert r.status_code == 303, r.text
    assert limits_row(admin, target.token_id).addresses == ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7/32"]
    page = b.get(f"/admin/tokens/{target.token_id}/limits")
    assert "Allowlist set: 3 entries." in page.text
    assert "192.0.2.0/24\n2001:db8::/32\n198.51.100.7/32</textarea>" in page.text

    r = post_limits(b, target.token_id, {"limit": "rate", "action": "set", "max_requests": "60", "per": "60"})
    if preloaded:
        assert r.status_code == 303, r.text
        assert (limits_row(admin, target.token_id).rate_limit, limits_row(admin, target.token_id).rate_window) == \
            (60, 60)
        assert "Rate limit set: 60 requests per minute." in b.get(r.headers["location"]).text
    else:
        assert r.status_code == 422 and "not preloaded" in r.text
        assert limits_row(admin, target.token_id).rate_limit is None

    # The events name the administrator.
    with admin.connect() as conn:
        events = conn.execute(text("SELECT actor, detail->>'limit' FROM api_tokens.api_token_events"
                                   " WHERE token_id = :id AND event = 'limits_set' ORDER BY id"),
                              {"id": target.token_id}).all()
    assert [e[1] for e in events] == ["credits", "addresses"] + (["rate"] if preloaded else [])
    assert all(e[0].startswith("admin:") for e in events)

    for kind in ("credits", "addresses", "rate"):
        r = post_limits(b, target.token_id, {"limit": kind, "action": "remove"})
        assert r.status_code == 303, r.text
    assert limits_row(admin, target.token_id) is None
    assert "Allowlist removed" not in b.get("/admin/tokens").text  # the notice was shown once, above
    assert client.get("/tokens", headers=target.headers).status_code == 200


@pytest.mark.parametrize("fields, message", [
    ({"limit": "addresses", "addresses": "192.0.2.0/33"}, "Entry 1 is not an IP address"),
    ({"limit": "addresses", "addresses": "192.0.2.0/24 not-an-address"}, "Entry 2 is not an IP address"),
    ({"limit": "addresses", "addresses": "192.0.2.7/24"}, "bits set past its prefix length"),
    ({"limit": "addresses", "addresses": "fe80::1%eth0"}, "Entry 1 is not an IP address"),
    ({"limit": "addresses", "addresses": "１９２.0.2.1"}, "Entry 1 is not an IP address"),
    ({"limit": "addresses", "addresses": "010.0.0.1"}, "Entry 1 is not an IP address"),
    ({"limit": "addresses", "addresses": " , \n"}, "Enter at least one address"),
    ({"limit": "addresses", "addresses": " ".join(f"10.0.{i // 256}.{i % 256}" for i in range(1001))},
     "At most 1,000"),
    ({"limit": "rate", "max_requests": "", "per": "60"}, "Enter how many requests"),
    ({"limit": "rate", "max_requests": "0", "per": "60"}, "Requests must be a whole number from 1"),
    ({"limit": "rate", "max_requests": "-5", "per": "60"}, "Requests must be a whole number"),
    ({"limit": "rate", "max_requests": "2147483648", "per": "60"}, "Requests must be a whole number"),
    ({"limit": "rate", "max_requests": "1e3", "per": "60"}, "Requests must be a whole number"),
    ({"limit": "rate", "max_requests": "٧", "per": "60"}, "Requests must be a whole number"),
    ({"limit": "credits", "remaining": "", "refill": "", "refill_every": ""}, "Enter how many credits"),
    ({"limit": "credits", "remaining": "-1", "refill": "", "refill_every": ""}, "Credits must be a whole number"),
    ({"limit": "credits", "remaining": "9" * 19, "refill": "", "refill_every": ""}, "Credits must be"),
    ({"limit": "credits", "remaining": "5", "refill": "10", "refill_every": ""}, "Choose how often"),
    ({"limit": "credits", "remaining": "5", "refill": "", "refill_every": "3600"}, "Enter how many credits each"),
    ({"limit": "credits", "remaining": "5", "refill": "0", "refill_every": "3600"}, "Refill must be a whole number"),
])
def test_attack_bad_limits_are_form_errors(admin_browser, target, admin, fields, message):
    """A value the form refuses is answered with the page again (422), the
    error next to its form, the value not shown back, and nothing set."""
    r = post_limits(admin_browser, target.token_id, {"action": "set", **fields})
    assert r.status_code == 422, r.text
    assert re.search(r'<p class="error" role="alert">[^<]*%s' % re.escape(message), r.text), r.text
    for name in ("max_requests", "remaining", "refill", "addresses"):
        if len(fields.get(name, "").strip()) > 3:
            assert fields[name] not in r.text
    assert limits_row(admin, target.token_id) is None


@pytest.mark.parametrize("fields", [
    {"limit": "rate", "action": "set", "max_requests": "5", "per": "61"},  # not a choice
    {"limit": "credits", "action": "set", "remaining": "5", "refill": "5", "refill_every": "1"},
    {"limit": "everything", "action": "set"},
    {"limit": "rate", "action": "drop"},
    {"action": "remove"},
])
def test_attack_tampered_limit_forms(admin_browser, target, admin, fields):
    r = post_limits(admin_browser, target.token_id, fields)
    assert r.status_code == 400, r.text
    assert limits_row(admin, target.token_id) is None


def test_attack_limits_without_csrf_or_as_a_user(browser, admin_browser, new_web_user, target, admin):
    path = f"/admin/tokens/{target.token_id}/limits"
    fields = {"limit": "credits", "action": "set", "remaining": "0"}
    assert admin_browser.post(path, data={"csrf_token": "forged", **fields}).status_code == 403
    assert admin_browser.post(path, data=fields).status_code == 403
    assert admin_browser.post(path, data={"csrf_token": admin_browser.csrf(path), **fields},
                              headers={"Origin": "http://evil.example"}).status_code == 403
    user = browser()
    user.login(new_web_user())
    assert user.get(path).status_code == 403
    assert user.post(path, data={"csrf_token": user.csrf("/settings/tokens"), **fields}).status_code == 403
    assert limits_row(admin, target.token_id) is None


@pytest.mark.parametrize("token_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_limits_of_a_token_that_does_not_exist(admin_browser, token_id):
    assert admin_browser.get(f"/admin/tokens/{token_id}/limits").status_code == 404
    r = admin_browser.post(f"/admin/tokens/{token_id}/limits", data={
        "csrf_token": admin_browser.csrf("/admin/tokens"), "limit": "credits", "action": "set", "remaining": "1"})
    assert r.status_code == 404


def test_the_admin_page_survives_odd_stored_limits(admin_browser, target, admin):
    """Values the owner set by hand, within the table's checks: a window of
    months, a refill of a century, an empty allowlist."""
    with admin.begin() as conn:
        conn.execute(text(
            "INSERT INTO api_tokens.api_token_limits (token_id, credits, credits_refill, credits_refill_every,"
            "  credits_refilled_at, allowed_addresses)"
            " VALUES (:id, 5, 5, interval '100 years', now(), '{}')"), {"id": target.token_id})
    page = admin_browser.get(f"/admin/tokens/{target.token_id}/limits")
    assert page.status_code == 200
    assert "from no address" in page.text
    listed = admin_browser.get("/admin/tokens")
    assert listed.status_code == 200
