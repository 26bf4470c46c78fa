import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine

from app.models import COMPARE_OPTIONS, Base

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = Base.metadata

# COMPARE_OPTIONS (app/models.py, also used by tests/test_migrations.py):
# types and server defaults are compared too, in the default schema and the
# extension's.  Autogenerate compares tables, not functions.  The table
# CREATE EXTENSION creates for the application, api_tokens.api_tokens, is
# mapped in app/models.py like any other; the other tables the extension
# creates (api_token_rotations and api_token_events, since 1.1, and
# api_token_limits, since 1.2) are its to create and alter, not the
# migrations', and are left out by include_name.


def run_migrations_offline() -> None:
    context.configure(
        url=os.environ["ADMIN_DATABASE_URL"],
        target_metadata=target_metadata,
        literal_binds=True,
        **COMPARE_OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(os.environ["ADMIN_DATABASE_URL"], future=True)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **COMPARE_OPTIONS)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
