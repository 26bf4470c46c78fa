"""api_tokens 1.2: limits per token (rate, credits, address allowlist), verification with the client's address

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10 00:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

APP_ROLE = "tokens_app"  # created by 0001

# What the application uses of the 1.2 API:
# - api_token_verify: authentication, with the client's address and a cost
#   in credits (app/auth.py), instead of api_token_validate;
# - api_token_set_rate_limit, api_token_set_credits and
#   api_token_set_allowed_addresses: the admin page's limits form.  They are
#   SECURITY DEFINER and revoked from PUBLIC by the extension: whoever may
#   set a token's limits may also lift them, so they are granted like the
#   other functions only the admin page calls (api_token_revoke_user, ...);
# - api_token_limits (a table the update creates beside api_tokens): the
#   lists show each token's limits.  Every column but credits_version, the
#   extension's own bookkeeping.
# api_token_http (the HTTP answer to a status) is granted to PUBLIC by the
# extension: nothing to grant.  api_token_validate stays granted: secret
# scanning and the admin's pasted leaked tokens use it to tell ours from
# others, in a read-only transaction.
FUNCTIONS = ("api_tokens.api_token_verify(text, text[], inet, integer), "
             "api_tokens.api_token_set_rate_limit(uuid, integer, interval), "
             "api_tokens.api_token_set_credits(uuid, bigint, bigint, interval), "
             "api_tokens.api_token_set_allowed_addresses(uuid, cidr[])")
LIMIT_COLUMNS = ("token_id, rate_limit, rate_window, credits, credits_refill, credits_refill_every, "
                 "credits_refilled_at, allowed_addresses")


def upgrade() -> None:
    # Needs the 1.2 scripts installed on the server, and a superuser (the
    # extension's owner), as CREATE EXTENSION did.  A no-op, with a notice,
    # in a database already at 1.2.  It creates api_token_limits beside
    # api_tokens, and releases it from the extension like the other tables.
    op.execute("ALTER EXTENSION api_tokens UPDATE TO '1.2'")
    op.execute(f"GRANT EXECUTE ON FUNCTION {FUNCTIONS} TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ({LIMIT_COLUMNS}) ON api_tokens.api_token_limits TO {APP_ROLE}")


def downgrade() -> None:
    # As 0003's downgrade: an extension cannot be downgraded (there is no
    # 1.2 -> 1.1 script, and going back would drop api_token_limits and
    # every limit in it).  So this only takes back what upgrade() granted;
    # the extension stays at 1.2 and the limits already set stay in force.
    # The code of revision 0004 runs on 1.2: it authenticates with
    # api_token_validate, which applies a token's limits with no client
    # address and a cost of 1 (a token with an allowlist is refused from
    # everywhere; a token with a rate limit is refused with an error if the
    # library is not preloaded), and it answers the new statuses
    # (address_denied, rate_limited, usage_exceeded) with 401, as any status
    # it does not know.  Remove the limits first (api_token_set_*(id, NULL))
    # if tokens must work as before.  Upgrading again re-runs ALTER
    # EXTENSION ... UPDATE, a no-op, and the grants.  Only a downgrade to
    # base (DROP EXTENSION, and every token with it) removes 1.2.
    op.execute(f"REVOKE SELECT ({LIMIT_COLUMNS}) ON api_tokens.api_token_limits FROM {APP_ROLE}")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {FUNCTIONS} FROM {APP_ROLE}")
