"""Issue a user's first token, which the API cannot do (it needs one).

    ADMIN_DATABASE_URL=... python3 -m app.bootstrap alice@example.com

Creates the user if missing and prints the plaintext token on stdout, once.
Runs as the database owner: the application role cannot insert users.
"""
import argparse
import os
import sys
from typing import Sequence, Tuple
from uuid import UUID

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

DEFAULT_SCOPES = ["tokens:read", "tokens:write"]


def issue_token(conn: Connection, email: str, name: str, scopes: Sequence[str]) -> Tuple[UUID, UUID, str]:
    """Returns (user_id, token_id, token)."""
    user_id = conn.execute(
        text("INSERT INTO users (email) VALUES (:email) "
             "ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING id"),
        {"email": email},
    ).scalar_one()
    token_id, token = conn.execute(
        text("SELECT token_id, token FROM api_token_create(:user_id, :name, CAST(:scopes AS text[]))"),
        {"user_id": user_id, "name": name, "scopes": list(scopes)},
    ).one()
    return UUID(str(user_id)), UUID(str(token_id)), token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("email")
    parser.add_argument("--name", default="bootstrap")
    parser.add_argument("--scope", action="append", dest="scopes",
                        help=f"repeatable; default: {' '.join(DEFAULT_SCOPES)}")
    args = parser.parse_args()
    engine = create_engine(os.environ["ADMIN_DATABASE_URL"], future=True)
    with engine.begin() as conn:
        user_id, token_id, token = issue_token(conn, args.email, args.name, args.scopes or DEFAULT_SCOPES)
    print(f"user {user_id}, token {token_id}", file=sys.stderr)
    print(token)


if __name__ == "__main__":
    main()
