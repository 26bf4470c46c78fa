"""The application's settings, read once from the environment (README.md,
"Settings").  A missing or malformed required setting stops the start with
a message naming it, rather than a default that breaks later (a random
session secret per process, say, logs users out whenever a request reaches
another worker)."""
import ipaddress
import os
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

MIN_SECRET_CHARS = 32


class SettingsError(RuntimeError):
    pass


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise SettingsError(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
    return int(raw)


def _networks(env: Mapping[str, str], name: str) -> Tuple[Network, ...]:
    networks = []
    for item in env.get(name, "").replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(f"{name}: {item!r} is not an IP address or network") from None
    return tuple(networks)


@dataclass(frozen=True)
class Settings:
    database_url: str
    # Signs the login form's CSRF cookie (app/sessions.py); the same in
    # every worker and across restarts.
    session_secret: str
    # Session cookies are Secure (and named __Host-...): HTTPS only.
    https_only: bool = False
    # A session ends after this long without a request, and in any case
    # this long after the login.
    session_idle_seconds: int = 3600
    session_lifetime_seconds: int = 8 * 3600
    # Peers whose X-Forwarded-Proto and X-Forwarded-For are believed
    # (app/middleware.py, TrustedProxies); nobody's by default.
    trusted_proxies: Tuple[Network, ...] = ()
    # Login attempts within login_window_seconds, per account (the email
    # given, whether it exists or not) and per client address (per /64 for
    # IPv6); a successful login forgets the account's.
    login_attempts_per_account: int = 5
    login_attempts_per_address: int = 30
    login_window_seconds: int = 900
    # Password hashes computed at once, and waiting, per process: more
    # waiting logins are answered 503 at once (app/throttle.py).
    login_hashing_threads: int = 1
    login_hashing_queue: int = 16
    # Accounts and addresses remembered per process, least recently used
    # forgotten first: the throttle's memory is bounded.
    login_throttle_entries: int = 10000
    secret_scanning_keys_file: Optional[str] = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        database_url = env.get("DATABASE_URL", "")
        if not database_url:
            raise SettingsError("DATABASE_URL is not set")
        secret = env.get("SESSION_SECRET", "")
        if len(secret) < MIN_SECRET_CHARS:
            raise SettingsError(f"SESSION_SECRET must be set, to at least {MIN_SECRET_CHARS} random characters, "
                                "the same in every process (python3 -c 'import secrets; "
                                "print(secrets.token_urlsafe(32))')")
        https_only = env.get("SESSION_HTTPS_ONLY", "")
        if https_only not in ("", "0", "1"):
            raise SettingsError(f"SESSION_HTTPS_ONLY must be 0 or 1, not {https_only!r}")
        idle = _int(env, "SESSION_IDLE_SECONDS", cls.session_idle_seconds, 60, 30 * 86400)
        lifetime = _int(env, "SESSION_LIFETIME_SECONDS", cls.session_lifetime_seconds, 60, 90 * 86400)
        if idle > lifetime:
            raise SettingsError("SESSION_IDLE_SECONDS must not be more than SESSION_LIFETIME_SECONDS")
        return cls(
            database_url=database_url,
            session_secret=secret,
            https_only=https_only == "1",
            session_idle_seconds=idle,
            session_lifetime_seconds=lifetime,
            trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
            login_attempts_per_account=_int(env, "LOGIN_ATTEMPTS_PER_ACCOUNT", cls.login_attempts_per_account,
                                            1, 10000),
            login_attempts_per_address=_int(env, "LOGIN_ATTEMPTS_PER_ADDRESS", cls.login_attempts_per_address,
                                            1, 100000),
            login_window_seconds=_int(env, "LOGIN_WINDOW_SECONDS", cls.login_window_seconds, 1, 86400),
            login_hashing_threads=_int(env, "LOGIN_HASHING_THREADS", cls.login_hashing_threads, 1, 64),
            login_hashing_queue=_int(env, "LOGIN_HASHING_QUEUE", cls.login_hashing_queue, 0, 10000),
            login_throttle_entries=_int(env, "LOGIN_THROTTLE_ENTRIES", cls.login_throttle_entries, 100, 10**7),
            secret_scanning_keys_file=env.get("SECRET_SCANNING_KEYS_FILE") or None,
        )
