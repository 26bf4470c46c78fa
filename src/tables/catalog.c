/*
 * catalog.c
 *		Locating the extension's tables in a schema, checking them (see
 *		rel_checks.c for what makes a table trustworthy) and describing their
 *		columns and indexes: api_tokens, and the history tables
 *		api_token_rotations and api_token_events.
 *
 * Validation runs on every API request, so all of this is done once per
 * backend and cached.  A relcache invalidation of a table or one of its
 * indexes (any DDL, CREATE TRIGGER, ALTER ... OWNER, DROP) empties the
 * cache, as does any change to roles (superuser status) or functions
 * (reassigned ownership; ALTER EXTENSION UPDATE replaces functions).
 * One invalidation counter serves both descriptions: a description is
 * trusted next time only if no invalidation came in while it was built.
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "compat.h"
#include "tables/catalog.h"
#include "tables/rel_checks.h"

/* Counts invalidations that concern either cache, to detect them mid-build. */
static uint64 invalidations = 0;

/* The api_tokens table last used. */
static TokenTable tokens;
static bool tokens_valid = false;

/* The history tables last used. */
static ExtTables history;
static bool history_valid = false;

/* The last function asked about and its schema. */
static Oid cached_fn_oid = InvalidOid;
static Oid cached_fn_namespace = InvalidOid;

static void
forget_tables(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == tokens.relid || relid == tokens.hash_index ||
		relid == tokens.id_index || relid == tokens.user_index)
	{
		tokens_valid = false;
		invalidations++;
	}
	if (relid == InvalidOid || relid == history.rotations.relid || relid == history.events.relid ||
		relid == history.rotations.by_predecessor || relid == history.rotations.by_successor ||
		relid == history.events.by_token || relid == history.limits.relid ||
		relid == history.limits.by_token)
	{
		history_valid = false;
		invalidations++;
	}
}

static void
forget_everything(Datum arg, int cacheid, uint32 hashvalue)
{
	tokens_valid = false;
	history_valid = false;
	invalidations++;
	cached_fn_oid = InvalidOid;
}

void
catalog_init(void)
{
	CacheRegisterRelcacheCallback(forget_tables, (Datum) 0);
	/* Superuser status and ownership decide trust. */
	CacheRegisterSyscacheCallback(AUTHOID, forget_everything, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, forget_everything, (Datum) 0);
}

Oid
token_table_namespace_of(Oid fn_oid)
{
	if (fn_oid != cached_fn_oid)
	{
		Oid namespace = get_func_namespace(fn_oid);

		if (!OidIsValid(namespace))
			elog(ERROR, "cache lookup failed for function %u", fn_oid);
		cached_fn_namespace = namespace;
		cached_fn_oid = fn_oid;
	}
	return cached_fn_namespace;
}

/* True if the table has a foreign key on exactly (user_id) that is enforced. */
static bool
has_user_foreign_key(Relation rel, AttrNumber att_user_id)
{
	ListCell *lc;

	foreach (lc, RelationGetFKeyList(rel))
	{
		ForeignKeyCacheInfo *fk = lfirst(lc);

		if (fk->nkeys == 1 && fk->conkey[0] == att_user_id && compat_fk_is_enforced(fk))
			return true;
	}
	return false;
}

/* Checks the locked table and describes it into tokens. */
static void
describe(Relation rel, Oid nspoid, const char *qname)
{
	int32 typmod;

	rel_checks_trusted(rel, qname);

	tokens.att_id = rel_checks_column(rel, qname, "id", UUIDOID, UUIDOID, true, NULL);
	tokens.att_user_id = rel_checks_column(rel, qname, "user_id", UUIDOID, UUIDOID, true, NULL);
	tokens.att_name = rel_checks_column(rel, qname, "name", VARCHAROID, TEXTOID, false, &typmod);
	tokens.name_max_chars = rel_checks_max_chars(typmod);
	tokens.att_token_hash =
		rel_checks_column(rel, qname, "token_hash", VARCHAROID, TEXTOID, true, NULL);
	tokens.att_token_prefix =
		rel_checks_column(rel, qname, "token_prefix", VARCHAROID, TEXTOID, false, NULL);
	tokens.att_scopes =
		rel_checks_column(rel, qname, "scopes", VARCHARARRAYOID, TEXTARRAYOID, false, &typmod);
	tokens.scope_max_chars = rel_checks_max_chars(typmod);
	tokens.att_expires_at =
		rel_checks_column(rel, qname, "expires_at", TIMESTAMPTZOID, TIMESTAMPTZOID, false, NULL);
	tokens.att_last_used_at =
		rel_checks_column(rel, qname, "last_used_at", TIMESTAMPTZOID, TIMESTAMPTZOID, false, NULL);
	tokens.att_is_active = rel_checks_column(rel, qname, "is_active", BOOLOID, BOOLOID, true, NULL);
	tokens.att_created_at =
		rel_checks_column(rel, qname, "created_at", TIMESTAMPTZOID, TIMESTAMPTZOID, false, NULL);

	tokens.hash_index =
		rel_checks_find_index(rel, tokens.att_token_hash, true, &tokens.hash_collation);
	if (!OidIsValid(tokens.hash_index))
		rel_checks_refuse(
			qname, "it has no unique index on token_hash", NULL,
			psprintf("CREATE UNIQUE INDEX ix_api_tokens_token_hash ON %s (token_hash);", qname));
	if (OidIsValid(tokens.hash_collation) && !get_collation_isdeterministic(tokens.hash_collation))
		rel_checks_refuse(qname, "the unique index on token_hash uses a nondeterministic collation",
						  NULL, NULL);
	tokens.id_index = rel_checks_find_index(rel, tokens.att_id, true, NULL);
	if (!OidIsValid(tokens.id_index))
		rel_checks_refuse(qname, "it has no unique index on id", NULL,
						  psprintf("ALTER TABLE %s ADD PRIMARY KEY (id);", qname));
	tokens.user_index = rel_checks_find_index(rel, tokens.att_user_id, false, NULL);

	if (!has_user_foreign_key(rel, tokens.att_user_id))
		rel_checks_refuse(
			qname, "it has no foreign key on user_id",
			"Without it, the tokens of a deleted user would stay valid.",
			psprintf("ALTER TABLE %s ADD CONSTRAINT fk_api_tokens_user_id FOREIGN KEY "
					 "(user_id) REFERENCES users (id) ON DELETE CASCADE;",
					 qname));

	tokens.namespace = nspoid;
	tokens.relid = RelationGetRelid(rel);
	tokens.owner = rel->rd_rel->relowner;
	tokens.qualified_name = MemoryContextStrdup(TopMemoryContext, qname);
}

/* Looks the table up in the schema, locks it, checks it and fills the tokens. */
static Relation
build_cache(Oid nspoid, LOCKMODE lockmode)
{
	for (;;)
	{
		char *nspname = get_namespace_name(nspoid);
		const char *qname;
		Oid relid;
		Relation rel;
		uint64 invalidations_before;

		if (nspname == NULL)
			elog(ERROR, "cache lookup failed for namespace %u", nspoid);
		qname = quote_qualified_identifier(nspname, "api_tokens");
		relid = get_relname_relid("api_tokens", nspoid);
		if (!OidIsValid(relid))
			ereport(
				ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE), errmsg("table %s does not exist", qname),
				 errhint(
					 "Create the users table, then run SELECT %s.api_tokens_create_table('users');",
					 quote_identifier(nspname))));

		if (tokens.qualified_name)
			pfree(tokens.qualified_name);
		memset(&tokens, 0, sizeof(tokens));
		tokens_valid = false;
		invalidations_before = invalidations;

		rel = try_relation_open(relid, lockmode);
		/* Dropped or renamed while we waited for the lock: look again. */
		if (rel == NULL)
			continue;
		if (rel->rd_rel->relnamespace != nspoid ||
			strcmp(RelationGetRelationName(rel), "api_tokens") != 0)
		{
			relation_close(rel, lockmode);
			continue;
		}

		describe(rel, nspoid, qname);

		/* Trust the cache next time only if no invalidation came in meanwhile. */
		tokens_valid = (invalidations == invalidations_before);
		return rel;
	}
}

Relation
token_table_open(Oid nspoid, LOCKMODE lockmode, const TokenTable **table)
{
	*table = &tokens;
	for (;;)
	{
		Relation rel;

		if (!tokens_valid || tokens.namespace != nspoid)
			return build_cache(nspoid, lockmode);

		/* Taking the lock processes pending invalidations. */
		rel = try_relation_open(tokens.relid, lockmode);
		if (rel != NULL && tokens_valid)
			return rel;
		if (rel != NULL)
			relation_close(rel, lockmode);
		tokens_valid = false;
	}
}

Relation
token_table_try_open(Oid nspoid, LOCKMODE lockmode, const TokenTable **table)
{
	Relation rel;

	*table = &tokens;
	if (!tokens_valid || tokens.namespace != nspoid)
		return NULL;
	if (!ConditionalLockRelationOid(tokens.relid, lockmode))
		return NULL;
	/* The lock processed pending invalidations: is the description still true? */
	rel = tokens_valid ? try_relation_open(tokens.relid, NoLock) : NULL;
	if (rel == NULL)
		UnlockRelationOid(tokens.relid, lockmode);
	return rel;
}

/* Opens a history table of the schema, checked; NULL if there is none. */
static Relation
open_history_table(Oid nspoid, const char *name, char **qname)
{
	Oid relid = get_relname_relid(name, nspoid);
	Relation rel;

	*qname = quote_qualified_identifier(get_namespace_name(nspoid), name);
	if (!OidIsValid(relid))
		return NULL;
	rel = table_open(relid, AccessShareLock);
	rel_checks_trusted(rel, *qname);
	return rel;
}

/* Requires a unique index on the column. */
static Oid
unique_index(Relation rel, const char *qname, AttrNumber att, const char *column)
{
	Oid index = rel_checks_find_index(rel, att, true, NULL);

	if (!OidIsValid(index))
		rel_checks_refuse(qname, psprintf("it has no unique index on %s", column),
						  "The index must be a btree on that column alone, without predicate, "
						  "and not deferrable.",
						  NULL);
	return index;
}

static void
describe_rotations(Relation rel, const char *q, RotationsTable *t)
{
	t->relid = RelationGetRelid(rel);
	t->owner = rel->rd_rel->relowner;
	t->att_predecessor = rel_checks_column(rel, q, "predecessor_id", UUIDOID, UUIDOID, true, NULL);
	t->att_successor = rel_checks_column(rel, q, "successor_id", UUIDOID, UUIDOID, true, NULL);
	t->att_rotated_at =
		rel_checks_column(rel, q, "rotated_at", TIMESTAMPTZOID, TIMESTAMPTZOID, true, NULL);
	t->att_grace_ends_at =
		rel_checks_column(rel, q, "grace_ends_at", TIMESTAMPTZOID, TIMESTAMPTZOID, true, NULL);
	t->by_predecessor = unique_index(rel, q, t->att_predecessor, "predecessor_id");
	t->by_successor = unique_index(rel, q, t->att_successor, "successor_id");
}

static void
describe_events(Relation rel, const char *q, EventsTable *t)
{
	t->relid = RelationGetRelid(rel);
	t->owner = rel->rd_rel->relowner;
	t->att_id = rel_checks_column(rel, q, "id", INT8OID, INT8OID, true, NULL);
	t->att_at = rel_checks_column(rel, q, "at", TIMESTAMPTZOID, TIMESTAMPTZOID, true, NULL);
	t->att_token_id = rel_checks_column(rel, q, "token_id", UUIDOID, UUIDOID, true, NULL);
	t->att_user_id = rel_checks_column(rel, q, "user_id", UUIDOID, UUIDOID, false, NULL);
	t->att_event = rel_checks_column(rel, q, "event", TEXTOID, TEXTOID, true, NULL);
	t->att_detail = rel_checks_column(rel, q, "detail", JSONBOID, JSONBOID, true, NULL);
	t->att_db_user = rel_checks_column(rel, q, "db_user", NAMEOID, NAMEOID, true, NULL);
	t->att_actor = rel_checks_column(rel, q, "actor", TEXTOID, TEXTOID, false, NULL);
	t->by_token = rel_checks_find_index_on_pair(rel, t->att_token_id, t->att_at);
	if (!OidIsValid(t->by_token))
		rel_checks_refuse(q, "it has no index on (token_id, at)", NULL,
						  psprintf("A superuser can run: CREATE INDEX ON %s (token_id, at);", q));
}

static void
describe_limits(Relation rel, const char *q, LimitsTable *t)
{
	t->relid = RelationGetRelid(rel);
	t->owner = rel->rd_rel->relowner;
	t->att_token_id = rel_checks_column(rel, q, "token_id", UUIDOID, UUIDOID, true, NULL);
	t->att_rate_limit = rel_checks_column(rel, q, "rate_limit", INT4OID, INT4OID, false, NULL);
	t->att_rate_window =
		rel_checks_column(rel, q, "rate_window", INTERVALOID, INTERVALOID, false, NULL);
	t->att_credits = rel_checks_column(rel, q, "credits", INT8OID, INT8OID, false, NULL);
	t->att_credits_refill =
		rel_checks_column(rel, q, "credits_refill", INT8OID, INT8OID, false, NULL);
	t->att_credits_refill_every =
		rel_checks_column(rel, q, "credits_refill_every", INTERVALOID, INTERVALOID, false, NULL);
	t->att_credits_refilled_at = rel_checks_column(rel, q, "credits_refilled_at", TIMESTAMPTZOID,
												   TIMESTAMPTZOID, false, NULL);
	t->att_credits_version =
		rel_checks_column(rel, q, "credits_version", INT8OID, INT8OID, true, NULL);
	t->att_allowed_addresses =
		rel_checks_column(rel, q, "allowed_addresses", CIDRARRAYOID, CIDRARRAYOID, false, NULL);
	t->by_token = unique_index(rel, q, t->att_token_id, "token_id");
}

bool
catalog_version_at_least(const char *version, int major, int minor)
{
	int have_major = 0;
	int have_minor = 0;

	if (sscanf(version, "%d.%d", &have_major, &have_minor) < 1)
		return false;
	return have_major > major || (have_major == major && have_minor >= minor);
}

void
ext_tables_check(Oid nspoid, ExtTables *tables)
{
	char *qname;
	Relation rotations;
	Relation events;
	Relation limits;

	memset(tables, 0, sizeof(*tables));
	tables->namespace = nspoid;
	rotations = open_history_table(nspoid, "api_token_rotations", &qname);
	if (rotations != NULL)
	{
		describe_rotations(rotations, qname, &tables->rotations);
		table_close(rotations, AccessShareLock);
	}
	events = open_history_table(nspoid, "api_token_events", &qname);
	if (events != NULL)
	{
		describe_events(events, qname, &tables->events);
		table_close(events, AccessShareLock);
	}
	tables->present = rotations != NULL && events != NULL;
	limits = open_history_table(nspoid, "api_token_limits", &qname);
	if (limits != NULL)
	{
		describe_limits(limits, qname, &tables->limits);
		table_close(limits, AccessShareLock);
	}
	tables->has_limits = limits != NULL;
}

const ExtTables *
ext_tables_of(Oid nspoid)
{
	uint64 invalidations_before = invalidations;
	ExtensionInfo extension;

	if (history_valid && history.namespace == nspoid)
		return &history;

	history_valid = false;
	if (!rel_checks_extension(&extension))
		strlcpy(extension.version, "", sizeof(extension.version));
	/* A database still at 1.0 has no history: the functions behave as in 1.0. */
	if (strcmp(extension.version, "1.0") == 0)
	{
		memset(&history, 0, sizeof(history));
		history.namespace = nspoid;
	}
	else
	{
		const char *nspname = quote_identifier(get_namespace_name(nspoid));

		ext_tables_check(nspoid, &history);
		if (!history.present)
			ereport(
				ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the tokens' history tables are missing: api_token_rotations and "
						"api_token_events must both exist"),
				 errdetail("They are created with the api_tokens table, which may have been "
						   "restored from a dump of version 1.0."),
				 errhint(
					 "A superuser can create them: SELECT %s.api_tokens_create_history_tables();",
					 nspname)));
		/* A database still at 1.1 has no limits, whatever table is there. */
		if (!catalog_version_at_least(extension.version, 1, 2))
			history.has_limits = false;
		/* From 1.2 on, a token's limits must never be ignored because their table went away. */
		else if (!history.has_limits)
			ereport(
				ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the tokens' limits table api_token_limits is missing"),
				 errdetail("It is created with the api_tokens table, which may have been "
						   "restored from a dump of an earlier version."),
				 errhint("A superuser can create it: SELECT %s.api_tokens_create_history_tables();",
						 nspname)));
	}
	/* Trust the cache next time only if no invalidation came in meanwhile. */
	history_valid = (invalidations == invalidations_before);
	return &history;
}
