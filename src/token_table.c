/*
 * token_table.c
 *		Locating the api_tokens table of a schema, checking it (see
 *		rel_checks.c for what makes it trustworthy) and describing its
 *		columns and indexes.
 *
 * Validation runs on every API request, so all of this is done once per
 * backend and cached.  A relcache invalidation of the table or one of its
 * indexes (any DDL, CREATE TRIGGER, ALTER ... OWNER, DROP) empties the
 * cache, as does any change to roles (superuser status) or functions
 * (reassigned ownership).
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
#include "rel_checks.h"
#include "token_table.h"

static TokenTable cache;
static bool cache_valid = false;
/* Counts invalidations that concern the cache, to detect them mid-build. */
static uint64 invalidations = 0;

/* The last function asked about and its schema. */
static Oid cached_fn_oid = InvalidOid;
static Oid cached_fn_namespace = InvalidOid;

static void
forget_table(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cache.relid || relid == cache.hash_index ||
		relid == cache.id_index || relid == cache.user_index)
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
	cached_fn_oid = InvalidOid;
}

void
token_table_init(void)
{
	CacheRegisterRelcacheCallback(forget_table, (Datum) 0);
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

/* Checks the locked table and describes it into cache. */
static void
describe(Relation rel, Oid nspoid, const char *qname)
{
	int32 typmod;

	rel_checks_trusted(rel, qname);

	cache.att_id = rel_checks_column(rel, qname, "id", UUIDOID, UUIDOID, true, NULL);
	cache.att_user_id = rel_checks_column(rel, qname, "user_id", UUIDOID, UUIDOID, true, NULL);
	cache.att_name = rel_checks_column(rel, qname, "name", VARCHAROID, TEXTOID, false, &typmod);
	cache.name_max_chars = rel_checks_max_chars(typmod);
	cache.att_token_hash =
		rel_checks_column(rel, qname, "token_hash", VARCHAROID, TEXTOID, true, NULL);
	cache.att_token_prefix =
		rel_checks_column(rel, qname, "token_prefix", VARCHAROID, TEXTOID, false, NULL);
	cache.att_scopes =
		rel_checks_column(rel, qname, "scopes", VARCHARARRAYOID, TEXTARRAYOID, false, &typmod);
	cache.scope_max_chars = rel_checks_max_chars(typmod);
	cache.att_expires_at =
		rel_checks_column(rel, qname, "expires_at", TIMESTAMPTZOID, TIMESTAMPTZOID, false, NULL);
	cache.att_last_used_at =
		rel_checks_column(rel, qname, "last_used_at", TIMESTAMPTZOID, TIMESTAMPTZOID, false, NULL);
	cache.att_is_active = rel_checks_column(rel, qname, "is_active", BOOLOID, BOOLOID, true, NULL);
	cache.att_created_at =
		rel_checks_column(rel, qname, "created_at", TIMESTAMPTZOID, TIMESTAMPTZOID, false, NULL);

	cache.hash_index =
		rel_checks_find_index(rel, cache.att_token_hash, true, &cache.hash_collation);
	if (!OidIsValid(cache.hash_index))
		rel_checks_refuse(
			qname, "it has no unique index on token_hash", NULL,
			psprintf("CREATE UNIQUE INDEX ix_api_tokens_token_hash ON %s (token_hash);", qname));
	if (OidIsValid(cache.hash_collation) && !get_collation_isdeterministic(cache.hash_collation))
		rel_checks_refuse(qname, "the unique index on token_hash uses a nondeterministic collation",
						  NULL, NULL);
	cache.id_index = rel_checks_find_index(rel, cache.att_id, true, NULL);
	if (!OidIsValid(cache.id_index))
		rel_checks_refuse(qname, "it has no unique index on id", NULL,
						  psprintf("ALTER TABLE %s ADD PRIMARY KEY (id);", qname));
	cache.user_index = rel_checks_find_index(rel, cache.att_user_id, false, NULL);

	if (!has_user_foreign_key(rel, cache.att_user_id))
		rel_checks_refuse(
			qname, "it has no foreign key on user_id",
			"Without it, the tokens of a deleted user would stay valid.",
			psprintf("ALTER TABLE %s ADD CONSTRAINT fk_api_tokens_user_id FOREIGN KEY "
					 "(user_id) REFERENCES users (id) ON DELETE CASCADE;",
					 qname));

	cache.namespace = nspoid;
	cache.relid = RelationGetRelid(rel);
	cache.owner = rel->rd_rel->relowner;
	cache.qualified_name = MemoryContextStrdup(TopMemoryContext, qname);
}

/* Looks the table up in the schema, locks it, checks it and fills the cache. */
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

		if (cache.qualified_name)
			pfree(cache.qualified_name);
		memset(&cache, 0, sizeof(cache));
		cache_valid = false;
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
		cache_valid = (invalidations == invalidations_before);
		return rel;
	}
}

Relation
token_table_open(Oid nspoid, LOCKMODE lockmode, const TokenTable **table)
{
	*table = &cache;
	for (;;)
	{
		Relation rel;

		if (!cache_valid || cache.namespace != nspoid)
			return build_cache(nspoid, lockmode);

		/* Taking the lock processes pending invalidations. */
		rel = try_relation_open(cache.relid, lockmode);
		if (rel != NULL && cache_valid)
			return rel;
		if (rel != NULL)
			relation_close(rel, lockmode);
		cache_valid = false;
	}
}

Relation
token_table_try_open(Oid nspoid, LOCKMODE lockmode, const TokenTable **table)
{
	Relation rel;

	*table = &cache;
	if (!cache_valid || cache.namespace != nspoid)
		return NULL;
	if (!ConditionalLockRelationOid(cache.relid, lockmode))
		return NULL;
	/* The lock processed pending invalidations: is the description still true? */
	rel = cache_valid ? try_relation_open(cache.relid, NoLock) : NULL;
	if (rel == NULL)
		UnlockRelationOid(cache.relid, lockmode);
	return rel;
}
