"""What the admin page accepts as a token's limits (version 1.2 of the
extension): a rate limit, credits and an address allowlist.

Every value is checked here, before it reaches the database, which checks
it again (the setters, the table's constraints, the cidr type): a refused
value is a form error naming the field, never shown back, never a 500.
"""
import ipaddress
from typing import List, Optional, Tuple

from .rules import DAY
from .tokens import Credits, RateLimit

# The periods a rate limit counts over (the extension allows up to a year).
RATE_WINDOWS: List[Tuple[int, str]] = [(1, "second"), (60, "minute"), (3600, "hour"), (DAY, "day")]
# How often credits may be refilled ("" in the form: never).
REFILL_PERIODS: List[Tuple[int, str]] = [(3600, "hour"), (DAY, "day"), (7 * DAY, "7 days"), (30 * DAY, "30 days")]
MAX_REQUESTS = 1_000_000  # per window; rate_limit is an integer
MAX_CREDITS = 1_000_000_000_000  # credits and refills are bigints; this is plenty
MAX_ADDRESSES = 1000  # the extension refuses more
MAX_ADDRESSES_CHARS = 64 * 1024  # the form field

LIMIT_KINDS = ("rate", "credits", "addresses")


class LimitInputError(ValueError):
    """A value the form refuses; its message is for the page (it never
    repeats the value)."""


def _count(value: str, field: str, low: int, high: int) -> int:
    value = value.strip()
    # ASCII digits only: int() also reads other scripts' digits, "1_000" and " 1".
    if not (value.isascii() and value.isdigit()) or len(value) > 20 or not low <= int(value) <= high:
        raise LimitInputError(f"{field} must be a whole number from {low:,} to {high:,}.")
    return int(value)


def rate_limit(max_requests: str, per_seconds: int) -> RateLimit:
    """per_seconds is a choice of RATE_WINDOWS, checked by the caller."""
    if not max_requests.strip():
        raise LimitInputError("Enter how many requests the token may make per period.")
    return RateLimit(_count(max_requests, "Requests", 1, MAX_REQUESTS), per_seconds)


def credits(remaining: str, refill: str, refill_every_seconds: Optional[int]) -> Credits:
    """refill_every_seconds is a choice of REFILL_PERIODS or None (never),
    checked by the caller; a refill needs both an amount and a period."""
    if not remaining.strip():
        raise LimitInputError("Enter how many credits the token has left.")
    left = _count(remaining, "Credits", 0, MAX_CREDITS)
    if not refill.strip():
        if refill_every_seconds is not None:
            raise LimitInputError("Enter how many credits each refill sets, or choose to refill never.")
        return Credits(left)
    if refill_every_seconds is None:
        raise LimitInputError("Choose how often the credits are refilled, or leave the refill empty.")
    return Credits(left, _count(refill, "Refill", 1, MAX_CREDITS), refill_every_seconds)


def allowed_addresses(text: str) -> List[str]:
    """Addresses and networks separated by spaces, commas or new lines, as
    PostgreSQL's cidr takes them: 192.0.2.7 (one address), 192.0.2.0/24,
    2001:db8::/32; no host bits past the prefix (192.0.2.7/24 is refused, as
    cidr refuses it), no IPv6 zone.  Returns them in canonical form,
    without duplicates."""
    entries = text.replace(",", " ").split()
    if not entries:
        raise LimitInputError("Enter at least one address or network. To allow every address, "
                              "remove the allowlist instead.")
    if len(entries) > MAX_ADDRESSES:
        raise LimitInputError(f"At most {MAX_ADDRESSES:,} addresses or networks.")
    networks: List[str] = []
    for position, entry in enumerate(entries, 1):
        if not entry.isascii() or not entry.isprintable() or "%" in entry or len(entry) > 64:
            raise LimitInputError(f"Entry {position} is not an IP address or a network in CIDR notation.")
        try:
            network = ipaddress.ip_network(entry, strict=True)
        except ValueError:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise LimitInputError(f"Entry {position} is not an IP address or a network in CIDR "
                                      "notation (192.0.2.7, 192.0.2.0/24, 2001:db8::/32).") from None
            raise LimitInputError(f"Entry {position} has bits set past its prefix length: give the "
                                  "network's first address (10.1.2.0/24, not 10.1.2.3/24).") from None
        canonical = str(network)
        if canonical not in networks:
            networks.append(canonical)
    return networks
