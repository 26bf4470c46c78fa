"""POST /secret-scanning/report, with a key pair made here in place of
GitHub's."""
import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import text

from app import scanning
from app.main import app

from .conftest import status_of

KEY_ID = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a"
PATH = "/secret-scanning/report"


@pytest.fixture(scope="module")
def signing_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(autouse=True)
def trusted_keys(signing_key):
    app.dependency_overrides[scanning.public_keys] = lambda: {KEY_ID: signing_key.public_key()}
    yield
    del app.dependency_overrides[scanning.public_keys]


def sign(key, body: bytes) -> str:
    return base64.b64encode(key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()


def post(client, body: bytes, key=None, key_id=KEY_ID, signature=None):
    headers = {"Content-Type": "application/json"}
    if key_id is not None:
        headers[scanning.KEY_ID_HEADER] = key_id
    if signature is None and key is not None:
        signature = sign(key, body)
    if signature is not None:
        headers[scanning.SIGNATURE_HEADER] = signature
    return client.post(PATH, content=body, headers=headers)


def report(*tokens_):
    return json.dumps([{"token": t, "type": "example_pat", "url": "https://gist.example/1", "source": "gist"}
                       for t in tokens_]).encode()


def test_report_revokes_our_tokens(client, new_caller, admin, signing_key, run, engine):
    alice, bob = new_caller(), new_caller()
    with admin.begin() as conn:
        conn.execute(text("SELECT api_tokens.api_token_revoke(:id)"), {"id": bob.token_id})  # ours, already revoked
        # well-formed, never issued
        stranger = conn.execute(text("SELECT api_tokens.api_token_generate()")).scalar_one()
    reported = [alice.token, bob.token, stranger, "pat_not-a-token", "x\u0000y", alice.token]
    r = post(client, report(*reported), signing_key)
    assert r.status_code == 200, r.text
    assert r.json() == [
        {"token_hash": hashlib.sha256(t.encode()).hexdigest(), "token_type": "example_pat", "label": label}
        for t, label in zip(reported, ["true_positive", "true_positive", "false_positive", "false_positive",
                                       "false_positive", "true_positive"])]
    assert r.headers["cache-control"] == "no-store"
    assert status_of(run, engine, alice.token) == "inactive"
    assert client.get("/tokens", headers=alice.headers).status_code == 401


@pytest.mark.parametrize("grace", [0, 3600])
def test_report_of_a_rotated_out_token(client, new_caller, admin, signing_key, run, engine, grace):
    """A token rotated out (1.1: validated as "rotated" once stopped) is
    ours.  Labelling it is a lookup, not a use: no "reused" event, which
    api_tokens.rotated_reuse = revoke_family would answer by revoking the
    successor, whose holder leaked nothing.  The revocation names its actor."""
    alice = new_caller()
    successor = client.post(f"/tokens/{alice.token_id}/rotate", params={"grace_seconds": grace},
                            headers=alice.headers).json()
    r = post(client, report(alice.token), signing_key)
    assert r.status_code == 200, r.text
    assert [e["label"] for e in r.json()] == ["true_positive"]
    assert status_of(run, engine, successor["token"]) == "valid"
    with admin.begin() as conn:
        events = conn.execute(text("SELECT event, actor FROM api_tokens.api_token_events"
                                   " WHERE token_id = :id ORDER BY id"),
                              {"id": alice.token_id}).all()
    assert [tuple(e) for e in events][2:] == ([("revoked", "secret-scanning")] if grace else [])


@pytest.mark.parametrize("case", ["no headers", "no signature", "unknown key", "other key",
                                  "tampered body", "not base64", "not DER", "empty signature"])
def test_attack_forged_report(client, new_caller, signing_key, run, engine, case):
    """Anyone can post to the endpoint: only a report signed with a trusted
    key may revoke tokens."""
    victim = new_caller()
    body = report(victim.token)
    other = ec.generate_private_key(ec.SECP256R1())
    kwargs = {
        "no headers": dict(key_id=None),
        "no signature": dict(),
        "unknown key": dict(key=signing_key, key_id="not-a-key"),
        "other key": dict(key=other),
        "tampered body": dict(signature=sign(signing_key, report("pat_something-else"))),
        "not base64": dict(signature="%%%"),
        "not DER": dict(signature=base64.b64encode(b"\x30\x02\x01").decode()),
        "empty signature": dict(signature=""),
    }[case]
    r = post(client, body, **kwargs)
    assert r.status_code == 401, r.text
    assert status_of(run, engine, victim.token) == "valid"


@pytest.mark.parametrize("body", [
    b"not json", b"{\"token\": \"x\"}", b"[]", b"[1]", b"[{\"type\": \"t\"}]",
    b"[{\"token\": 1, \"type\": \"t\"}]", b"[" * 50000,
], ids=["not JSON", "an object", "empty", "a number", "no token", "a token not a string", "deep nesting"])
def test_malformed_report(client, signing_key, body):
    r = post(client, body, signing_key)
    assert r.status_code == 400, r.text
    assert "not json" not in r.text


def test_attack_huge_report(client, signing_key):
    r = post(client, b" " * (scanning.MAX_BODY_BYTES + 1), signing_key)
    assert r.status_code == 413


def test_public_keys_in_githubs_format(tmp_path, signing_key):
    pem = signing_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"public_keys": [{"key_identifier": KEY_ID, "key": pem, "is_current": True}]}))
    keys = scanning.load_public_keys(str(path))
    assert list(keys) == [KEY_ID]

    p384 = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    path.write_text(json.dumps({"public_keys": [{"key_identifier": "k", "key": p384, "is_current": True}]}))
    with pytest.raises(ValueError, match="P-256"):
        scanning.load_public_keys(str(path))


def test_without_keys_every_report_is_refused(client, signing_key, new_caller, run, engine):
    victim = new_caller()
    app.dependency_overrides[scanning.public_keys] = lambda: {}
    r = post(client, report(victim.token), signing_key)
    assert r.status_code == 401
    assert status_of(run, engine, victim.token) == "valid"


def test_attack_one_odd_entry_saves_the_leaked_token(client, new_caller, signing_key, run, engine):
    """A report with one entry too long (url, token), with a type that
    cannot be echoed, or with more than 1,000 entries, was refused whole,
    and the real leaked token in it stayed valid.  Each entry that has a
    token is answered; what can be ours is revoked."""
    alice, bob = new_caller(), new_caller()
    odd = [{"token": "pat_" + "x" * 5000, "type": "t", "url": "u"},
           {"token": "pat_y", "type": "t", "url": "https://gist.example/" + "x" * 100000},
           {"token": "pat_z", "type": "\ud800"},
           {"token": 7}, "not an object"]
    body = json.dumps(odd + [{"token": alice.token, "type": "example_pat"}]).encode()
    r = post(client, body, signing_key)
    assert r.status_code == 200, r.text
    assert [(e["token_type"], e["label"]) for e in r.json()] == [
        ("t", "false_positive"), ("t", "false_positive"), ("", "false_positive"), ("example_pat", "true_positive")]
    assert status_of(run, engine, alice.token) == "inactive"

    many = [{"token": f"pat_{i}", "type": "t"} for i in range(2500)] + [{"token": bob.token, "type": "t"}]
    r = post(client, json.dumps(many).encode(), signing_key)
    assert r.status_code == 200 and len(r.json()) == 2501 and r.json()[-1]["label"] == "true_positive"
    assert status_of(run, engine, bob.token) == "inactive"
