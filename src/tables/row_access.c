/*
 * row_access.c
 *		Finding, locking, inserting, updating and deleting rows by OID.
 *
 * The tables the extension writes carry no triggers of their own (see
 * tables/catalog.c), so no code but the tables' owners' runs.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "rewrite/rewriteHandler.h"
#include "storage/bufmgr.h"
#include "utils/datum.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "compat.h"
#include "tables/row_access.h"

/* Executor state for single-row changes of ra->rel, as run_as. */
static void
begin_writes(RowAccess *ra, Oid run_as)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	EState *estate = CreateExecutorState();

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(ra->rel);
	rte->relkind = ra->rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	compat_exec_init_range_table(estate, rte);

	ra->result = makeNode(ResultRelInfo);
	InitResultRelInfo(ra->result, ra->rel, 1, NULL, 0);
	estate->es_opened_result_relations = list_make1(ra->result);
	estate->es_output_cid = GetCurrentCommandId(true);
	estate->es_snapshot = ra->snapshot;
	ExecOpenIndices(ra->result, false);
	compat_eval_plan_qual_init(&ra->epq, estate);
	ra->estate = estate;
	ra->new_slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(ra->rel), &TTSOpsVirtual);

	/* Defaults, constraints and index expressions run as the table's owner. */
	GetUserIdAndSecContext(&ra->saved_user, &ra->saved_sec_context);
	SetUserIdAndSecContext(run_as, ra->saved_sec_context | SECURITY_LOCAL_USERID_CHANGE |
									   SECURITY_RESTRICTED_OPERATION);
	AfterTriggerBeginQuery();
}

void
row_access_begin(RowAccess *ra, Relation rel, Oid run_as, bool for_write)
{
	/* What a new statement would see, the transaction's own changes included. */
	CommandCounterIncrement();
	row_access_begin_reading_at(ra, rel, GetTransactionSnapshot());
	ra->for_write = for_write;
	if (for_write)
		begin_writes(ra, run_as);
}

void
row_access_begin_reading_at(RowAccess *ra, Relation rel, Snapshot snapshot)
{
	memset(ra, 0, sizeof(*ra));
	ra->rel = rel;
	PushActiveSnapshot(snapshot);
	ra->snapshot = GetActiveSnapshot();
	ra->slot = table_slot_create(rel, NULL);
}

void
row_access_end(RowAccess *ra)
{
	if (ra->for_write)
	{
		/* Fires the foreign-key checks of the rows written since begin. */
		AfterTriggerEndQuery(ra->estate);
		SetUserIdAndSecContext(ra->saved_user, ra->saved_sec_context);
		EvalPlanQualEnd(&ra->epq);
		/*
		 * Trigger events are queued at the innermost open query level, which
		 * may be another table's: firing them may have opened relations of
		 * their own in this estate.  This closes them, and our indexes.
		 */
		ExecCloseResultRelations(ra->estate);
		ExecResetTupleTable(ra->estate->es_tupleTable, false);
		FreeExecutorState(ra->estate);
	}
	ExecDropSingleTupleTableSlot(ra->slot);
	PopActiveSnapshot();
}

static IndexScanDesc
begin_index_scan(RowAccess *ra, Relation index, RegProcedure eq, Oid collation, Datum key,
				 ScanKey skey)
{
	IndexScanDesc scan;

	ScanKeyEntryInitialize(skey, 0, 1, BTEqualStrategyNumber, InvalidOid, collation, eq, key);
	scan = compat_index_beginscan(ra->rel, index, ra->snapshot, 1, 0);
	index_rescan(scan, skey, 1, NULL, 0);
	return scan;
}

bool
row_access_find(RowAccess *ra, Oid indexoid, RegProcedure eq, Oid collation, Datum key)
{
	Relation index = index_open(indexoid, AccessShareLock);
	ScanKeyData skey;
	IndexScanDesc scan = begin_index_scan(ra, index, eq, collation, key, &skey);
	bool found = index_getnext_slot(scan, ForwardScanDirection, ra->slot);

	index_endscan(scan);
	index_close(index, NoLock);
	return found;
}

bool
row_access_find_root(RowAccess *ra, Oid indexoid, RegProcedure eq, Oid collation, Datum key,
					 ItemPointer root)
{
	Relation index = index_open(indexoid, AccessShareLock);
	ScanKeyData skey;
	IndexScanDesc scan = begin_index_scan(ra, index, eq, collation, key, &skey);
	bool found = false;

	/*
	 * index_getnext_slot, keeping the TID the index holds: fetching moves
	 * scan->xs_heaptid to the visible member of the HOT chain.
	 */
	ItemPointerSetInvalid(root);
	while (!found && index_getnext_tid(scan, ForwardScanDirection) != NULL)
	{
		ItemPointerData entry = scan->xs_heaptid;

		/* An MVCC snapshot sees at most one member of a chain: no call again. */
		found = index_fetch_heap(scan, ra->slot);
		if (found)
			*root = entry;
	}
	index_endscan(scan);
	index_close(index, NoLock);
	return found;
}

bool
row_access_fetch_root(RowAccess *ra, ItemPointer root)
{
	ItemPointerData tid = *root;
	IndexFetchTableData *fetch;
	bool call_again = false;
	bool found;

	/*
	 * The TID may be older than the relation's file or its last truncation:
	 * reading past the end would fail.  The caller's lock keeps VACUUM from
	 * truncating until the read is over.
	 */
	if (!ItemPointerIsValid(&tid) ||
		ItemPointerGetBlockNumber(&tid) >= RelationGetNumberOfBlocks(ra->rel))
		return false;
	fetch = table_index_fetch_begin(ra->rel);
	found = table_index_fetch_tuple(fetch, &tid, ra->snapshot, ra->slot, &call_again, NULL);
	table_index_fetch_end(fetch);
	return found;
}

void
row_access_scan_keys(RowAccess *ra, Oid indexoid, ScanKey keys, int nkeys, RowAccessEach each,
					 void *arg)
{
	Relation index = index_open(indexoid, AccessShareLock);
	IndexScanDesc scan = compat_index_beginscan(ra->rel, index, ra->snapshot, nkeys, 0);

	index_rescan(scan, keys, nkeys, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, ra->slot))
	{
		CHECK_FOR_INTERRUPTS();
		if (!each(ra, arg))
			break;
	}
	index_endscan(scan);
	index_close(index, NoLock);
}

void
row_access_scan(RowAccess *ra, Oid indexoid, RegProcedure eq, Datum key, RowAccessEach each,
				void *arg)
{
	if (OidIsValid(indexoid))
	{
		ScanKeyData skey;

		ScanKeyEntryInitialize(&skey, 0, 1, BTEqualStrategyNumber, InvalidOid, InvalidOid, eq, key);
		row_access_scan_keys(ra, indexoid, &skey, 1, each, arg);
	}
	else
	{
		TableScanDesc scan = table_beginscan(ra->rel, ra->snapshot, 0, NULL);

		while (table_scan_getnextslot(scan, ForwardScanDirection, ra->slot))
		{
			CHECK_FOR_INTERRUPTS();
			if (!each(ra, arg))
				break;
		}
		table_endscan(scan);
	}
}

RowLock
row_access_lock(RowAccess *ra, LockWaitPolicy wait)
{
	bool xact_snapshot = IsolationUsesXactSnapshot();
	TM_FailureData tmfd;
	TM_Result result;

	result = table_tuple_lock(ra->rel, &ra->slot->tts_tid, ra->snapshot, ra->slot,
							  GetCurrentCommandId(true), LockTupleNoKeyExclusive, wait,
							  xact_snapshot ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
	switch (result)
	{
		case TM_Ok:
			return ROW_LOCKED;
		case TM_WouldBlock:
			return ROW_BUSY;
		case TM_Updated:
			/* Only without FIND_LAST_VERSION, that is, with a transaction snapshot. */
			return ROW_CHANGED;
		case TM_Deleted:
			return xact_snapshot ? ROW_CHANGED : ROW_GONE;
		case TM_SelfModified:
			/* Changed by this very command: for this call, it is gone. */
			return ROW_GONE;
		default:
			elog(ERROR, "unexpected table_tuple_lock status: %u", result);
	}
	return ROW_GONE; /* keep the compiler quiet */
}

bool
row_access_lock_for_change(RowAccess *ra)
{
	switch (row_access_lock(ra, LockWaitBlock))
	{
		case ROW_LOCKED:
			return true;
		case ROW_CHANGED:
			ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							errmsg("could not serialize access due to concurrent update")));
			break;
		default:
			break;
	}
	return false;
}

Datum
row_access_get(RowAccess *ra, AttrNumber att, bool *isnull)
{
	return slot_getattr(ra->slot, att, isnull);
}

bool
row_access_get_bool(RowAccess *ra, AttrNumber att, bool if_null)
{
	bool isnull;
	Datum d = slot_getattr(ra->slot, att, &isnull);

	return isnull ? if_null : DatumGetBool(d);
}

bool
row_access_get_timestamptz(RowAccess *ra, AttrNumber att, TimestampTz *value)
{
	bool isnull;
	Datum d = slot_getattr(ra->slot, att, &isnull);

	*value = isnull ? 0 : DatumGetTimestampTz(d);
	return !isnull;
}

bool
row_access_uuid_equals(RowAccess *ra, AttrNumber att, Datum value)
{
	bool isnull;
	Datum d = slot_getattr(ra->slot, att, &isnull);

	return !isnull && memcmp(DatumGetPointer(d), DatumGetPointer(value), UUID_LEN) == 0;
}

Datum
row_access_copy_uuid(RowAccess *ra, AttrNumber att)
{
	bool isnull;
	Datum d = slot_getattr(ra->slot, att, &isnull);

	return isnull ? (Datum) 0 : datumCopy(d, false, UUID_LEN);
}

void
row_access_update(RowAccess *ra, int ncolumns, const AttrNumber *columns, const Datum *values,
				  const bool *nulls)
{
	TupleTableSlot *old = ra->slot;
	TupleTableSlot *new = ra->new_slot;
	int natts = old->tts_tupleDescriptor->natts;

	Assert(ra->for_write);
	slot_getallattrs(old);
	ExecClearTuple(new);
	memcpy(new->tts_values, old->tts_values, natts * sizeof(Datum));
	memcpy(new->tts_isnull, old->tts_isnull, natts * sizeof(bool));
	for (int i = 0; i < ncolumns; i++)
		row_access_set(new, columns[i], values[i], nulls[i]);
	ExecStoreVirtualTuple(new);
	ExecSimpleRelationUpdate(ra->result, ra->estate, &ra->epq, old, new);
}

void
row_access_delete(RowAccess *ra)
{
	Assert(ra->for_write);
	ExecSimpleRelationDelete(ra->result, ra->estate, &ra->epq, ra->slot);
}

TupleTableSlot *
row_access_new_row(RowAccess *ra)
{
	TupleDesc desc = RelationGetDescr(ra->rel);
	ExprContext *econtext = GetPerTupleExprContext(ra->estate);
	TupleTableSlot *slot = ra->new_slot;

	Assert(ra->for_write);
	ExecClearTuple(slot);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Node *expr;

		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
		if (att->attisdropped || att->attgenerated)
			continue;
		expr = build_column_default(ra->rel, i + 1);
		if (expr != NULL)
		{
			ExprState *state = ExecPrepareExpr((Expr *) expr, ra->estate);

			slot->tts_values[i] = ExecEvalExpr(state, econtext, &slot->tts_isnull[i]);
		}
	}
	return slot;
}

void
row_access_set(TupleTableSlot *slot, AttrNumber att, Datum value, bool isnull)
{
	slot->tts_values[att - 1] = value;
	slot->tts_isnull[att - 1] = isnull;
}

void
row_access_insert(RowAccess *ra, TupleTableSlot *slot)
{
	Assert(ra->for_write);
	ExecStoreVirtualTuple(slot);
	ExecSimpleRelationInsert(ra->result, ra->estate, slot);
}
