"""What the application accepts as a token's name, scopes and lifetime.

The same rules serve the JSON API (app/schemas.py) and the pages
(app/web.py), and run before anything reaches the database.
"""
import re
import unicodedata
from typing import Dict, Iterable, List

# The scopes this application knows, with what the pages say about them.
SCOPES: Dict[str, str] = {
    "tokens:read": "List your tokens",
    "tokens:write": "Create, rotate and revoke your tokens",
}

# Scopes that only read.  A token rotated out but still in its grace period
# may use a route that requires none but these (app/auth.py).
READ_ONLY_SCOPES = frozenset({"tokens:read"})

NAME_MAX_CHARS = 100  # api_tokens.name is varchar(100)
SCOPE_MAX_CHARS = 50  # api_tokens.scopes is varchar(50)[]
# At most this many scopes per token.  The extension refuses more than 256
# (SQLSTATE 54000); the application stops far earlier, before the database.
MAX_SCOPES = 32
SCOPE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]*\Z")

DAY = 24 * 3600
# A token issued through the API or the pages lives at most a year (as
# GitLab's maximum); only the operator's bootstrap command issues tokens
# that never expire.
MAX_LIFETIME_SECONDS = 365 * DAY
# How long a rotated token may keep working next to its successor.
MAX_GRACE_SECONDS = 30 * DAY

# Unicode categories a name must not contain: control (NUL, escapes,
# newlines), format (bidirectional overrides and isolates, zero-width
# characters), surrogate (a lone surrogate cannot even be encoded in UTF-8),
# private use, unassigned, and line and paragraph separators.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def clean_name(value: str) -> str:
    """The name with surrounding white space removed; ValueError if it is
    blank, too long, or contains a character that could hide or disguise
    text where the name is shown."""
    name = value.strip()
    if not name:
        raise ValueError("must not be blank")
    if len(name) > NAME_MAX_CHARS:
        raise ValueError(f"must have at most {NAME_MAX_CHARS} characters")
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in name):
        raise ValueError("must not contain control, format (such as bidirectional overrides), "
                         "surrogate, private-use or unassigned characters")
    return name


def check_scope(value: str) -> str:
    if len(value) > SCOPE_MAX_CHARS or not SCOPE_PATTERN.match(value):
        raise ValueError(f"a scope has 1 to {SCOPE_MAX_CHARS} characters among A-Z a-z 0-9 _ . : / -")
    return value


def unique(values: Iterable[str]) -> List[str]:
    """The values without duplicates, in their first order."""
    return list(dict.fromkeys(values))
