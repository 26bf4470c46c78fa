/*
 * token_table.c
 *		Locating the api_tokens table, its columns and its token_hash index.
 *
 * Validation runs on every API request, so the catalog work is done once
 * per backend and cached.  A relcache invalidation of the table or the
 * index (DDL, DROP, REINDEX, a new index) empties the cache.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "token_table.h"

static TokenTable cache;
static bool cache_valid = false;
/* Counts invalidations that concern the cache, to detect them mid-build. */
static uint64 invalidations = 0;

static void
forget_on_invalidation(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cache.relid || relid == cache.hash_index)
	{
		cache_valid = false;
		invalidations++;
	}
}

void
token_table_init(void)
{
	CacheRegisterRelcacheCallback(forget_on_invalidation, (Datum) 0);
}

/* Attribute number of a column that must exist with one of two types. */
static AttrNumber
column_of_type(Relation rel, const char *column, Oid type1, Oid type2)
{
	Oid relid = RelationGetRelid(rel);
	AttrNumber attnum = get_attnum(relid, column);
	Oid type;

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN), errmsg("table \"%s\" has no column \"%s\"",
														   RelationGetRelationName(rel), column)));
	type = get_atttype(relid, attnum);
	if (type != type1 && type != type2)
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
						errmsg("column \"%s\" of table \"%s\" has type %s, expected %s", column,
							   RelationGetRelationName(rel), format_type_be(type),
							   format_type_be(type1))));
	return attnum;
}

/* The valid, unique, plain btree index whose only key is token_hash. */
static Oid
find_hash_index(Relation rel, AttrNumber att_token_hash, Oid *collation)
{
	List *indexes = RelationGetIndexList(rel);
	ListCell *lc;
	Oid found = InvalidOid;

	foreach (lc, indexes)
	{
		Relation index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;

		if (form->indisunique && form->indisvalid && form->indislive && form->indnkeyatts == 1 &&
			form->indkey.values[0] == att_token_hash && index->rd_rel->relam == BTREE_AM_OID &&
			RelationGetIndexPredicate(index) == NIL)
		{
			found = RelationGetRelid(index);
			*collation = index->rd_indcollation[0];
		}
		index_close(index, AccessShareLock);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);

	if (!OidIsValid(found))
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("table \"%s\" has no unique index on token_hash",
							   RelationGetRelationName(rel)),
						errhint("Create it with: CREATE UNIQUE INDEX ix_api_tokens_token_hash ON "
								"api_tokens (token_hash);")));
	return found;
}

/* Looks the table up by name in the function's schema and fills the cache. */
static Relation
build_cache(Oid fn_oid, LOCKMODE lockmode)
{
	Oid namespace = get_func_namespace(fn_oid);
	char *nspname = get_namespace_name(namespace);
	Oid relid = get_relname_relid("api_tokens", namespace);
	Relation rel;
	AttrNumber att_token_hash;
	uint64 invalidations_before;

	if (!OidIsValid(relid))
		ereport(
			ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("table %s does not exist", quote_qualified_identifier(nspname, "api_tokens")),
			 errhint("Create the users table, then run SELECT %s.api_tokens_create_table('users');",
					 quote_identifier(nspname))));

	if (cache.qualified_name)
		pfree(cache.qualified_name);
	memset(&cache, 0, sizeof(cache));
	cache_valid = false;
	cache.relid = relid;
	invalidations_before = invalidations;

	rel = table_open(relid, lockmode);
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
						errmsg("\"%s\" is not an ordinary table", RelationGetRelationName(rel))));

	cache.att_id = column_of_type(rel, "id", UUIDOID, UUIDOID);
	cache.att_user_id = column_of_type(rel, "user_id", UUIDOID, UUIDOID);
	cache.att_scopes = column_of_type(rel, "scopes", VARCHARARRAYOID, TEXTARRAYOID);
	cache.att_expires_at = column_of_type(rel, "expires_at", TIMESTAMPTZOID, TIMESTAMPTZOID);
	cache.att_last_used_at = column_of_type(rel, "last_used_at", TIMESTAMPTZOID, TIMESTAMPTZOID);
	cache.att_is_active = column_of_type(rel, "is_active", BOOLOID, BOOLOID);
	att_token_hash = column_of_type(rel, "token_hash", VARCHAROID, TEXTOID);
	cache.hash_index = find_hash_index(rel, att_token_hash, &cache.hash_collation);
	cache.qualified_name =
		MemoryContextStrdup(TopMemoryContext, quote_qualified_identifier(nspname, "api_tokens"));

	/* Trust the cache next time only if no invalidation came in meanwhile. */
	cache_valid = (invalidations == invalidations_before);
	return rel;
}

Relation
token_table_open(Oid fn_oid, LOCKMODE lockmode, const TokenTable **table)
{
	*table = &cache;
	for (;;)
	{
		Relation rel;

		if (!cache_valid)
			return build_cache(fn_oid, lockmode);

		/* Taking the lock processes pending invalidations. */
		rel = try_relation_open(cache.relid, lockmode);
		if (rel != NULL && cache_valid)
			return rel;
		if (rel != NULL)
			relation_close(rel, lockmode);
		cache_valid = false;
	}
}
