"""Login throttling, per process, in bounded memory.

- Attempts are counted per account (the email given, case folded, whether
  or not such a user exists: the answer must not tell) and per client
  address (an IPv6 address by its /64), in fixed windows of
  LOGIN_WINDOW_SECONDS.  An attempt is counted when it starts, before its
  password hash is computed, so that concurrent attempts count too; a
  successful login forgets its account's count (not its address's).
- At most LOGIN_THROTTLE_ENTRIES accounts and as many addresses are
  remembered, the least recently seen forgotten first.
- Password hashes (scrypt, about 16 MiB and tens of milliseconds each) are
  computed by at most LOGIN_HASHING_THREADS threads, with at most
  LOGIN_HASHING_QUEUE logins waiting for one; beyond that a login is
  answered 503 at once.  Without this bound, 60 concurrent logins took
  every thread of the pool and the CPU from every other request.

Each worker process counts for itself: with N workers an address may try
up to N times the limits.
"""
import ipaddress
import math
import time
from collections import OrderedDict
from typing import Callable, Optional, Tuple

import anyio


class Window:
    """Attempts per key in fixed windows, at most max_keys keys."""

    def __init__(self, limit: int, window_seconds: int, max_keys: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_keys = max_keys
        self.clock = clock
        self._entries: "OrderedDict[str, Tuple[float, int]]" = OrderedDict()

    def attempt(self, key: str) -> Optional[int]:
        """Counts an attempt; None if it may go ahead, else the seconds to
        wait (an attempt refused is not counted)."""
        now = self.clock()
        started, count = self._entries.get(key, (now, 0))
        if now - started >= self.window:
            started, count = now, 0
        if count >= self.limit:
            self._entries.move_to_end(key)
            return max(1, math.ceil(started + self.window - now))
        self._entries[key] = (started, count + 1)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)
        return None

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


def account_key(email: str) -> str:
    return email.strip().casefold()


def address_key(host: Optional[str]) -> str:
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return host or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class Busy(Exception):
    """Too many logins are waiting for a password hash."""


class Hashing:
    """Runs password checks in at most `threads` threads, with at most
    `queue` more waiting for one."""

    def __init__(self, threads: int, queue: int) -> None:
        self.limiter = anyio.CapacityLimiter(threads)
        self.capacity = threads + queue
        self.in_flight = 0

    async def run(self, function, *args):
        if self.in_flight >= self.capacity:
            raise Busy()
        self.in_flight += 1
        try:
            return await anyio.to_thread.run_sync(function, *args, limiter=self.limiter)
        finally:
            self.in_flight -= 1


class LoginThrottle:
    def __init__(self, per_account: int, per_address: int, window_seconds: int, max_keys: int,
                 threads: int, queue: int) -> None:
        self.accounts = Window(per_account, window_seconds, max_keys)
        self.addresses = Window(per_address, window_seconds, max_keys)
        self.hashing = Hashing(threads, queue)

    @classmethod
    def from_settings(cls, settings) -> "LoginThrottle":
        return cls(settings.login_attempts_per_account, settings.login_attempts_per_address,
                   settings.login_window_seconds, settings.login_throttle_entries,
                   settings.login_hashing_threads, settings.login_hashing_queue)

    def attempt(self, email: str, host: Optional[str]) -> Optional[int]:
        """None if the login may go ahead; else the seconds to wait."""
        wait = self.addresses.attempt(address_key(host))
        if wait is not None:
            return wait
        return self.accounts.attempt(account_key(email))

    def succeeded(self, email: str) -> None:
        self.accounts.forget(account_key(email))
