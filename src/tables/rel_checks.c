/*
 * rel_checks.c
 *		Checks of the tables the extension uses: who owns them, what they
 *		carry (triggers, rules, children), their columns and indexes.
 *
 * The extension's functions act on its tables with the privileges of the
 * extension's owner, and the tables live in a schema whose owner (on
 * PostgreSQL 15 the database owner) is not trusted.  So a table must be
 * owned by a superuser or the extension's owner, and must carry nothing
 * that would run someone else's code with those privileges: no triggers of
 * its own (foreign-key triggers are the server's), no rules, no inheritance
 * children.  What the trusted owner attaches (defaults, check constraints,
 * index expressions, policies) is that owner's code, as it is when the
 * server itself maintains the table.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_am.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "compat.h"
#include "tables/rel_checks.h"

bool
rel_checks_extension(ExtensionInfo *info)
{
	Oid ext = get_extension_oid("api_tokens", true);
	Relation rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple tuple;
	bool found = false;

	memset(info, 0, sizeof(*info));
	if (!OidIsValid(ext))
		return false;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_extension form = (Form_pg_extension) GETSTRUCT(tuple);
		bool isnull;
		Datum version =
			heap_getattr(tuple, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);

		info->oid = ext;
		info->owner = form->extowner;
		info->namespace = form->extnamespace;
		if (!isnull)
			text_to_cstring_buffer(DatumGetTextPP(version), info->version, sizeof(info->version));
		found = true;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

Oid
rel_checks_extension_owner(void)
{
	ExtensionInfo info;

	return rel_checks_extension(&info) ? info.owner : InvalidOid;
}

bool
rel_checks_owner_is_trusted(Oid role)
{
	return superuser_arg(role) || role == rel_checks_extension_owner();
}

/* Raises the error for a table the extension will not use. */
void
rel_checks_refuse(const char *qualified_name, const char *problem, const char *detail,
				  const char *hint)
{
	ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					errmsg("api_tokens will not use table %s: %s", qualified_name, problem),
					detail ? errdetail("%s", detail) : 0, hint ? errhint("%s", hint) : 0));
}

/*
 * Refuses a table whose use could run code of a role other than a trusted
 * one with the privileges of the extension's functions.
 */
void
rel_checks_trusted(Relation rel, const char *qname)
{
	Oid owner = rel->rd_rel->relowner;
	TriggerDesc *triggers = rel->trigdesc;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition)
		rel_checks_refuse(qname, "it is not an ordinary table", NULL,
						  "Move it aside and let CREATE EXTENSION api_tokens create the table.");

	if (!rel_checks_owner_is_trusted(owner))
	{
		char *owner_name = GetUserNameFromId(owner, true);
		char *ext_owner_name = GetUserNameFromId(rel_checks_extension_owner(), true);

		rel_checks_refuse(
			qname, psprintf("it is owned by role \"%s\"", owner_name ? owner_name : "?"),
			"The extension's functions act on the table with the privileges of the "
			"extension's owner, so the table must belong to a superuser or to that owner.",
			psprintf("If the table is yours, a superuser can run: ALTER TABLE %s OWNER TO %s;",
					 qname, quote_identifier(ext_owner_name ? ext_owner_name : "postgres")));
	}

	for (int i = 0; triggers != NULL && i < triggers->numtriggers; i++)
	{
		Trigger *trigger = &triggers->triggers[i];

		if (!trigger->tgisinternal)
			rel_checks_refuse(
				qname, psprintf("it has trigger \"%s\"", trigger->tgname),
				"A trigger on the table would run with the privileges of the extension's "
				"owner whenever a token is created, used, rotated or revoked.",
				psprintf("Drop it: DROP TRIGGER %s ON %s;", quote_identifier(trigger->tgname),
						 qname));
	}

	if (rel->rd_rules != NULL)
		rel_checks_refuse(qname, "it has rules",
						  "A rule would rewrite what the extension's functions do to the table.",
						  "Drop the rules on the table.");

	if (rel->rd_rel->relhassubclass && find_inheritance_children(RelationGetRelid(rel), NoLock))
		rel_checks_refuse(qname, "it has inheritance children",
						  "Rows of child tables would be read and changed as api_tokens rows.",
						  "Detach the children with ALTER TABLE ... NO INHERIT.");
}

/* Attribute number of a column that must exist with one of two types. */
AttrNumber
rel_checks_column(Relation rel, const char *qname, const char *column, Oid type1, Oid type2,
				  bool must_be_not_null, int32 *typmod)
{
	TupleDesc desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), column) != 0)
			continue;
		if (att->atttypid != type1 && att->atttypid != type2)
			rel_checks_refuse(qname,
							  psprintf("column %s has type %s, expected %s", column,
									   format_type_be(att->atttypid), format_type_be(type1)),
							  NULL, NULL);
		if (must_be_not_null && !att->attnotnull)
			rel_checks_refuse(
				qname, psprintf("column %s allows NULL", column), NULL,
				psprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL;", qname, column));
		if (typmod)
			*typmod = att->atttypmod;
		return att->attnum;
	}
	rel_checks_refuse(qname, psprintf("it has no column %s", column), NULL, NULL);
}

/* Characters a varchar(n) or varchar(n)[] column accepts; -1 for no limit. */
int32
rel_checks_max_chars(int32 typmod)
{
	return typmod >= (int32) VARHDRSZ ? typmod - (int32) VARHDRSZ : -1;
}

/*
 * A valid btree index whose first key is first and, unless second is
 * InvalidAttrNumber, whose second key is second (in ascending order); if
 * unique, it must also be unique on exactly the first column, without
 * predicate or expressions, and checked at once (a deferrable one lets a
 * transaction hold duplicates until it commits): then no snapshot sees two
 * rows with one key.
 */
static Oid
find_index(Relation rel, AttrNumber first, AttrNumber second, bool unique, Oid *collation)
{
	List *indexes = RelationGetIndexList(rel);
	ListCell *lc;
	Oid found = InvalidOid;

	foreach (lc, indexes)
	{
		Relation index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;
		bool usable = form->indisvalid && form->indislive && form->indkey.values[0] == first &&
					  index->rd_rel->relam == BTREE_AM_OID;

		if (second != InvalidAttrNumber)
			usable = usable && form->indnkeyatts >= 2 && form->indkey.values[1] == second &&
					 (index->rd_indoption[1] & INDOPTION_DESC) == 0;
		if (unique)
			usable = usable && form->indisunique && form->indimmediate && form->indnkeyatts == 1 &&
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

Oid
rel_checks_find_index(Relation rel, AttrNumber attnum, bool unique, Oid *collation)
{
	return find_index(rel, attnum, InvalidAttrNumber, unique, collation);
}

Oid
rel_checks_find_index_on_pair(Relation rel, AttrNumber first, AttrNumber second)
{
	return find_index(rel, first, second, false, NULL);
}
