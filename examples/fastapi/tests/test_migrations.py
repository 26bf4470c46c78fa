import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from app.models import COMPARE_OPTIONS, EXTENSION_METADATA, EXTENSION_SCHEMA, EXTENSION_TABLES, Base

APP_ROLE = "tokens_app"


@pytest.fixture
def connection():
    engine = create_engine(os.environ["ADMIN_DATABASE_URL"], future=True)
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def test_autogenerate_finds_no_difference(connection):
    # The options of migrations/env.py.
    context = MigrationContext.configure(connection, opts=COMPARE_OPTIONS)
    assert compare_metadata(context, Base.metadata) == []


def test_autogenerate_leaves_out_only_the_extensions_other_tables(connection):
    """Without the tables the extension creates besides api_tokens left out,
    the only differences would be dropping them, which no migration may do;
    and the list of them is right, whether they are members of the extension
    or ordinary tables it released."""
    include = COMPARE_OPTIONS["include_name"]
    context = MigrationContext.configure(connection, opts={
        **COMPARE_OPTIONS,
        "include_name": lambda name, type_, parents: include(name, type_, parents) if type_ == "schema" else True})
    diffs = compare_metadata(context, Base.metadata)
    assert {d[0] for d in diffs} <= {"remove_table", "remove_index"}, diffs
    assert {(d[1].schema, d[1].name) for d in diffs if d[0] == "remove_table"} == \
        {(EXTENSION_SCHEMA, t) for t in EXTENSION_TABLES}
    assert {d[1].table.name for d in diffs if d[0] == "remove_index"} <= EXTENSION_TABLES
    in_schema = connection.execute(text(
        "SELECT relname FROM pg_catalog.pg_class WHERE relkind = 'r'"
        "   AND relnamespace = CAST(:schema AS regnamespace)"), {"schema": EXTENSION_SCHEMA}).scalars()
    assert set(in_schema) == EXTENSION_TABLES | {"api_tokens"}


def test_extension_tables_read_by_the_application_match(connection):
    """The extension's tables the application reads are described as they
    are (compared as autogenerate compares the models)."""
    context = MigrationContext.configure(connection, opts={
        **COMPARE_OPTIONS,
        "include_name": lambda name, type_, parents: (
            name == EXTENSION_SCHEMA if type_ == "schema"
            else type_ != "table" or name in {t.name for t in EXTENSION_METADATA.tables.values()})})
    # Their comments are the extension's to word.
    assert [d for d in compare_metadata(context, EXTENSION_METADATA) if d[0] != "remove_table_comment"] == []


@pytest.mark.parametrize("schema, table", [(None, "users"), (EXTENSION_SCHEMA, "api_tokens"),
                                           (EXTENSION_SCHEMA, "api_token_limits")])
def test_constraint_names_match(connection, schema, table):
    """Autogenerate compares index names but not primary or foreign key names."""
    db = inspect(connection)
    key = f"{schema}.{table}" if schema else table
    model = Base.metadata.tables.get(key)
    if model is None:
        model = EXTENSION_METADATA.tables[key]
    assert db.get_pk_constraint(table, schema)["name"] == model.primary_key.name
    assert {fk["name"] for fk in db.get_foreign_keys(table, schema)} == \
        {fk.name for fk in model.foreign_key_constraints}
    assert {i["name"] for i in db.get_indexes(table, schema) if not i.get("duplicates_constraint")} == \
        {i.name for i in model.indexes}


def test_the_extension_lives_in_a_schema_only_a_superuser_can_create_in(connection):
    """Its functions and tables are out of reach of any role that could plant
    an object of the same name: the schema belongs to a superuser, and the
    application role may use it but not create in it."""
    row = connection.execute(text(
        "SELECT n.nspname, r.rolsuper, has_schema_privilege(:role, n.oid, 'USAGE') AS usage,"
        "       has_schema_privilege(:role, n.oid, 'CREATE') AS create"
        "  FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
        "  JOIN pg_catalog.pg_roles r ON r.oid = n.nspowner WHERE e.extname = 'api_tokens'"),
        {"role": APP_ROLE}).one()
    assert tuple(row) == (EXTENSION_SCHEMA, True, True, False)


def test_migrations_0003_and_0005_updated_the_extension_and_granted_what_the_application_uses(connection):
    assert connection.execute(text(
        "SELECT extversion FROM pg_extension WHERE extname = 'api_tokens'")).scalar_one() == "1.2"
    # Exactly these: granted to the role itself (PUBLIC may execute the pure
    # functions, api_token_generate, api_token_http and the like).
    granted = connection.execute(text(
        "SELECT p.oid::regprocedure::text FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) a"
        " WHERE a.grantee = CAST(:role AS regrole) AND a.privilege_type = 'EXECUTE'"),
        {"role": APP_ROLE}).scalars()
    assert set(granted) == {
        "api_tokens.api_token_validate(text,text[])",
        "api_tokens.api_token_create(uuid,text,text[],timestamp with time zone)",
        "api_tokens.api_token_revoke(uuid)",
        # granted by 0001 on the 1.0 signature, carried over by the update
        "api_tokens.api_token_rotate(uuid,interval,timestamp with time zone)",
        "api_tokens.api_token_revoke_user(uuid)",
        "api_tokens.api_token_revoke_leaked(text[])",
        "api_tokens.api_token_successor(uuid)",
        "api_tokens.api_token_revoke_family(uuid)",
        # 0005
        "api_tokens.api_token_verify(text,text[],inet,integer)",
        "api_tokens.api_token_set_rate_limit(uuid,integer,interval)",
        "api_tokens.api_token_set_credits(uuid,bigint,bigint,interval)",
        "api_tokens.api_token_set_allowed_addresses(uuid,cidr[])",
    }
    assert connection.execute(text(
        "SELECT has_function_privilege(:role, 'api_tokens.api_token_http(text, text[])', 'EXECUTE')"),
        {"role": APP_ROLE}).scalar_one()
    privileges = dict(connection.execute(text(
        "SELECT t, has_table_privilege(:role, t, 'SELECT') OR has_any_column_privilege(:role, t, 'SELECT')"
        "  FROM unnest(ARRAY['api_tokens.api_token_rotations', 'api_tokens.api_token_events',"
        "                    'api_tokens.api_token_limits']) t"),
        {"role": APP_ROLE}).all())
    assert privileges == {"api_tokens.api_token_rotations": True, "api_tokens.api_token_events": False,
                          "api_tokens.api_token_limits": True}
    # Of api_token_limits, every column but the extension's bookkeeping;
    # nothing but SELECT on any.
    columns = dict(connection.execute(text(
        "SELECT attname, has_column_privilege(:role, attrelid, attnum, 'SELECT')"
        "  FROM pg_attribute WHERE attrelid = CAST('api_tokens.api_token_limits' AS regclass)"
        "   AND attnum > 0 AND NOT attisdropped"), {"role": APP_ROLE}).all())
    assert {c for c, readable in columns.items() if not readable} == {"credits_version"}
    assert not connection.execute(text(
        "SELECT has_any_column_privilege(:role, 'api_tokens.api_token_limits', 'INSERT, UPDATE')"
        "    OR has_table_privilege(:role, 'api_tokens.api_token_limits', 'DELETE')"), {"role": APP_ROLE}).scalar_one()
