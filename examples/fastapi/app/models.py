"""SQLAlchemy models of the application's tables (schema public, the
default: schema=None) and of the table CREATE EXTENSION api_tokens creates
in the extension's own schema, api_tokens.  They match the database exactly
(names of constraints and indexes included), so Alembic autogenerate finds
nothing to change.

The application never inserts into or updates api_tokens itself: tokens are
created, revoked and rotated through the extension's functions
(app/tokens.py), and its database role cannot even read token_hash.  At run
time the application's engine qualifies the tables of schema None as
public (app/db.py): its connections search no schema but pg_catalog.

Version 1.1 of the extension creates two more tables in its schema, with
ALTER EXTENSION ... UPDATE: api_token_rotations, which listings read, and
api_token_events; version 1.2 a third, api_token_limits, which listings
read too.  No migration creates or alters them: like api_tokens they are
ordinary tables the extension released (kept by DROP EXTENSION, dumped with
the application's data); those the application reads are described apart
from Base, in EXTENSION_METADATA, and autogenerate leaves them all out
(include_name).
"""
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, CIDR, INTERVAL, UUID
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="users_pkey"),
        UniqueConstraint("email", name="users_email_key"),
        # Kept in lower case (migration 0004): logins ignore case.
        CheckConstraint("email = lower(email)", name="users_email_lowercase"),
    )

    id = Column(UUID(as_uuid=True), server_default=text("gen_random_uuid()"))
    email = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    # For the pages' login (app/passwords.py); NULL: the user cannot log in.
    password_hash = Column(Text)
    is_admin = Column(Boolean, nullable=False, server_default=text("false"))

    # The database deletes a user's tokens (ON DELETE CASCADE): the ORM must
    # not try to null their user_id first.
    tokens = relationship("ApiToken", back_populates="user", passive_deletes=True)


class WebSession(Base):
    """A login session of the pages (app/sessions.py).  Deleting the row
    ends it: logout, an administrator, a password change (a trigger of
    migration 0004)."""
    __tablename__ = "web_sessions"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="web_sessions_pkey"),
        Index("ix_web_sessions_user_id", "user_id"),
    )

    id = Column(Text)  # SHA-256 of the cookie's value, in hex
    user_id = Column(UUID(as_uuid=True), ForeignKey("users.id", name="fk_web_sessions_user_id", ondelete="CASCADE"),
                     nullable=False)
    csrf_token = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    last_seen_at = Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))
    notice = Column(Text)  # one line for the next page, never a token


class WebFormSubmission(Base):
    """A form that makes a token, once submitted (app/sessions.py): sending
    it again (a reload, a double click) makes nothing."""
    __tablename__ = "web_form_submissions"
    __table_args__ = (PrimaryKeyConstraint("session_id", "nonce", name="web_form_submissions_pkey"),)

    session_id = Column(Text, ForeignKey("web_sessions.id", name="fk_web_form_submissions_session_id",
                                         ondelete="CASCADE"))
    nonce = Column(Text)
    submitted_at = Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))


# The schema migration 0001 installs the extension in.
EXTENSION_SCHEMA = "api_tokens"
# The schema of the application's own tables (schema=None in the models).
APP_SCHEMA = "public"


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="api_tokens_pkey"),
        Index("ix_api_tokens_user_id", "user_id"),
        Index("ix_api_tokens_token_hash", "token_hash", unique=True),
        Index("ix_api_tokens_token_prefix", "token_prefix"),
        {"schema": EXTENSION_SCHEMA},
    )

    id = Column(UUID(as_uuid=True), server_default=text("gen_random_uuid()"))
    user_id = Column(
        UUID(as_uuid=True),
        ForeignKey("users.id", name="fk_api_tokens_user_id", ondelete="CASCADE"),
        nullable=False,
    )
    name = Column(String(100), nullable=False)
    token_hash = Column(String(64), nullable=False)
    token_prefix = Column(String(8), nullable=False)
    scopes = Column(ARRAY(String(50)))
    expires_at = Column(DateTime(timezone=True))
    last_used_at = Column(DateTime(timezone=True))
    is_active = Column(Boolean, nullable=False, server_default=text("true"))
    created_at = Column(DateTime(timezone=True), nullable=False, server_default=text("now()"))

    user = relationship(User, back_populates="tokens")


# ------------------------------------------------- the extension's tables

EXTENSION_METADATA = MetaData()

# One row per rotation (api_token_rotate): a token has at most one
# successor.  A rotated-out token works until grace_ends_at (equal to
# rotated_at for a rotation without grace).  Read-only for the application.
api_token_rotations = Table(
    "api_token_rotations",
    EXTENSION_METADATA,
    Column("predecessor_id", UUID(as_uuid=True), primary_key=True),
    Column("successor_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("rotated_at", DateTime(timezone=True), nullable=False),
    Column("grace_ends_at", DateTime(timezone=True), nullable=False),
    schema=EXTENSION_SCHEMA,
)

# One row per token that has limits (version 1.2; set through the
# api_token_set_* functions, which the admin page calls): a rate limit
# (rate_limit validations per rate_window), credits (spent by each
# validation; reset to credits_refill every credits_refill_every) and an
# address allowlist.  Read-only for the application, which may not read
# credits_version.  With the library preloaded, credits are counted in
# shared memory and written here by the extension's background worker
# (every api_tokens.flush_interval): what the row says may be that old.
api_token_limits = Table(
    "api_token_limits",
    EXTENSION_METADATA,
    Column("token_id", UUID(as_uuid=True), nullable=False),
    Column("rate_limit", Integer),
    Column("rate_window", INTERVAL),
    Column("credits", BigInteger),
    Column("credits_refill", BigInteger),
    Column("credits_refill_every", INTERVAL),
    Column("credits_refilled_at", DateTime(timezone=True)),
    Column("credits_version", BigInteger, nullable=False, server_default=text("0")),
    Column("allowed_addresses", ARRAY(CIDR)),
    # No foreign key to api_tokens: the extension deletes the limits of
    # tokens that are gone itself (api_tokens_purge).
    PrimaryKeyConstraint("token_id", name="api_token_limits_pkey"),
    schema=EXTENSION_SCHEMA,
)

# Every table the extension creates besides api_tokens, whether the
# application reads it or not (tests/test_migrations.py checks this list
# against the database).
EXTENSION_TABLES = frozenset({"api_token_rotations", "api_token_events", "api_token_limits"})


def include_name(name, type_, parent_names) -> bool:
    """Alembic's include_name hook: autogenerate compares the default schema
    and the extension's, and every table but those the extension creates
    besides api_tokens."""
    if type_ == "schema":
        return name in (None, EXTENSION_SCHEMA)
    if type_ == "table":
        return not (parent_names.get("schema_name") == EXTENSION_SCHEMA and name in EXTENSION_TABLES)
    return True


# The options of autogenerate (migrations/env.py, tests/test_migrations.py).
COMPARE_OPTIONS = {"compare_type": True, "compare_server_default": True, "include_schemas": True,
                   "include_name": include_name}
