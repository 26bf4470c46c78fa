"""users table, the api_tokens extension and the application role

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The API's request path connects as a login role that is a member of this
# group role (see README.md).  Roles belong to the cluster, not the database,
# so it is created if missing and never dropped here.
APP_ROLE = "tokens_app"

# The extension lives in a schema of its own, created here by the migrating
# superuser and owned by it: no other role can create a function or a table
# there, so a call of api_tokens.api_token_validate(...) cannot be taken over
# by an object planted in a schema a database owner controls (public).
SCHEMA = "api_tokens"

# Every column but token_hash: what GET /tokens shows.
LISTED_COLUMNS = "id, user_id, name, token_prefix, scopes, expires_at, last_used_at, is_active, created_at"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", postgresql.UUID(as_uuid=True), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="users_pkey"),
        sa.UniqueConstraint("email", name="users_email_key"),
        schema="public",
    )
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    # The extension creates its api_tokens table with a foreign key to the
    # table this setting names (its install script runs with search_path set
    # to the extension's schema, where there is no users table).  The version
    # this migration was written for, whatever the installed default: a later
    # migration moves to a later version with ALTER EXTENSION ... UPDATE.
    op.execute("SET LOCAL api_tokens.users_table = 'public.users'")
    op.execute(f"CREATE EXTENSION api_tokens VERSION '1.0' SCHEMA {SCHEMA}")

    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN;
            END IF;
        END $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {APP_ROLE}")
    op.execute(
        f"""
        GRANT EXECUTE ON FUNCTION {SCHEMA}.api_token_validate(text, text[]),
                                  {SCHEMA}.api_token_create(uuid, text, text[], timestamptz),
                                  {SCHEMA}.api_token_revoke(uuid),
                                  {SCHEMA}.api_token_rotate(uuid, interval)
           TO {APP_ROLE}
        """
    )
    op.execute(f"GRANT SELECT ({LISTED_COLUMNS}) ON {SCHEMA}.api_tokens TO {APP_ROLE}")


def downgrade() -> None:
    # DROP EXTENSION drops the functions (and their grants) but keeps the
    # tables the extension released as ordinary application tables:
    # api_tokens and, once updated to 1.1, api_token_rotations and
    # api_token_events, and to 1.2, api_token_limits (hence IF EXISTS; it
    # refers to api_tokens, so it goes first).  The schema is dropped
    # without CASCADE, so that anything else found in it stops the
    # downgrade rather than vanishing.
    op.execute("DROP EXTENSION api_tokens")
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.api_token_limits, {SCHEMA}.api_token_rotations, "
               f"{SCHEMA}.api_token_events")
    op.execute(f"DROP TABLE {SCHEMA}.api_tokens")
    op.execute(f"DROP SCHEMA {SCHEMA}")
    op.drop_table("users", schema="public")
