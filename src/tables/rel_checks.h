/*
 * rel_checks.h
 *		Checks of the tables the extension uses (see rel_checks.c).
 */
#ifndef API_TOKENS_REL_CHECKS_H
#define API_TOKENS_REL_CHECKS_H

#include "postgres.h"

#include "access/attnum.h"
#include "utils/relcache.h"

#include "compat.h"

/* Raises the error for a table the extension will not use (55000). */
compat_noreturn extern void rel_checks_refuse(const char *qualified_name, const char *problem,
											  const char *detail,
											  const char *hint) compat_noreturn_attr;

/* The api_tokens extension, as pg_extension describes it. */
typedef struct ExtensionInfo
{
	Oid oid;
	Oid owner;
	Oid namespace;
	char version[NAMEDATALEN]; /* extversion: 1.0 has no history tables */
} ExtensionInfo;

/* Fills *info; false if the extension is not installed. */
extern bool rel_checks_extension(ExtensionInfo *info);

/* The role that owns this extension, or InvalidOid if it is not installed. */
extern Oid rel_checks_extension_owner(void);

/* True if the role may own the extension's tables: a superuser or the extension's owner. */
extern bool rel_checks_owner_is_trusted(Oid role);

/*
 * Refuses a table whose use could run code of a role other than a trusted
 * one with the privileges of the extension's functions: another owner,
 * triggers of its own, rules, inheritance children.
 */
extern void rel_checks_trusted(Relation rel, const char *qname);

/*
 * The attribute number of a column that must exist with one of two types
 * (and NOT NULL if must_be_not_null); sets *typmod if not NULL.
 */
extern AttrNumber rel_checks_column(Relation rel, const char *qname, const char *column, Oid type1,
									Oid type2, bool must_be_not_null, int32 *typmod);

/* Characters a varchar(n) or varchar(n)[] column accepts; -1 for no limit. */
extern int32 rel_checks_max_chars(int32 typmod);

/*
 * A valid btree index whose first key is attnum; if unique, it must also be
 * unique on exactly that column, without predicate.  InvalidOid if none.
 */
extern Oid rel_checks_find_index(Relation rel, AttrNumber attnum, bool unique, Oid *collation);

/* A valid btree index whose first keys are first and second, both ascending. */
extern Oid rel_checks_find_index_on_pair(Relation rel, AttrNumber first, AttrNumber second);

#endif /* API_TOKENS_REL_CHECKS_H */
