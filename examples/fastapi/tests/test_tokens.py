"""The JSON API as its users see it.  Attacks, each named for what it
tries, are in test_attacks.py."""
import hashlib
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from app.models import ApiToken

from .conftest import status_of

LISTED_FIELDS = {"id", "name", "prefix", "scopes", "expires_at", "last_used_at", "is_active",
                 "created_at", "status", "successor_id", "grace_ends_at"}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def assert_401(response):
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_create_then_use_the_new_token(client, new_caller):
    alice = new_caller()
    r = client.post("/tokens", headers=alice.headers, json={"name": "ci", "scopes": ["tokens:read"]})
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == {"id", "token", "expires_at"} and created["token"].startswith("pat_")
    assert r.headers["cache-control"] == "no-store"

    r = client.get("/tokens", headers={"Authorization": f"Bearer {created['token']}"})
    assert r.status_code == 200, r.text
    by_id = {t["id"]: t for t in r.json()}
    assert set(by_id) == {str(alice.token_id), created["id"]}
    assert by_id[created["id"]]["scopes"] == ["tokens:read"]
    assert by_id[created["id"]]["prefix"] == created["token"][:8]
    # The token that made this request: its use is recorded by
    # api_token_verify, in the row at once or, with the library preloaded,
    # by the extension's background worker within api_tokens.flush_interval.
    deadline = time.monotonic() + 15
    while by_id[created["id"]]["last_used_at"] is None and time.monotonic() < deadline:
        time.sleep(0.2)
        by_id = {t["id"]: t for t in client.get("/tokens", headers=alice.headers).json()}
    assert by_id[created["id"]]["last_used_at"] is not None


def test_expiring_token(client, new_caller):
    alice = new_caller()
    r = client.post("/tokens", headers=alice.headers, json={"name": "short", "expires_in_seconds": 3600})
    assert r.status_code == 201, r.text
    listed = {t["id"]: t for t in client.get("/tokens", headers=alice.headers).json()}
    assert listed[r.json()["id"]]["expires_at"] == r.json()["expires_at"]


def test_default_expiry_is_the_maximum(client, new_caller):
    """Without expires_in_seconds, a token made by a never-expiring token
    lives 365 days: every token the API makes expires."""
    alice = new_caller()
    r = client.post("/tokens", headers=alice.headers, json={"name": "default"})
    assert r.status_code == 201, r.text
    expires = datetime.fromisoformat(r.json()["expires_at"])
    assert timedelta(days=364) < expires - datetime.now(timezone.utc) <= timedelta(days=365)


def test_missing_or_non_bearer_credentials(client):
    assert_401(client.get("/tokens"))
    assert_401(client.get("/tokens", headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"}))


def test_malformed_token(client, run, engine):
    token = "pat_not-a-token"
    assert status_of(run, engine, token) == "malformed"
    assert_401(client.get("/tokens", headers={"Authorization": f"Bearer {token}"}))


def test_unknown_token(client, admin, run, engine):
    with admin.begin() as conn:
        token = conn.execute(text("SELECT api_tokens.api_token_generate()")).scalar_one()  # never stored
    assert status_of(run, engine, token) == "unknown"
    assert_401(client.get("/tokens", headers={"Authorization": f"Bearer {token}"}))


def test_inactive_token(client, admin, new_caller, run, engine):
    alice = new_caller()
    with admin.begin() as conn:
        conn.execute(text("SELECT api_tokens.api_token_revoke(:id)"), {"id": alice.token_id})
    assert status_of(run, engine, alice.token) == "inactive"
    assert_401(client.get("/tokens", headers=alice.headers))


def test_expired_token(client, admin, new_caller, run, engine):
    alice = new_caller()
    # api_token_create refuses a past expiry, so age the token by hand.
    with admin.begin() as conn:
        conn.execute(text("UPDATE api_tokens.api_tokens SET expires_at = now() - interval '1 second' WHERE id = :id"),
                     {"id": alice.token_id})
    assert status_of(run, engine, alice.token) == "expired"
    assert_401(client.get("/tokens", headers=alice.headers))


def test_insufficient_scope(client, new_caller):
    reader = new_caller(scopes=["tokens:read"])
    assert client.get("/tokens", headers=reader.headers).status_code == 200
    r = client.post("/tokens", headers=reader.headers, json={"name": "x"})
    assert r.status_code == 403
    assert r.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="tokens:write"'

    writer = new_caller(scopes=["tokens:write"])
    assert client.get("/tokens", headers=writer.headers).status_code == 403


def test_cannot_create_a_token_with_more_scopes(client, new_caller):
    writer = new_caller(scopes=["tokens:read", "tokens:write"])
    r = client.post("/tokens", headers=writer.headers, json={"name": "x", "scopes": ["admin"]})
    assert r.status_code == 403


def test_list_never_contains_the_hash(client, new_caller):
    alice = new_caller()
    r = client.get("/tokens", headers=alice.headers)
    assert r.status_code == 200
    [listed] = r.json()
    assert set(listed) == LISTED_FIELDS
    assert listed["status"] == "active"
    assert listed["successor_id"] is None and listed["grace_ends_at"] is None
    token_hash = hashlib.sha256(alice.token.encode()).hexdigest()
    assert token_hash not in r.text and alice.token not in r.text


def test_app_role_cannot_read_hashes(run, engine):
    async def check():
        async with engine.connect() as conn:
            superuser = await conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
            assert superuser.scalar_one() is False
            (await conn.execute(select(ApiToken.id, ApiToken.token_prefix).limit(1))).all()
        for query in (select(ApiToken.token_hash), select(ApiToken)):
            async with engine.connect() as conn:
                with pytest.raises(ProgrammingError, match="permission denied"):
                    await conn.execute(query.limit(1))
    run(check)


def test_owner_revokes_a_token(client, new_caller):
    alice = new_caller()
    second = client.post("/tokens", headers=alice.headers, json={"name": "laptop", "scopes": ["tokens:read"]}).json()
    second_headers = {"Authorization": f"Bearer {second['token']}"}
    assert client.get("/tokens", headers=second_headers).status_code == 200

    assert client.delete(f"/tokens/{second['id']}", headers=alice.headers).status_code == 204
    assert_401(client.get("/tokens", headers=second_headers))
    listed = {t["id"]: t for t in client.get("/tokens", headers=alice.headers).json()}
    assert listed[second["id"]]["is_active"] is False
    # Revoking again is harmless.
    assert client.delete(f"/tokens/{second['id']}", headers=alice.headers).status_code == 204


def test_rotate_stops_the_old_token(client, new_caller):
    alice = new_caller()
    r = client.post(f"/tokens/{alice.token_id}/rotate", headers=alice.headers)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["token"] != alice.token
    assert_401(client.get("/tokens", headers=alice.headers))
    new_headers = {"Authorization": f"Bearer {new['token']}"}
    listed = {t["id"]: t for t in client.get("/tokens", headers=new_headers).json()}
    old = listed[str(alice.token_id)]
    assert old["is_active"] is False
    assert (old["status"], old["successor_id"]) == ("rotated", new["id"])
    assert listed[new["id"]]["scopes"] == ["tokens:read", "tokens:write"]
    assert listed[new["id"]]["status"] == "active"


def test_a_token_is_rotated_once(client, new_caller, run, engine):
    """A second rotation of the same token is 409, and names the successor
    to rotate instead (the caller's own token, see test_attacks.py)."""
    alice = new_caller()
    first = client.post(f"/tokens/{alice.token_id}/rotate", params={"grace_seconds": 3600}, headers=alice.headers)
    assert first.status_code == 201, first.text
    new_headers = {"Authorization": f"Bearer {first.json()['token']}"}
    r = client.post(f"/tokens/{alice.token_id}/rotate", headers=new_headers)
    assert r.status_code == 409, r.text
    assert r.json() == {"detail": "token was already rotated; rotate its successor instead",
                        "successor_id": first.json()["id"]}
    assert status_of(run, engine, first.json()["token"]) == "valid"
    assert status_of(run, engine, alice.token) == "valid"  # still in its grace period


def test_rotate_with_grace_keeps_the_old_token_for_a_while(client, new_caller, run, engine):
    alice = new_caller()
    r = client.post(f"/tokens/{alice.token_id}/rotate", params={"grace_seconds": 3600}, headers=alice.headers)
    assert r.status_code == 201, r.text
    new_headers = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/tokens", headers=alice.headers).status_code == 200
    assert client.get("/tokens", headers=new_headers).status_code == 200
    listed = {t["id"]: t for t in client.get("/tokens", headers=new_headers).json()}
    old = listed[str(alice.token_id)]
    assert old["status"] == "rotated" and old["successor_id"] == r.json()["id"] and old["is_active"]
    grace_ends = datetime.fromisoformat(old["grace_ends_at"])
    assert timedelta(minutes=59) < grace_ends - datetime.now(timezone.utc) <= timedelta(hours=1)
    assert old["expires_at"] == old["grace_ends_at"]  # the extension stops it then


def test_rotated_status_once_the_grace_period_is_over(client, admin, new_caller, run, engine):
    """Version 1.1: a rotated-out token whose grace period has ended
    validates as "rotated" (refused with 401, as inactive), and is listed
    as rotated, not expired."""
    alice = new_caller()
    r = client.post(f"/tokens/{alice.token_id}/rotate", params={"grace_seconds": 3600}, headers=alice.headers)
    new = r.json()
    with admin.begin() as conn:  # the hour has passed
        conn.execute(text("UPDATE api_tokens.api_tokens SET expires_at = now() - interval '1 second' WHERE id = :id"),
                     {"id": alice.token_id})
    assert status_of(run, engine, alice.token) == "rotated"
    assert_401(client.get("/tokens", headers=alice.headers))
    listed = {t["id"]: t for t in client.get("/tokens", headers=bearer(new["token"])).json()}
    assert listed[str(alice.token_id)]["status"] == "rotated"


def test_revoked_during_its_grace_period(client, new_caller, run, engine):
    """The owner ends a grace period early by revoking the old token: listed
    as revoked (the extension's validation says rotated)."""
    alice = new_caller()
    new = client.post(f"/tokens/{alice.token_id}/rotate", params={"grace_seconds": 3600},
                      headers=alice.headers).json()
    assert client.delete(f"/tokens/{alice.token_id}", headers=bearer(new["token"])).status_code == 204
    assert status_of(run, engine, alice.token) == "rotated"
    listed = {t["id"]: t for t in client.get("/tokens", headers=bearer(new["token"])).json()}
    assert listed[str(alice.token_id)]["status"] == "revoked"
    assert listed[new["id"]]["status"] == "active"


@pytest.mark.parametrize("seconds", [3600, 7 * 86400])
def test_rotate_with_a_new_expiry(client, admin, new_caller, seconds):
    alice = new_caller()
    short = client.post("/tokens", headers=alice.headers, json={"name": "short", "expires_in_seconds": 600}).json()
    r = client.post(f"/tokens/{short['id']}/rotate", params={"expires_in_seconds": seconds}, headers=alice.headers)
    assert r.status_code == 201, r.text
    expires = datetime.fromisoformat(r.json()["expires_at"])
    assert timedelta(seconds=seconds - 60) < expires - datetime.now(timezone.utc) <= timedelta(seconds=seconds)
    with admin.begin() as conn:
        stored = conn.execute(text("SELECT expires_at FROM api_tokens.api_tokens WHERE id = :id"),
                              {"id": r.json()["id"]}).scalar_one()
    assert stored == expires


def test_rotate_with_a_new_expiry_before_the_grace_period_ends(client, new_caller):
    """The extension would let the successor expire while the token it
    replaces still works; the old token stops at the end of the grace
    period, or at its own expiry if sooner."""
    alice = new_caller()
    r = client.post(f"/tokens/{alice.token_id}/rotate", params={"grace_seconds": 7200, "expires_in_seconds": 3600},
                    headers=alice.headers)
    assert r.status_code == 422, r.text
    assert r.json() == {"detail": "the new token would expire before the old one stops working"}
    soon = client.post("/tokens", headers=alice.headers, json={"name": "soon", "expires_in_seconds": 600}).json()
    r = client.post(f"/tokens/{soon['id']}/rotate", params={"grace_seconds": 7200, "expires_in_seconds": 3600},
                    headers=alice.headers)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "true", str(365 * 86400 + 1), "x"])
def test_rotate_with_a_bad_expiry(client, new_caller, value):
    alice = new_caller()
    r = client.post(f"/tokens/{alice.token_id}/rotate", params={"expires_in_seconds": value}, headers=alice.headers)
    assert r.status_code == 422, r.text


def test_bootstrap_cli(client):
    out = subprocess.run([sys.executable, "-m", "app.bootstrap", "cli@example.com", "--scope", "tokens:read"],
                         cwd=Path(__file__).parents[1], check=True, capture_output=True, text=True).stdout
    token = out.strip()
    assert client.get("/tokens", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_openapi_schema_documents_the_bodies(client):
    """Routes read their bodies themselves (after authentication); the
    schema still describes them."""
    r = client.get("/openapi.json")
    assert r.status_code == 200
    body = r.json()["paths"]["/tokens"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"name", "scopes", "expires_in_seconds"}


def test_events_record_who_acted(client, admin, new_caller, run, engine):
    """Each transaction that creates, rotates or revokes sets
    api_tokens.actor (SET LOCAL): the extension records it, with the
    database role, in api_token_events."""
    alice = new_caller()
    created = client.post("/tokens", headers=alice.headers, json={"name": "ci", "scopes": ["tokens:read"]}).json()
    rotated = client.post(f"/tokens/{created['id']}/rotate", params={"grace_seconds": 60},
                          headers=alice.headers).json()
    assert client.delete(f"/tokens/{rotated['id']}", headers=alice.headers).status_code == 204

    with admin.begin() as conn:
        events = conn.execute(text(
            "SELECT event, token_id::text, actor, db_user::text FROM api_tokens.api_token_events"
            " WHERE user_id = :user ORDER BY id"), {"user": alice.user_id}).all()
    actor = f"user:{alice.user_id} token:{alice.token_id}"
    app_role = make_url(os.environ["DATABASE_URL"]).username
    assert [tuple(e) for e in events] == [
        ("created", str(alice.token_id), None, "postgres"),  # the bootstrap, as the owner
        ("created", created["id"], actor, app_role),
        ("rotated", created["id"], actor, app_role),
        ("created", rotated["id"], actor, app_role),
        ("revoked", rotated["id"], actor, app_role),
    ]

    async def pooled_actor():  # SET LOCAL: gone with the transaction
        async with engine.begin() as conn:
            return (await conn.execute(text("SELECT current_setting('api_tokens.actor')"))).scalar_one()
    assert run(pooled_actor) == ""
