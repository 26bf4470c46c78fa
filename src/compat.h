/*
 * compat.h
 *		The server APIs that differ between the supported PostgreSQL majors
 *		(15 to 18), in one place.
 */
#ifndef API_TOKENS_COMPAT_H
#define API_TOKENS_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM >= 160000
/* Since 16 the varlena macros live here; postgres.h no longer includes it. */
#include "varatt.h"
#endif

#include "access/genam.h"
#include "executor/executor.h"
#include "parser/parse_relation.h"
#include "utils/guc.h"
#include "utils/rel.h"

#if PG_VERSION_NUM < 150000
#error "api_tokens needs PostgreSQL 15 or later"
#endif

/* Functions that do not return: 18 moved the marker in front of the declaration. */
#if PG_VERSION_NUM >= 180000
#define compat_noreturn pg_noreturn
#define compat_noreturn_attr
#else
#define compat_noreturn
#define compat_noreturn_attr pg_attribute_noreturn()
#endif

/* 18 added an instrumentation argument to index_beginscan. */
#if PG_VERSION_NUM >= 180000
#define compat_index_beginscan(heap, index, snapshot, nkeys, norderbys)                            \
	index_beginscan(heap, index, snapshot, NULL, nkeys, norderbys)
#else
#define compat_index_beginscan(heap, index, snapshot, nkeys, norderbys)                            \
	index_beginscan(heap, index, snapshot, nkeys, norderbys)
#endif

/*
 * A range table of one relation: 16 moved permissions into
 * RTEPermissionInfo, 18 added the set of unpruned relations.
 */
static inline void
compat_exec_init_range_table(EState *estate, RangeTblEntry *rte)
{
#if PG_VERSION_NUM >= 160000
	List *perminfos = NIL;

	addRTEPermissionInfo(&perminfos, rte);
#if PG_VERSION_NUM >= 180000
	ExecInitRangeTable(estate, list_make1(rte), perminfos, bms_make_singleton(1));
#else
	ExecInitRangeTable(estate, list_make1(rte), perminfos);
#endif
#else
	ExecInitRangeTable(estate, list_make1(rte));
#endif
}

/* 16 added the list of result relations. */
static inline void
compat_eval_plan_qual_init(EPQState *epq, EState *estate)
{
#if PG_VERSION_NUM >= 160000
	EvalPlanQualInit(epq, estate, NULL, NIL, -1, NIL);
#else
	EvalPlanQualInit(epq, estate, NULL, NIL, -1);
#endif
}

/* 18 added foreign keys that are NOT ENFORCED. */
static inline bool
compat_fk_is_enforced(const ForeignKeyCacheInfo *fk)
{
#if PG_VERSION_NUM >= 180000
	return fk->conenforced;
#else
	return true;
#endif
}

/* Memory for a setting's "extra": 16 moved settings into a memory context. */
static inline void *
compat_guc_malloc(size_t size)
{
#if PG_VERSION_NUM >= 160000
	return guc_malloc(LOG, size);
#else
	return malloc(size);
#endif
}

/* ReadRecentBuffer of a relation's block: 16 renamed RelFileNode RelFileLocator. */
#if PG_VERSION_NUM >= 160000
#define compat_read_recent_buffer(rel, fork, block, buffer)                                        \
	ReadRecentBuffer((rel)->rd_locator, (fork), (block), (buffer))
#else
#define compat_read_recent_buffer(rel, fork, block, buffer)                                        \
	ReadRecentBuffer((rel)->rd_node, (fork), (block), (buffer))
#endif

#endif /* API_TOKENS_COMPAT_H */
