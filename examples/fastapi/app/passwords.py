"""Password hashes for the pages' login: scrypt from the standard library
(hashlib, through OpenSSL), stored as scrypt$N$r$p$salt$hash."""
import base64
import hashlib
import hmac
import secrets
from typing import Optional

N, R, P = 2**14, 8, 1  # about 16 MiB and a few tens of milliseconds per hash
SALT_BYTES, KEY_BYTES = 16, 32
MAX_PASSWORD_CHARS = 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p,
                          dklen=KEY_BYTES, maxmem=64 * 1024 * 1024)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_derive(password, salt, N, R, P))}"


# Compared against when the user does not exist or has no password, so
# that the answer takes as long as for a real user.
_DUMMY = hash_password(secrets.token_urlsafe(16))


def verify_password(password: str, stored: Optional[str]) -> bool:
    """Constant work whether or not there is a user; never raises."""
    known = stored is not None
    try:
        scheme, n, r, p, salt, expected = (stored or _DUMMY).split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        derived = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(derived, base64.b64decode(expected)) and known
    except (ValueError, TypeError):
        return False
