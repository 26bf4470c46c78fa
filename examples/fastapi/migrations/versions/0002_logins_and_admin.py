"""logins for the pages, and what the admin page and secret scanning need

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01 00:00:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APP_ROLE = "tokens_app"  # created by 0001

# What the login and the pages read of users; nothing is written.
USER_COLUMNS = "id, email, password_hash, is_admin"
# The admin page (revoke all of a user's tokens, revoke pasted leaked
# tokens) and the secret-scanning endpoint.
FUNCTIONS = "api_tokens.api_token_revoke_user(uuid), api_tokens.api_token_revoke_leaked(text[])"


def upgrade() -> None:
    op.add_column("users", sa.Column("password_hash", sa.Text(), nullable=True), schema="public")
    op.add_column("users", sa.Column("is_admin", sa.Boolean(), server_default=sa.text("false"), nullable=False),
                  schema="public")
    op.execute(f"GRANT SELECT ({USER_COLUMNS}) ON public.users TO {APP_ROLE}")
    op.execute(f"GRANT EXECUTE ON FUNCTION {FUNCTIONS} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"REVOKE EXECUTE ON FUNCTION {FUNCTIONS} FROM {APP_ROLE}")
    op.execute(f"REVOKE SELECT ({USER_COLUMNS}) ON public.users FROM {APP_ROLE}")
    op.drop_column("users", "is_admin", schema="public")
    op.drop_column("users", "password_hash", schema="public")
