"""Issue a user's first token, which the API cannot do (it needs one), and
set up logins for the pages.

    ADMIN_DATABASE_URL=... python3 -m app.bootstrap alice@example.com
    ADMIN_DATABASE_URL=... python3 -m app.bootstrap root@example.com --admin --password-stdin --no-token

Creates the user if missing and prints the plaintext token on stdout, once.
--password-stdin sets the pages' password from the first line of standard
input; --admin makes the user an administrator of the admin page.  Runs as
the database owner: the application role cannot insert users.
"""
import argparse
import os
import sys
from typing import Optional, Sequence, Tuple
from uuid import UUID

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from .passwords import hash_password

DEFAULT_SCOPES = ["tokens:read", "tokens:write"]


def ensure_user(conn: Connection, email: str) -> UUID:
    """Emails are kept in lower case: logins ignore case."""
    email = email.strip().lower()
    user_id = conn.execute(
        text("INSERT INTO public.users (email) VALUES (:email) "
             "ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING id"),
        {"email": email},
    ).scalar_one()
    return UUID(str(user_id))


def set_login(conn: Connection, email: str, password: Optional[str], is_admin: Optional[bool]) -> UUID:
    """Creates the user if missing; sets the password and the admin flag
    (None: leaves it as it is).  A new password ends the user's sessions
    (a trigger of migration 0004)."""
    user_id = ensure_user(conn, email)
    conn.execute(text("UPDATE public.users SET is_admin = coalesce(:admin, is_admin),"
                      " password_hash = coalesce(:hash, password_hash) WHERE id = :id"),
                 {"admin": is_admin, "hash": hash_password(password) if password is not None else None,
                  "id": user_id})
    return user_id


def issue_token(conn: Connection, email: str, name: str, scopes: Sequence[str],
                expires_in_seconds: Optional[int] = None) -> Tuple[UUID, UUID, str]:
    """Returns (user_id, token_id, token).  No expiry unless expires_in_seconds."""
    user_id = ensure_user(conn, email)
    token_id, token = conn.execute(
        text("SELECT token_id, token"
             "  FROM api_tokens.api_token_create(CAST(:user_id AS uuid), CAST(:name AS text),"
             "       CAST(:scopes AS text[]), now() + make_interval(secs => CAST(:ttl AS double precision)))"),
        {"user_id": user_id, "name": name, "scopes": list(scopes), "ttl": expires_in_seconds},
    ).one()
    return user_id, UUID(str(token_id)), token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("email")
    parser.add_argument("--name", default="bootstrap")
    parser.add_argument("--scope", action="append", dest="scopes",
                        help=f"repeatable; default: {' '.join(DEFAULT_SCOPES)}")
    parser.add_argument("--admin", action="store_true", help="an administrator of the admin page")
    parser.add_argument("--password-stdin", action="store_true",
                        help="set the login password to the first line of standard input")
    parser.add_argument("--no-token", action="store_true", help="only create the user and its login")
    args = parser.parse_args()
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    if password == "":
        parser.error("empty password")
    engine = create_engine(os.environ["ADMIN_DATABASE_URL"], future=True)
    with engine.begin() as conn:
        user_id = set_login(conn, args.email, password, True if args.admin else None) if (password or args.admin) \
            else ensure_user(conn, args.email)
        if not args.no_token:
            _, token_id, token = issue_token(conn, args.email, args.name, args.scopes or DEFAULT_SCOPES)
    engine.dispose()
    if args.no_token:
        print(f"user {user_id}", file=sys.stderr)
    else:
        print(f"user {user_id}, token {token_id}", file=sys.stderr)
        print(token)


if __name__ == "__main__":
    main()
