"""api_tokens 1.1: rotation lineage, a successor's own expiry, events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 00:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

APP_ROLE = "tokens_app"  # created by 0001

# What the application uses of the 1.1 API:
# - api_token_successor: authentication holds a token rotated out, but still
#   in its grace period, to reading (app/auth.py);
# - api_token_revoke_family: the admin page's "revoke family" action;
# - api_token_rotations (a table the extension creates): listings show
#   which tokens were rotated out, and until when they still work.
# api_token_rotate changes signature in 1.1, (uuid, interval) becoming
# (uuid, interval, timestamptz); the update script carries the EXECUTE that
# 0001 granted over to the new function, so nothing is granted for it here.
# api_token_events is not granted: the application writes events through
# the extension's functions (with api_tokens.actor) and never reads them.
FUNCTIONS = "api_tokens.api_token_successor(uuid), api_tokens.api_token_revoke_family(uuid)"
TABLES = "api_tokens.api_token_rotations"


def upgrade() -> None:
    # Needs the 1.1 scripts installed on the server, and a superuser (the
    # extension's owner), as CREATE EXTENSION did.  A no-op, with a notice,
    # in a database already at 1.1.
    op.execute("ALTER EXTENSION api_tokens UPDATE TO '1.1'")
    op.execute(f"GRANT EXECUTE ON FUNCTION {FUNCTIONS} TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON {TABLES} TO {APP_ROLE}")


def downgrade() -> None:
    # An extension cannot be downgraded: there is no 1.1 -> 1.0 script, and
    # going back would mean dropping api_token_rotations and api_token_events
    # with their history.  So this only takes back what upgrade() granted;
    # the extension stays at 1.1.  The code of revision 0002 runs on 1.1:
    # its two-argument call of api_token_rotate still resolves (the third
    # argument has a default), and the status "rotated" is refused with 401
    # like any status that code does not know.  Upgrading again re-runs
    # ALTER EXTENSION ... UPDATE, a no-op, and the grants.  Only a downgrade
    # to base (DROP EXTENSION, and every token with it) removes 1.1.
    op.execute(f"REVOKE SELECT ON {TABLES} FROM {APP_ROLE}")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {FUNCTIONS} FROM {APP_ROLE}")
