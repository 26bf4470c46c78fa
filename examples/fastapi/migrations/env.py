import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine

from app.models import Base, include_name

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

target_metadata = Base.metadata

# Types and server defaults are compared too (tests/test_migrations.py uses
# the same options).  Autogenerate compares tables, not functions.  The
# table CREATE EXTENSION creates for the application, api_tokens, is mapped
# in app/models.py like any other; the tables of the extension itself
# (api_token_rotations and api_token_events, since 1.1) belong to it, not
# to the migrations, and are left out by include_name.
COMPARE_OPTIONS = {"compare_type": True, "compare_server_default": True, "include_name": include_name}


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
