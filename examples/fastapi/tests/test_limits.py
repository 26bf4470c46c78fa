"""Limits per token (version 1.2 of the extension): the API's answers
(api_token_verify with the client's address and a cost of 1, mapped to HTTP
by api_token_http).

Rate limits are counted only by a server that preloads the library
(test/scripts/examples.sh starts its server so); their tests are skipped
on one that does not."""
import dataclasses
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.auth import refusal
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
