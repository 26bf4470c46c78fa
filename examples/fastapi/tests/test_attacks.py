"""Attacks on the JSON API, each test named for what it tries.

Most of them succeeded, or gave a 500, against an earlier version of this
example (psycopg2, body parsed before authentication, no lifetime or
rotation rules, loose types).  The others (IDOR, double rotation and
connections left in a transaction) guard what held up."""
import hashlib
import json
import logging
import os
import re
import threading
import time

import pytest
from fastapi import HTTPException
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app import api, tokens
from app.auth import ROTATED_OUT_DETAIL
from app.db import APPLICATION_NAME
from app.rules import MAX_LIFETIME_SECONDS

from .conftest import status_of

YEAR = 365 * 24 * 3600


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def create(client, caller_headers, **body):
    return client.post("/tokens", headers=caller_headers, json=body)


def expiry_of(admin, token_id):
    with admin.begin() as conn:
        return conn.execute(text("SELECT expires_at FROM api_tokens.api_tokens WHERE id = :id"),
                            {"id": token_id}).scalar_one()


def assert_still_valid(run, engine, token):
    assert status_of(run, engine, token) == "valid"


# ------------------------------------------------ escalation by rotation

def test_attack_rotate_to_gain_scopes(client, new_caller, run, engine):
    """A leaked token that may only write tokens rotates its user's broader
    token: the successor would carry the broader scopes."""
    owner = new_caller(scopes=["tokens:read", "tokens:write", "billing:admin"])
    r = create(client, owner.headers, name="ci", scopes=["tokens:write"])
    assert r.status_code == 201, r.text
    narrow = r.json()

    r = client.post(f"/tokens/{owner.token_id}/rotate", headers=bearer(narrow["token"]))
    assert r.status_code == 403, r.text
    assert "token" not in r.json()
    assert_still_valid(run, engine, owner.token)  # not rotated

    # Rotating a token within its own scopes is fine (here, itself).
    r = client.post(f"/tokens/{narrow['id']}/rotate", headers=bearer(narrow["token"]))
    assert r.status_code == 201, r.text


def test_attack_rotate_to_outlive_the_caller(client, new_caller, admin, run, engine):
    """A short-lived token rotates a longer-lived (or never-expiring) token
    of its user: the successor would keep the longer lifetime."""
    owner = new_caller(scopes=["tokens:write"])  # never expires
    short = create(client, owner.headers, name="short", scopes=["tokens:write"], expires_in_seconds=600).json()
    day = create(client, owner.headers, name="day", scopes=["tokens:write"], expires_in_seconds=86400).json()
    brief = create(client, owner.headers, name="brief", scopes=["tokens:write"], expires_in_seconds=300).json()

    for target in (owner.token_id, day["id"]):
        r = client.post(f"/tokens/{target}/rotate", headers=bearer(short["token"]))
        assert r.status_code == 403, r.text
    assert_still_valid(run, engine, owner.token)
    assert_still_valid(run, engine, day["token"])

    # A token that expires before the caller may be rotated; the successor
    # keeps its expiry.
    r = client.post(f"/tokens/{brief['id']}/rotate", headers=bearer(short["token"]))
    assert r.status_code == 201, r.text
    assert expiry_of(admin, r.json()["id"]) == expiry_of(admin, brief["id"])


def test_attack_rotate_with_an_expiry_past_the_caller(client, new_caller, admin, run, engine):
    """Version 1.1 lets a rotation give the successor its own expiry: never
    later than the calling token's, as for a new token.  Given one, a
    longer-lived token may be rotated: its successor does not inherit the
    longer lifetime."""
    owner = new_caller(scopes=["tokens:write"])  # never expires
    short = create(client, owner.headers, name="short", scopes=["tokens:write"], expires_in_seconds=600).json()
    day = create(client, owner.headers, name="day", scopes=["tokens:write"], expires_in_seconds=86400).json()

    for target in (owner.token_id, day["id"]):
        for seconds in (3600, 365 * 24 * 3600):
            r = client.post(f"/tokens/{target}/rotate", params={"expires_in_seconds": seconds},
                            headers=bearer(short["token"]))
            assert r.status_code == 403, r.text
            assert "token" not in r.json()
    assert_still_valid(run, engine, owner.token)
    assert_still_valid(run, engine, day["token"])

    r = client.post(f"/tokens/{day['id']}/rotate", params={"expires_in_seconds": 300},
                    headers=bearer(short["token"]))
    assert r.status_code == 201, r.text
    assert expiry_of(admin, r.json()["id"]) < expiry_of(admin, short["id"])


# --------------------------------------------- rotated-out tokens (1.1)

def test_attack_rotated_out_token_in_grace_manages_tokens(client, new_caller, run, engine):
    """A copy of a token its owner rotated with a grace period (left on an
    old machine, in a CI log, taken by an attacker) keeps working until the
    grace period ends.  It used to manage tokens meanwhile: it rotated its
    own successor, whose legitimate holder then got 401, revoked it, and
    minted new tokens.  During the grace period it may only read."""
    alice = new_caller()
    r = client.post(f"/tokens/{alice.token_id}/rotate", params={"grace_seconds": 3600}, headers=alice.headers)
    assert r.status_code == 201, r.text
    successor = r.json()
    old = alice.headers

    # Each of these succeeded.  (Rotating the successor to keep its expiry
    # is also refused, as it outlives the old token, whose expiry the
    # rotation set to the end of the grace period.)
    attempts = {
        "mint a token": lambda: create(client, old, name="mine", scopes=["tokens:read", "tokens:write"]),
        "rotate its successor, with an expiry within its own": lambda: client.post(
            f"/tokens/{successor['id']}/rotate", params={"expires_in_seconds": 600}, headers=old),
        "revoke its successor": lambda: client.delete(f"/tokens/{successor['id']}", headers=old),
        "rotate its successor": lambda: client.post(f"/tokens/{successor['id']}/rotate", headers=old),
    }
    for what, attempt in attempts.items():
        r = attempt()
        assert r.status_code == 403, (what, r.text)
        assert r.json() == {"detail": ROTATED_OUT_DETAIL}, what
        assert r.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"'), what

    # The legitimate holder of the successor is unaffected, and nothing was minted.
    assert_still_valid(run, engine, successor["token"])
    r = client.get("/tokens", headers=bearer(successor["token"]))
    assert r.status_code == 200
    assert {t["id"] for t in r.json()} == {str(alice.token_id), successor["id"]}
    # Reading is still allowed until the grace period ends.
    assert client.get("/tokens", headers=old).status_code == 200
    assert status_of(run, engine, alice.token) == "valid"


def test_attack_learn_a_successor_from_the_already_rotated_answer(client, new_caller):
    """The 409 of a second rotation names the successor, to whoever may
    rotate the token: its owner.  Another user gets the 404 of an unknown
    id; a narrower token of the same user, the 403 of a token it may not
    rotate.  Neither learns the successor's id."""
    owner = new_caller(scopes=["tokens:read", "tokens:write", "billing:admin"])
    narrow = create(client, owner.headers, name="ci", scopes=["tokens:write"]).json()
    successor = client.post(f"/tokens/{owner.token_id}/rotate", params={"grace_seconds": 3600},
                            headers=owner.headers).json()
    mallory = new_caller()

    foreign = client.post(f"/tokens/{owner.token_id}/rotate", headers=mallory.headers)
    unknown = client.post("/tokens/00000000-0000-4000-8000-000000000000/rotate", headers=mallory.headers)
    assert foreign.status_code == unknown.status_code == 404 and foreign.content == unknown.content
    r = client.post(f"/tokens/{owner.token_id}/rotate", headers=bearer(narrow["token"]))
    assert r.status_code == 403 and successor["id"] not in r.text, r.text

    r = client.post(f"/tokens/{owner.token_id}/rotate", headers=bearer(successor["token"]))
    assert r.status_code == 409, r.text
    assert r.json()["successor_id"] == successor["id"]


# ------------------------------------------------ escalation by creation

def test_attack_short_lived_token_creates_a_long_lived_one(client, new_caller, admin):
    """A 60-second token asks for a token that never expires, expires in an
    hour, or in 100 years."""
    caller = new_caller(expires_in_seconds=60)
    caller_expiry = expiry_of(admin, caller.token_id)

    assert create(client, caller.headers, name="x", expires_in_seconds=3600).status_code == 403
    assert create(client, caller.headers, name="x", expires_in_seconds=100 * YEAR).status_code == 422

    # Omitted or null ("never", in the old API): the longest allowed, which
    # here ends with the caller.
    for body in ({"name": "x"}, {"name": "x", "expires_in_seconds": None}):
        r = client.post("/tokens", headers=caller.headers, json=body)
        assert r.status_code == 201, r.text
        created = expiry_of(admin, r.json()["id"])
        assert created is not None and created <= caller_expiry

    r = create(client, caller.headers, name="x", expires_in_seconds=30)
    assert r.status_code == 201, r.text


def test_attack_token_creates_a_token_with_more_scopes(client, new_caller):
    writer = new_caller(scopes=["tokens:read", "tokens:write"])
    r = create(client, writer.headers, name="x", scopes=["tokens:read", "admin"])
    assert r.status_code == 403, r.text


# ------------------------------------------------------------ lifetimes

@pytest.mark.parametrize("value", [True, False, 0, -1, 1.5, 3600.0, "3600", MAX_LIFETIME_SECONDS + 1,
                                   10**12, 10**30, [3600], {"s": 1}])
def test_attack_absurd_expiry(client, new_caller, value):
    """Booleans, strings, floats, zero, negatives and far futures (a date
    past year 9999 could not be read back)."""
    caller = new_caller()
    r = create(client, caller.headers, name="x", expires_in_seconds=value)
    assert r.status_code == 422, (value, r.text)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "9" * 5000])
def test_attack_expiry_json_edge_cases(client, new_caller, literal):
    caller = new_caller()
    r = client.post("/tokens", headers={**caller.headers, "Content-Type": "application/json"},
                    content=f'{{"name": "x", "expires_in_seconds": {literal}}}')
    assert r.status_code in (400, 422), r.text


def test_attack_expiry_at_the_maximum(client, new_caller):
    caller = new_caller()
    r = create(client, caller.headers, name="x", expires_in_seconds=MAX_LIFETIME_SECONDS)
    assert r.status_code == 201, r.text


def test_attack_listing_with_a_date_past_year_9999(client, new_caller, admin):
    """A date the application cannot represent, set outside the API, does
    not make the listing fail."""
    alice = new_caller()
    other = create(client, alice.headers, name="far").json()
    with admin.begin() as conn:
        conn.execute(text("UPDATE api_tokens.api_tokens SET expires_at = '20000-01-01', last_used_at = '20000-01-01'"
                          " WHERE id = :id"), {"id": other["id"]})
    r = client.get("/tokens", headers=alice.headers)
    assert r.status_code == 200, r.text
    listed = {t["id"]: t for t in r.json()}
    assert listed[other["id"]]["expires_at"].startswith("9999-12-31")
    assert listed[str(alice.token_id)]["expires_at"] is None  # NULL stays NULL


# -------------------------------------------------------- loose input

@pytest.mark.parametrize("body", [
    {"name": 123}, {"name": None}, {"name": ["ci"]}, {"name": True}, {},
    {"name": "x", "scopes": "tokens:read"}, {"name": "x", "scopes": [1]}, {"name": "x", "scopes": None},
    {"name": "x", "expires_in": 60},  # unknown field
    ["name", "x"], "x", 1,
    [["name", "x"]], [[None, None]],  # lists of pairs, which pydantic 1 would take for objects
])
def test_attack_loose_types(client, new_caller, body):
    caller = new_caller()
    r = client.post("/tokens", headers=caller.headers, json=body)
    assert r.status_code == 422, (body, r.text)


@pytest.mark.parametrize("name", [
    "", "   ", "\t\n", "\u3000",  # blank, whatever the spaces
    "invoice\u202egpj.exe",  # right-to-left override
    "a\u2066b\u2069", "a\u200fb",  # isolate, right-to-left mark
    "zero\u200bwidth", "bom\ufeff", "tab\there", "new\nline", "esc\x1b[31m", "line\u2028sep",
    "private\ue000use", "x" * 101,
])
def test_attack_blank_control_or_bidi_name(client, new_caller, name):
    caller = new_caller()
    r = create(client, caller.headers, name=name)
    assert r.status_code == 422, (name, r.text)


def test_names_that_are_fine(client, new_caller):
    caller = new_caller()
    for name in ("déploiement 🚀", "CI — production", "x" * 100, "  padded  "):
        r = create(client, caller.headers, name=name)
        assert r.status_code == 201, (name, r.text)
    listed = {t["name"] for t in client.get("/tokens", headers=caller.headers).json()}
    assert "padded" in listed  # trimmed


@pytest.mark.parametrize("raw", ['"a\\u0000b"', '"\\ud800"', '"a\\udfffb"'])
def test_attack_nul_or_lone_surrogate_in_name(client, new_caller, raw):
    """Both used to reach the driver and fail there, with a 500."""
    caller = new_caller()
    r = client.post("/tokens", headers={**caller.headers, "Content-Type": "application/json"},
                    content=f'{{"name": {raw}}}')
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("scope", ["tokens:read\u0000", "\ud800", "a b", "", "x" * 51, "tökens"])
def test_attack_bad_scope_strings(client, new_caller, scope):
    caller = new_caller()
    body = json.dumps({"name": "x", "scopes": [scope]}, ensure_ascii=True)
    r = client.post("/tokens", headers={**caller.headers, "Content-Type": "application/json"}, content=body)
    assert r.status_code == 422, (scope, r.text)


def test_attack_too_many_scopes(client, new_caller):
    """The application takes at most 32 scopes per token, even scopes the
    caller has."""
    many = [f"s{i}" for i in range(40)]
    caller = new_caller(scopes=["tokens:write", *many])
    assert create(client, caller.headers, name="x", scopes=many[:32]).status_code == 201
    for scopes in (many, [f"s{i}" for i in range(300)]):
        r = create(client, caller.headers, name="x", scopes=scopes)
        assert r.status_code == 422, r.text


def test_attack_too_many_scopes_reaching_the_database(client, new_caller, run, engine):
    """Past the application's own limit, the extension refuses more than
    256 scopes (SQLSTATE 54000): a 422 as well, not a 500."""
    caller = new_caller()

    async def create_directly():
        async with tokens.database_errors(), engine.begin() as conn:
            await tokens.create(conn, tokens.Authority.of_user(caller.user_id), "x",
                                [f"s{i}" for i in range(300)], 60)
    with pytest.raises(HTTPException) as raised:
        run(create_directly)
    assert raised.value.status_code == 422 and raised.value.detail == "too many scopes"


def test_attack_content_type_confusion(client, new_caller):
    """A body a cross-site form could send (text/plain) is not JSON to us."""
    caller = new_caller()
    r = client.post("/tokens", headers={**caller.headers, "Content-Type": "text/plain"},
                    content='{"name": "x"}')
    assert r.status_code == 415, r.text


# ------------------------------------------------ bodies and authentication

def test_attack_huge_body(client, new_caller):
    """A declared Content-Length over the limit is refused before anything
    else, authentication included; a body sent in chunks without one is
    not read at all without a valid token, and cut off at the limit with
    one."""
    caller = new_caller()
    huge = b"[" * (10 * 1024 * 1024)
    for headers in ({}, caller.headers):
        r = client.post("/tokens", headers={**headers, "Content-Type": "application/json"}, content=huge)
        assert r.status_code == 413, r.text

    def chunks():
        for _ in range(100):
            yield b" " * 1024
    for headers, expected in (({}, 401), (caller.headers, 413)):
        r = client.post("/tokens", headers={**headers, "Content-Type": "application/json"}, content=chunks())
        assert r.status_code == expected, r.text


def test_attack_body_parsed_before_authentication(client, new_caller, monkeypatch):
    """An unauthenticated request's body is never parsed: a JSON bomb (deep
    nesting, 60 KiB) gets 401, and the parser is not even called."""
    calls = []
    real = api.read_json

    async def spy(request, model):
        calls.append(request.url.path)
        return await real(request, model)
    monkeypatch.setattr(api, "read_json", spy)

    bomb = "[" * 60000
    for headers in ({}, bearer("pat_not-a-token")):
        r = client.post("/tokens", headers={**headers, "Content-Type": "application/json"}, content=bomb)
        assert r.status_code == 401, r.text
    assert calls == []

    caller = new_caller()  # authenticated: parsed, refused as bad JSON, no 500
    r = client.post("/tokens", headers={**caller.headers, "Content-Type": "application/json"}, content=bomb)
    assert r.status_code == 400, r.text
    assert calls == ["/tokens"]


def test_attack_malformed_json_echoed_back(client, new_caller):
    payload = '{"name": "<script>alert(document.cookie)</script>'
    r = client.post("/tokens", headers={"Content-Type": "application/json"}, content=payload)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert "<script>" not in r.text and "alert" not in r.text

    caller = new_caller()
    r = client.post("/tokens", headers={**caller.headers, "Content-Type": "application/json"}, content=payload)
    assert r.status_code == 400, r.text
    assert "<script>" not in r.text and "alert" not in r.text


# ------------------------------------------------------------- races

def wait_for_lock_waiters(admin, count):
    """Until `count` connections of the application wait for a lock."""
    for _ in range(200):
        # A new transaction each time: pg_stat_activity is read once per transaction.
        with admin.begin() as conn:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :app"
                " AND wait_event_type = 'Lock'"), {"app": APPLICATION_NAME}).scalar_one()
        if waiting >= count:
            return
        time.sleep(0.05)
    pytest.fail(f"{count} requests never waited for the lock")


def in_threads(count, request):
    """Runs request() in `count` threads; returns their threads and results."""
    results = []
    threads = [threading.Thread(target=lambda: results.append(request())) for _ in range(count)]
    for t in threads:
        t.start()
    return threads, results


def test_attack_rotate_a_token_pruned_concurrently(client, new_caller, admin):
    """The owner rotates a token while a pruning job deletes it: after the
    ownership check passed, api_token_rotate finds it gone (P0002): 404."""
    alice = new_caller()
    target = create(client, alice.headers, name="doomed").json()
    with admin.connect() as pruner:
        pruner.execute(text("DELETE FROM api_tokens.api_tokens WHERE id = :id"), {"id": target["id"]})  # row locked
        threads, results = in_threads(1, lambda: client.post(f"/tokens/{target['id']}/rotate",
                                                             headers=alice.headers))
        wait_for_lock_waiters(admin, 1)  # the rotation has checked ownership, and waits
        pruner.commit()
    threads[0].join(30)
    [r] = results
    assert r.status_code == 404, r.text
    assert r.json() == {"detail": "no such token"}


@pytest.mark.parametrize("grace", [0, 3600])
def test_attack_double_rotation(client, new_caller, admin, grace):
    """Two rotations of one token at the same moment: one successor, one
    409.  A lock held on the token's row makes them overlap for certain:
    both read the token, then both wait for the row."""
    alice = new_caller()
    target = create(client, alice.headers, name="twice").json()
    with admin.connect() as holder:
        holder.execute(text("SELECT 1 FROM api_tokens.api_tokens WHERE id = :id FOR UPDATE"), {"id": target["id"]})
        threads, results = in_threads(2, lambda: client.post(
            f"/tokens/{target['id']}/rotate", params={"grace_seconds": grace}, headers=alice.headers))
        wait_for_lock_waiters(admin, 2)
        holder.commit()
    for t in threads:
        t.join(30)
    assert sorted(r.status_code for r in results) == [201, 409]
    won, lost = sorted(results, key=lambda r: r.status_code)
    # The loser was refused by the extension, after both had checked: the
    # 409 still says which token won.
    assert lost.json()["successor_id"] == won.json()["id"]


def test_attack_idor_same_answer_for_foreign_and_unknown_ids(client, new_caller):
    """Another user's token id is neither usable nor discoverable: the same
    404, byte for byte, as an id that does not exist."""
    alice, mallory = new_caller(), new_caller()
    missing = "00000000-0000-4000-8000-000000000000"
    for method, suffix in (("DELETE", ""), ("POST", "/rotate")):
        foreign = client.request(method, f"/tokens/{alice.token_id}{suffix}", headers=mallory.headers)
        unknown = client.request(method, f"/tokens/{missing}{suffix}", headers=mallory.headers)
        assert foreign.status_code == unknown.status_code == 404
        assert foreign.content == unknown.content
    assert client.get("/tokens", headers=alice.headers).status_code == 200


def test_attack_leave_connections_idle_in_transaction(client, new_caller, admin):
    """Requests that fail in the database (409, 404, 403, 422) leave no
    connection of the application idle in a transaction."""
    alice, mallory = new_caller(), new_caller()
    revoked = create(client, alice.headers, name="gone").json()
    client.delete(f"/tokens/{revoked['id']}", headers=alice.headers)
    answers = [
        client.post(f"/tokens/{revoked['id']}/rotate", headers=alice.headers).status_code,  # 55000
        client.post(f"/tokens/{alice.token_id}/rotate", headers=mallory.headers).status_code,
        create(client, alice.headers, name="x", scopes=["nope"]).status_code,
        create(client, alice.headers, name="\u202e").status_code,
    ]
    assert answers == [409, 404, 403, 422]
    with admin.connect() as conn:
        idle = conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :app"
            " AND state LIKE 'idle in transaction%'"), {"app": APPLICATION_NAME}).scalar_one()
    assert idle == 0


# -------------------------------------------------------------- leaks

def test_attack_token_response_cached(client, new_caller):
    """Responses that carry a plaintext token tell every cache not to keep them."""
    alice = new_caller()
    created = create(client, alice.headers, name="x")
    rotated = client.post(f"/tokens/{created.json()['id']}/rotate", headers=alice.headers)
    for r in (created, rotated):
        assert r.status_code == 201
        assert r.headers["cache-control"] == "no-store"


def test_attack_token_in_application_logs(client, new_caller, engine, run, caplog):
    """With every logger at DEBUG, SQLAlchemy's included: no token in any
    record, and none in the message of a failing statement."""
    assert engine.sync_engine.hide_parameters
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    alice = new_caller()
    created = create(client, alice.headers, name="logged", scopes=["tokens:read", "tokens:write"]).json()
    rotated = client.post(f"/tokens/{created['id']}/rotate", headers=bearer(created["token"])).json()
    assert client.get("/tokens", headers=bearer(rotated["token"])).status_code == 200

    async def failing_statement():
        async with engine.begin() as conn:
            await conn.execute(text("SELECT status FROM api_tokens.api_token_validate(CAST(:t AS text),"
                                    " CAST(ARRAY[NULL] AS text[]))"), {"t": alice.token})
    with pytest.raises(DBAPIError) as raised:
        run(failing_statement)
    assert alice.token not in str(raised.value)
    logging.getLogger("app").exception("logged error: %s", raised.value)

    logged = caplog.text
    assert "api_token_verify" in logged and "api_token_rotate" in logged  # statements were logged
    for token in (alice.token, created["token"], rotated["token"]):
        assert token not in logged


def test_attack_token_in_server_log(client, new_caller, admin):
    """The server logs every statement of the application role (the test
    script sets log_statement = all, and log_parameter_max_length = 0 as
    the extension's README advises): no token is in it, because asyncpg
    sends tokens as bound parameters, never in the SQL text."""
    path = os.environ.get("PG_SERVER_LOG")
    if not path:
        pytest.skip("PG_SERVER_LOG is not set")
    role = make_url(os.environ["DATABASE_URL"]).username
    with admin.connect() as conn:
        settings = dict(conn.execute(text(
            "SELECT split_part(c, '=', 1), split_part(c, '=', 2)"
            "  FROM pg_db_role_setting r, unnest(r.setconfig) c"
            " WHERE r.setrole = (SELECT oid FROM pg_roles WHERE rolname = :role)"), {"role": role}).all())
    assert settings.get("log_statement") == "all", settings
    assert settings.get("log_parameter_max_length") == "0", settings

    alice = new_caller()
    created = create(client, alice.headers, name="logged", scopes=["tokens:read", "tokens:write"]).json()
    rotated = client.post(f"/tokens/{created['id']}/rotate", headers=bearer(created["token"])).json()
    assert client.get("/tokens", headers=bearer(rotated["token"])).status_code == 200
    # A failing statement is logged with its text (log_min_error_statement).
    gone = create(client, bearer(rotated["token"]), name="gone", scopes=["tokens:read"]).json()
    assert client.delete(f"/tokens/{gone['id']}", headers=bearer(rotated["token"])).status_code == 204
    assert client.post(f"/tokens/{gone['id']}/rotate", headers=bearer(rotated["token"])).status_code == 409

    with open(path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    assert ("api_tokens.api_token_verify(CAST($1 AS text), CAST($2 AS text[]), CAST($3 AS inet),"
            " CAST($4 AS integer))") in log  # with placeholders
    assert "is not active" in log
    for token in (alice.token, created["token"], rotated["token"], gone["token"]):
        assert token not in log
        assert hashlib.sha256(token.encode()).hexdigest() not in log
    assert not re.search(r"\bpat_[0-9A-Za-z]{36}\b", log)


# ------------------------------------------------ issue 18: the API

def test_attack_narrow_token_revokes_broader_ones(client, new_caller, run, engine):
    """A 5-minute tokens:write token revoked its user's never-expiring
    read+write token.  Revocation follows the rule of rotation: a token
    may revoke only tokens within its scopes and lifetime (itself
    included)."""
    owner = new_caller()  # tokens:read tokens:write, never expires
    narrow = create(client, owner.headers, name="ci", scopes=["tokens:write"], expires_in_seconds=300).json()
    day = create(client, owner.headers, name="day", scopes=["tokens:write"], expires_in_seconds=86400).json()
    brief = create(client, owner.headers, name="brief", scopes=["tokens:write"], expires_in_seconds=60).json()
    for target in (owner.token_id, day["id"]):
        r = client.delete(f"/tokens/{target}", headers=bearer(narrow["token"]))
        assert r.status_code == 403, r.text
    assert_still_valid(run, engine, owner.token)
    assert_still_valid(run, engine, day["token"])
    assert client.delete(f"/tokens/{brief['id']}", headers=bearer(narrow["token"])).status_code == 204
    assert client.delete(f"/tokens/{narrow['id']}", headers=bearer(narrow["token"])).status_code == 204
    # The broad token may revoke the narrow ones.
    assert client.delete(f"/tokens/{day['id']}", headers=owner.headers).status_code == 204


def test_attack_rotation_keeps_a_never_expiring_token_alive(client, new_caller, admin):
    """Rotating a bootstrap token (no expiry) without expires_in_seconds
    gave a successor with no expiry: every token the API makes expires, a
    successor included, at most MAX_LIFETIME_SECONDS away."""
    owner = new_caller()
    r = client.post(f"/tokens/{owner.token_id}/rotate", headers=owner.headers)
    assert r.status_code == 201, r.text
    expires = expiry_of(admin, r.json()["id"])
    assert expires is not None
    assert r.json()["expires_at"] is not None
    # ... and again from the successor, still within the maximum.
    again = client.post(f"/tokens/{r.json()['id']}/rotate", headers=bearer(r.json()["token"]))
    assert again.status_code == 201, again.text
    assert expiry_of(admin, again.json()["id"]) <= expires


def test_attack_lone_surrogate_as_a_json_key(client, new_caller):
    """An unknown field is named in the 422, but a key that is not a plain
    name (a lone surrogate could not even be encoded in the answer: a 500)
    is not echoed."""
    caller = new_caller()
    for key in ("\\ud800", "<script>", "x" * 200):
        r = client.post("/tokens", headers={**caller.headers, "Content-Type": "application/json"},
                        content=f'{{"name": "x", "{key}": 1}}'.encode())
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "(unknown field)"]
    r = client.post("/tokens", headers={**caller.headers, "Content-Type": "application/json"},
                    content=b'{"name": "x", "expires_in": 1}')
    assert r.json()["detail"][0]["loc"] == ["body", "expires_in"]


def test_attack_driver_error_quotes_the_argument(run, engine, caplog):
    """asyncpg's message for an argument it cannot encode quotes the value
    (a token, a password), hide_parameters or not: it is replaced."""
    secret = "pat_secret\ud800value"

    async def send():
        async with engine.begin() as conn:
            await conn.execute(text("SELECT CAST(:v AS text)"), {"v": secret})
    with pytest.raises(DBAPIError) as raised:
        run(send)
    assert "secret" not in str(raised.value) and "could not be encoded" in str(raised.value)
    assert getattr(raised.value.orig, "sqlstate") == "22021"


MULTIPART_LOGIN = (b'--b\r\nContent-Disposition: form-data; name="email"\r\n\r\n\\ud800pat_x@example.com\r\n'
                   b'--b\r\nContent-Disposition: form-data; name="password"\r\n\r\nx\r\n--b--\r\n')


def test_attack_lone_surrogate_through_a_form_charset(client, browser, caplog):
    """A multipart form sent with charset=unicode_escape decodes "\\ud800"
    into a lone surrogate: the login gave a 500, and asyncpg's error, with
    the input, reached the log."""
    caplog.set_level(logging.DEBUG)
    b = browser()
    csrf = b.csrf("/login")
    body = MULTIPART_LOGIN.replace(b'--b--', b'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
                                   + csrf.encode() + b'\r\n--b--')
    r = b.post("/login", content=body,
               headers={"Content-Type": "multipart/form-data; boundary=b; charset=unicode_escape"})
    assert r.status_code == 400, r.text
    assert "pat_x" not in r.text and "pat_x" not in caplog.text
