import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app.models import Base


@pytest.fixture
def connection():
    engine = create_engine(os.environ["ADMIN_DATABASE_URL"], future=True)
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def test_autogenerate_finds_no_difference(connection):
    # The options of migrations/env.py.
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    assert compare_metadata(context, Base.metadata) == []


@pytest.mark.parametrize("table", ["users", "api_tokens"])
def test_constraint_names_match(connection, table):
    """Autogenerate compares index names but not primary or foreign key names."""
    db, model = inspect(connection), Base.metadata.tables[table]
    assert db.get_pk_constraint(table)["name"] == model.primary_key.name
    assert {fk["name"] for fk in db.get_foreign_keys(table)} == {fk.name for fk in model.foreign_key_constraints}
    assert {i["name"] for i in db.get_indexes(table) if not i.get("duplicates_constraint")} == \
        {i.name for i in model.indexes}
