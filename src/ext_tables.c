/*
 * ext_tables.c
 *		Finding and checking the tokens' history tables, api_token_rotations
 *		and api_token_events.
 *
 * Like api_tokens they are ordinary tables in the extension's schema,
 * created by the extension and released from it, so the schema's owner
 * could drop them and create others: they are used only if they pass the
 * same trust checks as api_tokens (rel_checks.c).  The description is
 * cached per backend; any invalidation of the tables, of roles or of
 * functions (an ALTER EXTENSION UPDATE replaces functions) makes it be
 * looked up again.
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "ext_tables.h"
#include "rel_checks.h"

static ExtTables cache;
static bool cache_valid = false;
/* Counts invalidations, to detect one that comes in while the cache is built. */
static uint64 invalidations = 0;

static void
forget_tables(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cache.rotations.relid || relid == cache.events.relid ||
		relid == cache.rotations.by_predecessor || relid == cache.rotations.by_successor ||
		relid == cache.events.by_token)
	{
		cache_valid = false;
		invalidations++;
	}
}

static void
forget_everything(Datum arg, int cacheid, uint32 hashvalue)
{
	cache_valid = false;
	invalidations++;
}

void
ext_tables_init(void)
{
	CacheRegisterRelcacheCallback(forget_tables, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, forget_everything, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, forget_everything, (Datum) 0);
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
		rel_checks_refuse(qname, psprintf("it has no unique index on %s", column), NULL, NULL);
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

void
ext_tables_check(Oid nspoid, ExtTables *tables)
{
	char *qname;
	Relation rotations;
	Relation events;

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
}

const ExtTables *
ext_tables_of(Oid nspoid)
{
	uint64 invalidations_before = invalidations;
	ExtensionInfo extension;

	if (cache_valid && cache.namespace == nspoid)
		return &cache;

	cache_valid = false;
	/* A database still at 1.0 has no history: the functions behave as in 1.0. */
	if (rel_checks_extension(&extension) && strcmp(extension.version, "1.0") == 0)
	{
		memset(&cache, 0, sizeof(cache));
		cache.namespace = nspoid;
	}
	else
	{
		ext_tables_check(nspoid, &cache);
		if (!cache.present)
			ereport(
				ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the tokens' history tables are missing: api_token_rotations and "
						"api_token_events must both exist"),
				 errdetail("They are created with the api_tokens table, which may have been "
						   "restored from a dump of version 1.0."),
				 errhint(
					 "A superuser can create them: SELECT %s.api_tokens_create_history_tables();",
					 quote_identifier(get_namespace_name(nspoid)))));
	}
	/* Trust the cache next time only if no invalidation came in meanwhile. */
	cache_valid = (invalidations == invalidations_before);
	return &cache;
}
