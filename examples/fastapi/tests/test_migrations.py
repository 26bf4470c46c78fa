import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from app.models import EXTENSION_METADATA, EXTENSION_TABLES, Base, include_name

APP_ROLE = "tokens_app"


@pytest.fixture
def connection():
    engine = create_engine(os.environ["ADMIN_DATABASE_URL"], future=True)
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def test_autogenerate_finds_no_difference(connection):
    # The options of migrations/env.py.
    context = MigrationContext.configure(connection, opts={
        "compare_type": True, "compare_server_default": True, "include_name": include_name})
    assert compare_metadata(context, Base.metadata) == []


def test_autogenerate_leaves_out_only_the_extensions_tables(connection):
    """Without include_name, the only differences are the extension's own
    tables, which no migration may drop; and the list of them is right."""
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    diffs = compare_metadata(context, Base.metadata)
    assert {d[0] for d in diffs} <= {"remove_table", "remove_index"}, diffs
    assert {d[1].name for d in diffs if d[0] == "remove_table"} == EXTENSION_TABLES
    assert {d[1].table.name for d in diffs if d[0] == "remove_index"} <= EXTENSION_TABLES
    members = connection.execute(text(
        "SELECT c.relname FROM pg_depend d JOIN pg_class c ON c.oid = d.objid"
        " WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND c.relkind = 'r'"
        "   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'api_tokens')")).scalars()
    assert set(members) == EXTENSION_TABLES


def test_extension_tables_read_by_the_application_match(connection):
    """The extension's tables the application reads are described as they
    are (compared as autogenerate compares the models)."""
    context = MigrationContext.configure(connection, opts={
        "compare_type": True, "compare_server_default": True,
        "include_name": lambda name, type_, parents: type_ != "table" or name in EXTENSION_METADATA.tables})
    # Their comments are the extension's to word.
    assert [d for d in compare_metadata(context, EXTENSION_METADATA) if d[0] != "remove_table_comment"] == []


@pytest.mark.parametrize("table", ["users", "api_tokens"])
def test_constraint_names_match(connection, table):
    """Autogenerate compares index names but not primary or foreign key names."""
    db, model = inspect(connection), Base.metadata.tables[table]
    assert db.get_pk_constraint(table)["name"] == model.primary_key.name
    assert {fk["name"] for fk in db.get_foreign_keys(table)} == {fk.name for fk in model.foreign_key_constraints}
    assert {i["name"] for i in db.get_indexes(table) if not i.get("duplicates_constraint")} == \
        {i.name for i in model.indexes}


def test_migration_0003_updated_the_extension_and_granted_what_the_application_uses(connection):
    assert connection.execute(text(
        "SELECT extversion FROM pg_extension WHERE extname = 'api_tokens'")).scalar_one() == "1.1"
    # Exactly these: granted to the role itself (PUBLIC may execute the pure
    # functions, api_token_generate and the like).
    granted = connection.execute(text(
        "SELECT p.oid::regprocedure::text FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) a"
        " WHERE a.grantee = CAST(:role AS regrole) AND a.privilege_type = 'EXECUTE'"),
        {"role": APP_ROLE}).scalars()
    assert set(granted) == {
        "api_token_validate(text,text[])",
        "api_token_create(uuid,text,text[],timestamp with time zone)",
        "api_token_revoke(uuid)",
        # granted by 0001 on the 1.0 signature, carried over by the update
        "api_token_rotate(uuid,interval,timestamp with time zone)",
        "api_token_revoke_user(uuid)",
        "api_token_revoke_leaked(text[])",
        "api_token_successor(uuid)",
        "api_token_revoke_family(uuid)",
    }
    privileges = dict(connection.execute(text(
        "SELECT t, has_table_privilege(:role, t, 'SELECT') OR has_any_column_privilege(:role, t, 'SELECT')"
        "  FROM unnest(ARRAY['api_token_rotations', 'api_token_events']) t"), {"role": APP_ROLE}).all())
    assert privileges == {"api_token_rotations": True, "api_token_events": False}
