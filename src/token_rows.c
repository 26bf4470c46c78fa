/*
 * token_rows.c
 *		Finding, locking, inserting and updating api_tokens rows by OID.
 *
 * Writes go through ExecSimpleRelationInsert/Update, so indexes, NOT NULL
 * and CHECK constraints, generated columns and the foreign key to the users
 * table (an AFTER trigger, fired when the rows are closed) behave as for an
 * INSERT or UPDATE statement.  The table has no triggers of its own (see
 * token_table.c), so no other code runs.
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
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "compat.h"
#include "token_rows.h"

/* Takes the snapshot finds will use: it sees the transaction's own changes. */
static void
take_snapshot(TokenRows *rows)
{
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	rows->snapshot = GetActiveSnapshot();
}

/* Executor state for single-row changes of rows->rel, as its owner. */
static void
begin_writes(TokenRows *rows)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	EState *estate = CreateExecutorState();

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rows->rel);
	rte->relkind = rows->rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	compat_exec_init_range_table(estate, rte);

	rows->result = makeNode(ResultRelInfo);
	InitResultRelInfo(rows->result, rows->rel, 1, NULL, 0);
	estate->es_opened_result_relations = list_make1(rows->result);
	estate->es_output_cid = GetCurrentCommandId(true);
	estate->es_snapshot = rows->snapshot;
	ExecOpenIndices(rows->result, false);
	compat_eval_plan_qual_init(&rows->epq, estate);
	rows->estate = estate;
	rows->new_slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rows->rel), &TTSOpsVirtual);

	/* Defaults, constraints and index expressions run as the table's owner. */
	GetUserIdAndSecContext(&rows->saved_user, &rows->saved_sec_context);
	SetUserIdAndSecContext(rows->table->owner, rows->saved_sec_context |
												   SECURITY_LOCAL_USERID_CHANGE |
												   SECURITY_RESTRICTED_OPERATION);
	AfterTriggerBeginQuery();
}

TokenRows *
token_rows_open(Oid nspoid, bool for_write)
{
	TokenRows *rows = palloc0(sizeof(TokenRows));

	rows->for_write = for_write;
	rows->rel =
		token_table_open(nspoid, for_write ? RowExclusiveLock : AccessShareLock, &rows->table);
	take_snapshot(rows);
	rows->slot = table_slot_create(rows->rel, NULL);
	if (for_write)
		begin_writes(rows);
	return rows;
}

TokenRows *
token_rows_try_open_for_write(Oid nspoid)
{
	TokenRows *rows = palloc0(sizeof(TokenRows));

	rows->rel = token_table_try_open(nspoid, RowExclusiveLock, &rows->table);
	if (rows->rel == NULL)
	{
		pfree(rows);
		return NULL;
	}
	take_snapshot(rows);
	rows->for_write = true;
	rows->slot = table_slot_create(rows->rel, NULL);
	begin_writes(rows);
	return rows;
}

void
token_rows_close(TokenRows *rows)
{
	if (rows->for_write)
	{
		/* Fires the foreign-key check of inserted rows. */
		AfterTriggerEndQuery(rows->estate);
		SetUserIdAndSecContext(rows->saved_user, rows->saved_sec_context);
		EvalPlanQualEnd(&rows->epq);
		ExecCloseIndices(rows->result);
		ExecResetTupleTable(rows->estate->es_tupleTable, false);
		FreeExecutorState(rows->estate);
	}
	ExecDropSingleTupleTableSlot(rows->slot);
	table_close(rows->rel, NoLock);
	PopActiveSnapshot();
	pfree(rows);
}

/* Probes a btree index whose first key equals key; fills rows->slot. */
static bool
find_one(TokenRows *rows, Oid indexoid, RegProcedure eqproc, Oid collation, Datum key)
{
	Relation index = index_open(indexoid, AccessShareLock);
	IndexScanDesc scan;
	ScanKeyData skey;
	bool found;

	ScanKeyEntryInitialize(&skey, 0, 1, BTEqualStrategyNumber, InvalidOid, collation, eqproc, key);
	scan = compat_index_beginscan(rows->rel, index, rows->snapshot, 1, 0);
	index_rescan(scan, &skey, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, rows->slot);
	index_endscan(scan);
	index_close(index, NoLock);
	return found;
}

bool
token_rows_find_by_id(TokenRows *rows, Datum id)
{
	return find_one(rows, rows->table->id_index, F_UUID_EQ, InvalidOid, id);
}

bool
token_rows_find_by_hash(TokenRows *rows, text *hash)
{
	return find_one(rows, rows->table->hash_index, F_TEXTEQ, rows->table->hash_collation,
					PointerGetDatum(hash));
}

Datum
token_rows_get(TokenRows *rows, AttrNumber att, bool *isnull)
{
	return slot_getattr(rows->slot, att, isnull);
}

bool
token_rows_get_bool(TokenRows *rows, AttrNumber att, bool if_null)
{
	bool isnull;
	Datum d = slot_getattr(rows->slot, att, &isnull);

	return isnull ? if_null : DatumGetBool(d);
}

bool
token_rows_get_timestamptz(TokenRows *rows, AttrNumber att, TimestampTz *value)
{
	bool isnull;
	Datum d = slot_getattr(rows->slot, att, &isnull);

	*value = isnull ? 0 : DatumGetTimestampTz(d);
	return !isnull;
}

bool
token_rows_uuid_equals(TokenRows *rows, AttrNumber att, Datum value)
{
	bool isnull;
	Datum d = slot_getattr(rows->slot, att, &isnull);

	return !isnull && memcmp(DatumGetPointer(d), DatumGetPointer(value), UUID_LEN) == 0;
}

/* Adds the id of the row in rows->slot to ids, unless it is NULL. */
static List *
append_id(TokenRows *rows, List *ids)
{
	bool isnull;
	Datum id = slot_getattr(rows->slot, rows->table->att_id, &isnull);

	return isnull ? ids : lappend(ids, DatumGetPointer(datumCopy(id, false, UUID_LEN)));
}

List *
token_rows_ids_of_user(TokenRows *rows, Datum user_id)
{
	List *ids = NIL;

	if (OidIsValid(rows->table->user_index))
	{
		Relation index = index_open(rows->table->user_index, AccessShareLock);
		IndexScanDesc scan;
		ScanKeyData skey;

		ScanKeyEntryInitialize(&skey, 0, 1, BTEqualStrategyNumber, InvalidOid, InvalidOid,
							   F_UUID_EQ, user_id);
		scan = compat_index_beginscan(rows->rel, index, rows->snapshot, 1, 0);
		index_rescan(scan, &skey, 1, NULL, 0);
		while (index_getnext_slot(scan, ForwardScanDirection, rows->slot))
		{
			CHECK_FOR_INTERRUPTS();
			ids = append_id(rows, ids);
		}
		index_endscan(scan);
		index_close(index, NoLock);
	}
	else
	{
		TableScanDesc scan = table_beginscan(rows->rel, rows->snapshot, 0, NULL);

		while (table_scan_getnextslot(scan, ForwardScanDirection, rows->slot))
		{
			bool isnull;
			Datum owner = slot_getattr(rows->slot, rows->table->att_user_id, &isnull);

			CHECK_FOR_INTERRUPTS();
			if (!isnull && memcmp(DatumGetPointer(owner), DatumGetPointer(user_id), UUID_LEN) == 0)
				ids = append_id(rows, ids);
		}
		table_endscan(scan);
	}
	return ids;
}

static int
compare_ids(const ListCell *a, const ListCell *b)
{
	return memcmp(lfirst(a), lfirst(b), UUID_LEN);
}

List *
token_rows_sort_ids(List *ids)
{
	List *unique = NIL;
	ListCell *lc;
	void *previous = NULL;

	list_sort(ids, compare_ids);
	foreach (lc, ids)
	{
		if (previous == NULL || memcmp(previous, lfirst(lc), UUID_LEN) != 0)
			unique = lappend(unique, lfirst(lc));
		previous = lfirst(lc);
	}
	list_free(ids);
	return unique;
}

TokenRowLock
token_rows_lock(TokenRows *rows, LockWaitPolicy wait)
{
	bool xact_snapshot = IsolationUsesXactSnapshot();
	TM_FailureData tmfd;
	TM_Result result;

	result = table_tuple_lock(rows->rel, &rows->slot->tts_tid, rows->snapshot, rows->slot,
							  GetCurrentCommandId(true), LockTupleNoKeyExclusive, wait,
							  xact_snapshot ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
	switch (result)
	{
		case TM_Ok:
			return TOKEN_ROW_LOCKED;
		case TM_WouldBlock:
			return TOKEN_ROW_BUSY;
		case TM_Updated:
			/* Only without FIND_LAST_VERSION, that is, with a transaction snapshot. */
			return TOKEN_ROW_CHANGED;
		case TM_Deleted:
			return xact_snapshot ? TOKEN_ROW_CHANGED : TOKEN_ROW_GONE;
		case TM_SelfModified:
			/* Changed by this very command: for this call, it is gone. */
			return TOKEN_ROW_GONE;
		default:
			elog(ERROR, "unexpected table_tuple_lock status: %u", result);
	}
	return TOKEN_ROW_GONE; /* keep the compiler quiet */
}

bool
token_rows_lock_for_change(TokenRows *rows)
{
	switch (token_rows_lock(rows, LockWaitBlock))
	{
		case TOKEN_ROW_LOCKED:
			return true;
		case TOKEN_ROW_CHANGED:
			ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							errmsg("could not serialize access due to concurrent update")));
			break;
		default:
			break;
	}
	return false;
}

void
token_rows_update(TokenRows *rows, int ncolumns, const AttrNumber *columns, const Datum *values,
				  const bool *nulls)
{
	TupleTableSlot *old = rows->slot;
	TupleTableSlot *new = rows->new_slot;
	int natts = old->tts_tupleDescriptor->natts;

	Assert(rows->for_write);
	slot_getallattrs(old);
	ExecClearTuple(new);
	memcpy(new->tts_values, old->tts_values, natts * sizeof(Datum));
	memcpy(new->tts_isnull, old->tts_isnull, natts * sizeof(bool));
	for (int i = 0; i < ncolumns; i++)
	{
		new->tts_values[columns[i] - 1] = values[i];
		new->tts_isnull[columns[i] - 1] = nulls[i];
	}
	ExecStoreVirtualTuple(new);
	ExecSimpleRelationUpdate(rows->result, rows->estate, &rows->epq, old, new);
}

/* Every column's default, as INSERT would compute it. */
static void
fill_defaults(TokenRows *rows, TupleTableSlot *slot)
{
	TupleDesc desc = RelationGetDescr(rows->rel);
	ExprContext *econtext = GetPerTupleExprContext(rows->estate);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Node *expr;

		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
		if (att->attisdropped || att->attgenerated)
			continue;
		expr = build_column_default(rows->rel, i + 1);
		if (expr != NULL)
		{
			ExprState *state = ExecPrepareExpr((Expr *) expr, rows->estate);

			slot->tts_values[i] = ExecEvalExpr(state, econtext, &slot->tts_isnull[i]);
		}
	}
}

/* Sets one column of a virtual slot being filled. */
static inline void
set_column(TupleTableSlot *slot, AttrNumber att, Datum value, bool isnull)
{
	slot->tts_values[att - 1] = value;
	slot->tts_isnull[att - 1] = isnull;
}

/*
 * Re-raises the current error without any detail that contains secret:
 * a constraint violation describes the failing row, token_hash included.
 */
compat_noreturn static void rethrow_without(const char *secret,
											MemoryContext context) compat_noreturn_attr;

static void
rethrow_without(const char *secret, MemoryContext context)
{
	ErrorData *edata;

	MemoryContextSwitchTo(context);
	edata = CopyErrorData();
	FlushErrorState();
	if (edata->detail != NULL && strstr(edata->detail, secret) != NULL)
		edata->detail = pstrdup("The failing row is not shown, as it contains the token's hash.");
	ReThrowError(edata);
}

Datum
token_rows_insert(TokenRows *rows, const NewTokenRow *row)
{
	const TokenTable *t = rows->table;
	TupleTableSlot *slot = rows->new_slot;
	MemoryContext context = CurrentMemoryContext;
	char *hash = text_to_cstring(row->token_hash);
	bool isnull;

	Assert(rows->for_write);
	ExecClearTuple(slot);
	fill_defaults(rows, slot);
	if (slot->tts_isnull[t->att_id - 1])
		set_column(slot, t->att_id, DirectFunctionCall1(gen_random_uuid, (Datum) 0), false);
	if (slot->tts_isnull[t->att_created_at - 1])
		set_column(slot, t->att_created_at,
				   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), false);
	set_column(slot, t->att_user_id, row->user_id, false);
	set_column(slot, t->att_name, PointerGetDatum(row->name), false);
	set_column(slot, t->att_token_hash, PointerGetDatum(row->token_hash), false);
	set_column(slot, t->att_token_prefix, PointerGetDatum(row->token_prefix), false);
	set_column(slot, t->att_scopes, PointerGetDatum(row->scopes), row->scopes == NULL);
	set_column(slot, t->att_expires_at, TimestampTzGetDatum(row->expires_at), !row->has_expiry);
	set_column(slot, t->att_last_used_at, (Datum) 0, true);
	set_column(slot, t->att_is_active, BoolGetDatum(true), false);
	ExecStoreVirtualTuple(slot);

	PG_TRY();
	{
		ExecSimpleRelationInsert(rows->result, rows->estate, slot);
	}
	PG_CATCH();
	{
		rethrow_without(hash, context);
	}
	PG_END_TRY();

	return datumCopy(slot_getattr(slot, t->att_id, &isnull), false, UUID_LEN);
}
