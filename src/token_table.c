/*
 * token_table.c
 *		Locating the api_tokens table, checking that it can be trusted, and
 *		describing its columns and indexes.
 *
 * The extension's functions act on the table with their owner's
 * privileges, and the table lives in a schema whose owner (on PostgreSQL 15
 * the database owner) is not trusted: that owner may drop the table and
 * create another under the same name.  So before any use the table must be
 * owned by a superuser or the extension's owner, and must carry nothing
 * that would run someone else's code with those privileges: no triggers of
 * its own (foreign-key triggers are the server's), no rules, no inheritance
 * children.  What the trusted owner attaches (defaults, check constraints,
 * index expressions, policies) is that owner's code, as it is when the
 * server itself maintains the table.
 *
 * Validation runs on every API request, so all of this is done once per
 * backend and cached.  A relcache invalidation of the table or one of its
 * indexes (any DDL, CREATE TRIGGER, ALTER ... OWNER, DROP) empties the
 * cache, as does any change to roles (superuser status) or functions
 * (reassigned ownership).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "compat.h"
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

/* The role that owns this extension, or InvalidOid if it is not installed. */
static Oid
extension_owner(void)
{
	Oid ext = get_extension_oid("api_tokens", true);
	Oid owner = InvalidOid;
	Relation rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple tuple;

	if (!OidIsValid(ext))
		return InvalidOid;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

bool
token_table_owner_is_trusted(Oid role)
{
	return superuser_arg(role) || role == extension_owner();
}

/* Raises the error for a table the extension will not use. */
compat_noreturn static void refuse(const char *qualified_name, const char *problem,
								   const char *detail, const char *hint) compat_noreturn_attr;

static void
refuse(const char *qualified_name, const char *problem, const char *detail, const char *hint)
{
	ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					errmsg("api_tokens will not use table %s: %s", qualified_name, problem),
					detail ? errdetail("%s", detail) : 0, hint ? errhint("%s", hint) : 0));
}

/*
 * Refuses a table whose use could run code of a role other than a trusted
 * one with the privileges of the extension's functions.
 */
static void
check_trusted(Relation rel, const char *qname)
{
	Oid owner = rel->rd_rel->relowner;
	TriggerDesc *triggers = rel->trigdesc;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition)
		refuse(qname, "it is not an ordinary table", NULL,
			   "Move it aside and let CREATE EXTENSION api_tokens create the table.");

	if (!token_table_owner_is_trusted(owner))
	{
		char *owner_name = GetUserNameFromId(owner, true);
		char *ext_owner_name = GetUserNameFromId(extension_owner(), true);

		refuse(qname, psprintf("it is owned by role \"%s\"", owner_name ? owner_name : "?"),
			   "The extension's functions act on the table with the privileges of the "
			   "extension's owner, so the table must belong to a superuser or to that owner.",
			   psprintf("If the table is yours, a superuser can run: ALTER TABLE %s OWNER TO %s;",
						qname, quote_identifier(ext_owner_name ? ext_owner_name : "postgres")));
	}

	for (int i = 0; triggers != NULL && i < triggers->numtriggers; i++)
	{
		Trigger *trigger = &triggers->triggers[i];

		if (!trigger->tgisinternal)
			refuse(qname, psprintf("it has trigger \"%s\"", trigger->tgname),
				   "A trigger on the table would run with the privileges of the extension's "
				   "owner whenever a token is created, used, rotated or revoked.",
				   psprintf("Drop it: DROP TRIGGER %s ON %s;", quote_identifier(trigger->tgname),
							qname));
	}

	if (rel->rd_rules != NULL)
		refuse(qname, "it has rules",
			   "A rule would rewrite what the extension's functions do to the table.",
			   "Drop the rules on the table.");

	if (rel->rd_rel->relhassubclass && find_inheritance_children(RelationGetRelid(rel), NoLock))
		refuse(qname, "it has inheritance children",
			   "Rows of child tables would be read and changed as api_tokens rows.",
			   "Detach the children with ALTER TABLE ... NO INHERIT.");
}

/* Attribute number of a column that must exist with one of two types. */
static AttrNumber
column_of_type(Relation rel, const char *qname, const char *column, Oid type1, Oid type2,
			   bool must_be_not_null, int32 *typmod)
{
	TupleDesc desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), column) != 0)
			continue;
		if (att->atttypid != type1 && att->atttypid != type2)
			refuse(qname,
				   psprintf("column %s has type %s, expected %s", column,
							format_type_be(att->atttypid), format_type_be(type1)),
				   NULL, NULL);
		if (must_be_not_null && !att->attnotnull)
			refuse(qname, psprintf("column %s allows NULL", column), NULL,
				   psprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL;", qname, column));
		if (typmod)
			*typmod = att->atttypmod;
		return att->attnum;
	}
	refuse(qname, psprintf("it has no column %s", column), NULL, NULL);
}

/* Characters a varchar(n) or varchar(n)[] column accepts; -1 for no limit. */
static int32
max_chars(int32 typmod)
{
	return typmod >= (int32) VARHDRSZ ? typmod - (int32) VARHDRSZ : -1;
}

/*
 * A valid btree index whose first key is attnum; if unique, it must also
 * be unique on exactly that column, without predicate or expressions.
 */
static Oid
find_index(Relation rel, AttrNumber attnum, bool unique, Oid *collation)
{
	List *indexes = RelationGetIndexList(rel);
	ListCell *lc;
	Oid found = InvalidOid;

	foreach (lc, indexes)
	{
		Relation index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;
		bool usable = form->indisvalid && form->indislive && form->indkey.values[0] == attnum &&
					  index->rd_rel->relam == BTREE_AM_OID;

		if (unique)
			usable = usable && form->indisunique && form->indnkeyatts == 1 &&
					 RelationGetIndexPredicate(index) == NIL;
		if (usable)
		{
			found = RelationGetRelid(index);
			if (collation)
				*collation = index->rd_indcollation[0];
		}
		index_close(index, AccessShareLock);
		if (OidIsValid(found))
			break;
	}
	list_free(indexes);
	return found;
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

	check_trusted(rel, qname);

	cache.att_id = column_of_type(rel, qname, "id", UUIDOID, UUIDOID, true, NULL);
	cache.att_user_id = column_of_type(rel, qname, "user_id", UUIDOID, UUIDOID, true, NULL);
	cache.att_name = column_of_type(rel, qname, "name", VARCHAROID, TEXTOID, false, &typmod);
	cache.name_max_chars = max_chars(typmod);
	cache.att_token_hash =
		column_of_type(rel, qname, "token_hash", VARCHAROID, TEXTOID, true, NULL);
	cache.att_token_prefix =
		column_of_type(rel, qname, "token_prefix", VARCHAROID, TEXTOID, false, NULL);
	cache.att_scopes =
		column_of_type(rel, qname, "scopes", VARCHARARRAYOID, TEXTARRAYOID, false, &typmod);
	cache.scope_max_chars = max_chars(typmod);
	cache.att_expires_at =
		column_of_type(rel, qname, "expires_at", TIMESTAMPTZOID, TIMESTAMPTZOID, false, NULL);
	cache.att_last_used_at =
		column_of_type(rel, qname, "last_used_at", TIMESTAMPTZOID, TIMESTAMPTZOID, false, NULL);
	cache.att_is_active = column_of_type(rel, qname, "is_active", BOOLOID, BOOLOID, true, NULL);
	cache.att_created_at =
		column_of_type(rel, qname, "created_at", TIMESTAMPTZOID, TIMESTAMPTZOID, false, NULL);

	cache.hash_index = find_index(rel, cache.att_token_hash, true, &cache.hash_collation);
	if (!OidIsValid(cache.hash_index))
		refuse(qname, "it has no unique index on token_hash", NULL,
			   psprintf("CREATE UNIQUE INDEX ix_api_tokens_token_hash ON %s (token_hash);", qname));
	if (OidIsValid(cache.hash_collation) && !get_collation_isdeterministic(cache.hash_collation))
		refuse(qname, "the unique index on token_hash uses a nondeterministic collation", NULL,
			   NULL);
	cache.id_index = find_index(rel, cache.att_id, true, NULL);
	if (!OidIsValid(cache.id_index))
		refuse(qname, "it has no unique index on id", NULL,
			   psprintf("ALTER TABLE %s ADD PRIMARY KEY (id);", qname));
	cache.user_index = find_index(rel, cache.att_user_id, false, NULL);

	if (!has_user_foreign_key(rel, cache.att_user_id))
		refuse(qname, "it has no foreign key on user_id",
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
