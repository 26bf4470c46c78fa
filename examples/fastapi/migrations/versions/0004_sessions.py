"""sessions of the pages, kept in the database so that they can be ended

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 00:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APP_ROLE = "tokens_app"  # created by 0001

# A password changed by any means (app.bootstrap, or by hand) ends the
# user's sessions, in the same transaction.
END_SESSIONS = """
CREATE FUNCTION public.users_end_sessions() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM public.web_sessions WHERE user_id = NEW.id;
    RETURN NULL;
END
$$
"""
TRIGGER = """
CREATE TRIGGER users_password_change_ends_sessions
AFTER UPDATE OF password_hash ON public.users
FOR EACH ROW WHEN (OLD.password_hash IS DISTINCT FROM NEW.password_hash)
EXECUTE FUNCTION public.users_end_sessions()
"""


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        # The SHA-256 of the cookie's value: what the table holds cannot be
        # sent back as a cookie.
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("notice", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="web_sessions_pkey"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_web_sessions_user_id", ondelete="CASCADE"),
        schema="public",
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"], schema="public")
    op.create_table(
        "web_form_submissions",
        sa.Column("session_id", sa.Text(), nullable=False),
        sa.Column("nonce", sa.Text(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "nonce", name="web_form_submissions_pkey"),
        sa.ForeignKeyConstraint(["session_id"], ["web_sessions.id"], name="fk_web_form_submissions_session_id",
                                ondelete="CASCADE"),
        schema="public",
    )
    # Emails are kept in lower case, so that a login matches whatever the
    # case typed, and no two users have emails that differ only in case
    # (the UPDATE fails on such a pair: merge them first).
    op.execute("UPDATE public.users SET email = lower(email) WHERE email <> lower(email)")
    op.create_check_constraint("users_email_lowercase", "users", "email = lower(email)", schema="public")
    op.execute(END_SESSIONS)
    op.execute(TRIGGER)
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON public.web_sessions TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON public.web_form_submissions TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP TRIGGER users_password_change_ends_sessions ON public.users")
    op.execute("DROP FUNCTION public.users_end_sessions()")
    op.drop_constraint("users_email_lowercase", "users", type_="check", schema="public")
    op.drop_table("web_form_submissions", schema="public")
    op.drop_table("web_sessions", schema="public")
