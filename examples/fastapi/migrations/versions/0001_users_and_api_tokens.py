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
    )
    # Needs users(id uuid) to exist: the extension creates the api_tokens
    # table with its foreign key to it.  The version this migration was
    # written for, whatever the installed default: a later migration moves
    # to a later version with ALTER EXTENSION ... UPDATE (and its grants).
    op.execute("CREATE EXTENSION IF NOT EXISTS api_tokens VERSION '1.0'")

    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN;
            END IF;
        END $$
        """
    )
    op.execute(
        f"""
        GRANT EXECUTE ON FUNCTION api_token_validate(text, text[]),
                                  api_token_create(uuid, text, text[], timestamptz),
                                  api_token_revoke(uuid),
                                  api_token_rotate(uuid, interval)
           TO {APP_ROLE}
        """
    )
    op.execute(f"GRANT SELECT ({LISTED_COLUMNS}) ON api_tokens TO {APP_ROLE}")


def downgrade() -> None:
    # DROP EXTENSION drops the functions (and their grants) but keeps the
    # api_tokens table: the extension releases it at install time, so that
    # pg_dump treats it as an ordinary application table.
    op.execute("DROP EXTENSION api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("users")
