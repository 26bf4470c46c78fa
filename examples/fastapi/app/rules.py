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


# Characters that draw nothing but are not spaces (which strip() removes):
# Hangul fillers, the Braille blank, Khmer inherent vowels, Mongolian
# separators and selectors, the combining grapheme joiner.  A name made of
# them looks empty, or like another name with them inside.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5\u180b\u180c\u180d\u180e\u180f\u034f")
# Combining marks in a row: a few serve real scripts (Vietnamese, Hebrew
# points, Arabic vowels); dozens are drawn above and below the line, over
# other rows of a table.
MAX_COMBINING_RUN = 3
_COMBINING = frozenset({"Mn", "Me"})
# What a name must contain at least one of: letters, digits, punctuation,
# symbols.
_VISIBLE_CATEGORIES = frozenset({"L", "N", "P", "S"})


def _combining_run(name: str) -> int:
    longest = run = 0
    for ch in name:
        run = run + 1 if unicodedata.category(ch) in _COMBINING else 0
        longest = max(longest, run)
    return longest


def clean_name(value: str) -> str:
    """The name with surrounding white space removed; ValueError if it is
    blank, too long, or contains a character that could hide or disguise
    text where the name is shown (the pages show names where an
    administrator decides what to revoke)."""
    name = value.strip()
    if not name:
        raise ValueError("must not be blank")
    if len(name) > NAME_MAX_CHARS:
        raise ValueError(f"must have at most {NAME_MAX_CHARS} characters")
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in name):
        raise ValueError("must not contain control, format (such as bidirectional overrides), "
                         "surrogate, private-use or unassigned characters")
    if any(ch in _INVISIBLE for ch in name):
        raise ValueError("must not contain invisible characters (such as the Hangul filler or the Braille blank)")
    if unicodedata.category(name[0]) in _COMBINING or _combining_run(name) > MAX_COMBINING_RUN:
        raise ValueError(f"must not start with a combining mark, nor have more than {MAX_COMBINING_RUN} in a row")
    return name


def shown_name(name: str) -> str:
    """A stored name as the pages show it.  Names made through the
    application pass clean_name; one that does not (set by other means, or
    before a rule existed) is shown with every offending character as
    U+FFFD, and a name with nothing visible left as "(no visible name)"."""
    try:
        return clean_name(name)
    except ValueError:
        pass
    shown, run = [], 0
    for ch in name.strip():
        category = unicodedata.category(ch)
        run = run + 1 if category in _COMBINING else 0
        if category in _FORBIDDEN_CATEGORIES or ch in _INVISIBLE or run > MAX_COMBINING_RUN or \
                (run and not shown):
            shown.append("\ufffd")
        else:
            shown.append(ch)
    if not any(unicodedata.category(ch)[0] in _VISIBLE_CATEGORIES and ch != "\ufffd" for ch in shown):
        return "(no visible name)"
    return "".join(shown)[:NAME_MAX_CHARS]


def check_scope(value: str) -> str:
    if len(value) > SCOPE_MAX_CHARS or not SCOPE_PATTERN.match(value):
        raise ValueError(f"a scope has 1 to {SCOPE_MAX_CHARS} characters among A-Z a-z 0-9 _ . : / -")
    return value


def unique(values: Iterable[str]) -> List[str]:
    """The values without duplicates, in their first order."""
    return list(dict.fromkeys(values))
