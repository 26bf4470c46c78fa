"""POST /secret-scanning/report: GitHub's Secret Scanning Partner Program.

GitHub posts the tokens of ours it found in public places as a JSON array
of {"token", "type", "url", "source"}, signed: Github-Public-Key-Identifier
names one of GitHub's public keys, Github-Public-Key-Signature is the
base64 of an ASN.1 DER ECDSA signature (P-256, SHA-256) of the raw body.
We verify it, revoke the tokens with api_token_revoke_leaked (the events
name the actor "secret-scanning"), and answer for each one
[{"token_hash", "token_type", "label"}], where label is true_positive if
the token is one of ours (well-formed and found by its hash, whatever its
state, rotated out included) and false_positive otherwise.  An entry that
cannot be ours (a token too long, a url of any size, a type that cannot be
echoed) never stops the others from being revoked: the endpoint revokes
what it can and answers for every entry that has a token.

The public keys come from the file named by SECRET_SCANNING_KEYS_FILE, in
the format GitHub publishes them at /meta/public_keys/secret_scanning:
{"public_keys": [{"key_identifier": "...", "key": "-----BEGIN PUBLIC
KEY-----...", "is_current": true}]}.  Without it, every report is refused.
"""
import base64
import binascii
import hashlib
import json
import logging
from typing import Dict, List, Optional, Set

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import APIRouter, Depends, HTTPException, Request, status

from . import tokens
from .db import get_engine
from .tokens import database_errors

log = logging.getLogger(__name__)
router = APIRouter()

PATH = "/secret-scanning/report"
KEY_ID_HEADER = "Github-Public-Key-Identifier"
SIGNATURE_HEADER = "Github-Public-Key-Signature"
MAX_BODY_BYTES = 1024 * 1024  # app/main.py gives this path this request-size limit
# Tokens sent to the database at a time.
BATCH = 1000
MAX_TYPE_CHARS = 200
# The longest token has 47 characters (a 10-character brand): anything
# longer, or not ASCII, cannot be ours and is not sent to the database.
MAX_CANDIDATE_CHARS = 64

PublicKeys = Dict[str, ec.EllipticCurvePublicKey]


def load_public_keys(path: str) -> PublicKeys:
    """The P-256 keys of a file in GitHub's format, by key identifier."""
    with open(path, "rb") as f:
        document = json.load(f)
    keys: PublicKeys = {}
    for entry in document["public_keys"]:
        key = load_pem_public_key(entry["key"].encode("ascii"))
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"key {entry['key_identifier']!r} is not an ECDSA P-256 key")
        keys[entry["key_identifier"]] = key
    return keys


def keys_from_file(path: Optional[str]) -> PublicKeys:
    """SECRET_SCANNING_KEYS_FILE's keys; none without it."""
    if not path:
        log.warning("SECRET_SCANNING_KEYS_FILE is not set: %s refuses every report", PATH)
        return {}
    return load_public_keys(path)


def public_keys(request: Request) -> PublicKeys:
    """Loaded at startup (app/main.py); tests override this dependency."""
    return request.app.state.scanning_keys


def _refused() -> HTTPException:
    # The same answer for a missing header, an unknown key and a bad signature.
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid signature")


def _verify(keys: PublicKeys, key_id: Optional[str], signature: Optional[str], body: bytes) -> None:
    key = keys.get(key_id or "")
    if key is None or not signature:
        raise _refused()
    try:
        der = base64.b64decode(signature, validate=True)
        key.verify(der, body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise _refused() from None


def _plausible(token: str) -> bool:
    return len(token) <= MAX_CANDIDATE_CHARS and token.isascii() and token.isprintable()


def token_hash(token: str) -> str:
    """What api_token_hash computes: hex SHA-256 of the UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Entry:
    """One reported entry, as far as it can be read."""
    __slots__ = ("token", "type")

    def __init__(self, token: str, type_: str) -> None:
        self.token = token
        self.type = type_


def _clean_type(value: object) -> str:
    """The entry's type, echoed back in the answer as GitHub expects, if it
    is a short printable string; otherwise empty (a lone surrogate could
    not even be encoded in the answer)."""
    if isinstance(value, str) and len(value) <= MAX_TYPE_CHARS and value.isprintable():
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            pass
    return ""


def read_entries(data: object) -> List[Entry]:
    """The entries that have a token (a string), in order; the others (not
    an object, no token) cannot be answered and are left out.  A token too
    long or otherwise impossible is still answered, as a false positive:
    one odd entry never keeps the others from being revoked."""
    if not isinstance(data, list):
        raise ValueError("not an array")
    entries = [Entry(item["token"], _clean_type(item.get("type")))
               for item in data if isinstance(item, dict) and isinstance(item.get("token"), str)]
    if not entries:
        raise ValueError("no entry with a token")
    return entries


@router.post(PATH)
async def report_leaked_tokens(request: Request, keys: PublicKeys = Depends(public_keys)) -> List[dict]:
    key_id = request.headers.get(KEY_ID_HEADER)
    signature = request.headers.get(SIGNATURE_HEADER)
    if keys.get(key_id or "") is None or not signature:
        raise _refused()  # before reading the body
    body = await request.body()  # at most MAX_BODY_BYTES (app/middleware.py)
    _verify(keys, key_id, signature, body)
    try:
        entries = read_entries(json.loads(body))
    except (ValueError, RecursionError):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "expected a JSON array of "
                            '{"token", "type", "url", "source"}') from None

    candidates = list(dict.fromkeys(e.token for e in entries if _plausible(e.token)))
    # However many a report holds (at most what fits in MAX_BODY_BYTES),
    # each is revoked: sent to the database BATCH at a time.
    async with database_errors(), get_engine(request).begin() as conn:
        check = await tokens.revoke_leaked(conn, tokens.SECRET_SCANNING_ACTOR, candidates, BATCH)
    known: Set[str] = {t for t, ours in zip(candidates, check.known) if ours}
    revoked = check.revoked
    # Counts only: a log line never holds a token or a hash.
    log.info("secret scanning report: %d entries with a token, %d of ours, %d revoked now",
             len(entries), sum(e.token in known for e in entries), revoked)
    return [{"token_hash": token_hash(e.token), "token_type": e.type,
             "label": "true_positive" if e.token in known else "false_positive"}
            for e in entries]
