/*
 * worker.c
 *		The launcher and the flushers: recorded uses to last_used_at,
 *		handed-over reuses acted upon, spent credits written.
 *
 * The launcher (one per cluster, started at server start) wakes every
 * api_tokens.flush_interval, or when the use table fills up.  For each
 * database with recorded uses or reuses it starts a flusher, a short-lived
 * worker connected to that database, that writes the uses in batches (one
 * short transaction each), acts on the reuses, writes the credits spent in
 * shared memory (limit_table.c, since 1.2), and exits; on a standby the
 * flusher forwards the uses to the primary instead (forward.c).  A flusher
 * connects only while it has work, so it does not hold up DROP DATABASE
 * for long; uses of a database that is gone, or of a schema without
 * api_tokens (DROP EXTENSION), are forgotten.
 *
 * A database's owner is not trusted: its settings that would change what
 * a flusher does are overridden, a flusher never waits long for a lock,
 * and a database whose flusher fails (it does not allow connections, a
 * lock is held) is put off, longer each time, while the shared table
 * keeps every other database's share (use_table.c).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "engine/forward.h"
#include "engine/last_used.h"
#include "engine/limit_table.h"
#include "engine/reuse.h"
#include "engine/worker.h"
#include "settings.h"
#include "tables/catalog.h"

/* Uses written per transaction. */
#define FLUSH_BATCH 1000
/* The longest a flusher waits for a lock. */
#define FLUSHER_LOCK_TIMEOUT "1s"

PGDLLEXPORT void api_tokens_launcher_main(Datum arg);
PGDLLEXPORT void api_tokens_flusher_main(Datum arg);

void
worker_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* On a standby as soon as it can be read: its uses are forwarded. */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 10;
	strlcpy(worker.bgw_library_name, "api_tokens", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "api_tokens_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "api_tokens launcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "api_tokens launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* Running flushers, one per database at most. */
typedef struct Flusher
{
	Oid dboid;
	BackgroundWorkerHandle *handle;
} Flusher;

static List *flushers = NIL;

/* Forgets the flushers that stopped; one that stopped before it finished failed. */
static void
reap_flushers(void)
{
	ListCell *lc;
	pid_t pid;

	foreach (lc, flushers)
	{
		Flusher *f = lfirst(lc);

		if (GetBackgroundWorkerPid(f->handle, &pid) != BGWH_STOPPED)
			continue;
		(void) use_table_flusher_stopped(f->dboid);
		flushers = foreach_delete_current(flushers, lc);
		pfree(f->handle);
		pfree(f);
	}
}

static bool
flusher_running(Oid dboid)
{
	ListCell *lc;

	foreach (lc, flushers)
		if (((Flusher *) lfirst(lc))->dboid == dboid)
			return true;
	return false;
}

static bool
start_flusher(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	MemoryContext old;
	Flusher *f;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "api_tokens", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "api_tokens_flusher_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "api_tokens flusher for database %u", dboid);
	strlcpy(worker.bgw_type, "api_tokens flusher", BGW_MAXLEN);
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		MemoryContextSwitchTo(old);
		/* No free worker slot: the uses wait for the next round. */
		use_table_note_error(dboid, "no background worker slot free for a flusher "
									"(max_worker_processes)");
		return false;
	}
	use_table_flusher_started(dboid);
	f = palloc(sizeof(Flusher));
	f->dboid = dboid;
	f->handle = handle;
	flushers = lappend(flushers, f);
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * One round: a flusher for each database with something waiting and not
 * put off after failures; what waits for a dropped database forgotten.  A
 * database that does not allow connections (a database owner may say so)
 * is a failure of its own, its flusher never started.  False if a
 * database's flusher was still running (or could not start), so that its
 * work waits for the next round.
 */
static bool
launch_round(void)
{
	int n;
	Oid *dbs;
	bool all_started = true;

	reap_flushers();
	dbs = use_table_databases_due(GetCurrentTimestamp(), &n);
	if (n == 0)
	{
		pfree(dbs);
		return true;
	}
	StartTransactionCommand();
	for (int i = 0; i < n; i++)
	{
		HeapTuple tuple = SearchSysCacheCopy1(DATABASEOID, ObjectIdGetDatum(dbs[i]));
		Form_pg_database database;

		if (!HeapTupleIsValid(tuple))
		{
			use_table_forget_all(dbs[i], InvalidOid);
			continue;
		}
		database = (Form_pg_database) GETSTRUCT(tuple);
		if (flusher_running(dbs[i]))
			all_started = false;
		else if (!database->datallowconn)
			use_table_database_failed(dbs[i],
									  psprintf("database \"%s\" does not allow connections: what "
											   "waits for it is kept, and tried again later",
											   NameStr(database->datname)));
		else if (!start_flusher(dbs[i]))
			all_started = false;
		heap_freetuple(tuple);
	}
	CommitTransactionCommand();
	pfree(dbs);
	return all_started;
}

/* Runs when the launcher exits in order (not when it is killed, SIGQUIT). */
static void
launcher_exit(int code, Datum arg)
{
	use_table_set_launcher(NULL);
}

void
api_tokens_launcher_main(Datum arg)
{
	TimestampTz last_round;
	bool retry = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* No database: enough to read pg_database, a shared catalog. */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	use_table_set_launcher(MyLatch);
	before_shmem_exit(launcher_exit, (Datum) 0);

	/*
	 * A round every flush_interval, or at once when the table is full.  The
	 * latch is also set by others (a reload, a flusher's exit, the procsignal
	 * barrier of DROP DATABASE), so the time of the next round is kept here.
	 * A round that found a flusher still busy is tried again at the next
	 * wakeup, at the latest when that flusher exits.
	 */
	last_round = GetCurrentTimestamp();
	for (;;)
	{
		TimestampTz current = GetCurrentTimestamp();
		TimestampTz next_round;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		next_round = TimestampTzPlusMilliseconds(last_round, api_tokens_flush_interval * 1000L);
		if (use_table_take_flush_request() || retry || current >= next_round)
		{
			last_round = current;
			next_round = TimestampTzPlusMilliseconds(current, api_tokens_flush_interval * 1000L);
			retry = !launch_round();
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(TimestampDifferenceMilliseconds(current, next_round), 1),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Runs work(arg) in a transaction of its own; on an error, rolls back and
 * returns the error's message only (its detail could show a row, token_hash
 * included), else NULL.
 */
static char *
in_transaction(void (*work)(void *arg), void *arg)
{
	MemoryContext context = CurrentMemoryContext;
	char *message = NULL;

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		work(arg);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData *edata;

		MemoryContextSwitchTo(context);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		message = pstrdup(edata->message ? edata->message : "unknown error");
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return message;
}

typedef struct Batch
{
	const PendingUse *uses;
	int n;
	bool *done;
} Batch;

static void
write_batch(void *arg)
{
	Batch *batch = arg;

	last_used_write(batch->uses, batch->n, batch->done);
}

/* Writes one batch in a transaction of its own; the error, or NULL. */
static char *
flush_batch(Oid dboid, const PendingUse *uses, int n)
{
	Batch batch = {uses, n, palloc0(sizeof(bool) * n)};
	char *error = in_transaction(write_batch, &batch);
	int written = 0;

	if (error != NULL)
	{
		error = psprintf("could not write %d recorded uses: %s", n, error);
		ereport(LOG, (errmsg("api_tokens flusher %s", error)));
		return error;
	}
	/* Committed: forget what is done (unless used again meanwhile). */
	for (int i = 0; i < n; i++)
		if (batch.done[i])
		{
			use_table_forget(&uses[i].key, uses[i].at);
			written++;
		}
	use_table_count(USES_FLUSHED, written);
	pfree(batch.done);
	return NULL;
}

/* Writes the database's recorded uses in batches; the first error, or NULL. */
static char *
flush_database(Oid dboid)
{
	int n;
	PendingUse *pending = use_table_of_database(dboid, api_tokens_max_tracked_tokens, &n);

	for (int start = 0; start < n; start += FLUSH_BATCH)
	{
		char *error;

		CHECK_FOR_INTERRUPTS();
		error = flush_batch(dboid, pending + start, Min(FLUSH_BATCH, n - start));
		if (error != NULL)
			return error;
	}
	return NULL;
}

typedef struct CreditsBatch
{
	const UnwrittenCredits *credits;
	int n;
	bool *done;
} CreditsBatch;

/* Writes the balances of one schema's tokens, credits[0..n). */
static void
write_schema_credits(Oid nspoid, const UnwrittenCredits *credits, int n, bool *done)
{
	const ExtTables *tables;
	CreditsWrite *writes;

	/* A schema dropped (DROP EXTENSION ... CASCADE): nothing to write to, ever. */
	if (!SearchSysCacheExists1(NAMESPACEOID, ObjectIdGetDatum(nspoid)))
	{
		memset(done, true, sizeof(bool) * n);
		return;
	}
	tables = ext_tables_of(nspoid);
	if (!tables->has_limits)
	{
		memset(done, true, sizeof(bool) * n);
		return;
	}
	writes = palloc(sizeof(CreditsWrite) * n);
	for (int i = 0; i < n; i++)
	{
		writes[i].token_id = UUIDPGetDatum(&credits[i].key.token_id);
		writes[i].version = credits[i].version;
		writes[i].remaining = credits[i].remaining;
		writes[i].refilled_at = credits[i].refilled_at;
		writes[i].hint = credits[i].hint;
	}
	limit_rows_write_credits(tables, writes, n, done);
	pfree(writes);
}

/* A batch, sorted by schema: each schema's run written through one opening of its table. */
static void
write_credits_batch(void *arg)
{
	CreditsBatch *batch = arg;
	int start = 0;

	while (start < batch->n)
	{
		Oid nspoid = batch->credits[start].key.nspoid;
		int end = start + 1;

		while (end < batch->n && batch->credits[end].key.nspoid == nspoid)
			end++;
		write_schema_credits(nspoid, batch->credits + start, end - start, batch->done + start);
		start = end;
	}
}

#define COMPARE(x, y) ((x) < (y) ? -1 : (x) > (y) ? 1 : 0)

/*
 * By schema, then by where the row was last found (rows never found last):
 * a batch then updates rows of few pages, and each page is pruned once per
 * round instead of once for every batch that touches it.
 */
static int
by_schema_and_place(const void *a, const void *b)
{
	const UnwrittenCredits *x = a;
	const UnwrittenCredits *y = b;

	if (x->key.nspoid != y->key.nspoid)
		return COMPARE(x->key.nspoid, y->key.nspoid);
	if (ItemPointerGetBlockNumberNoCheck(&x->hint.root) !=
		ItemPointerGetBlockNumberNoCheck(&y->hint.root))
		return COMPARE(ItemPointerGetBlockNumberNoCheck(&x->hint.root),
					   ItemPointerGetBlockNumberNoCheck(&y->hint.root));
	return COMPARE(ItemPointerGetOffsetNumberNoCheck(&x->hint.root),
				   ItemPointerGetOffsetNumberNoCheck(&y->hint.root));
}

/*
 * Writes the credits spent in shared memory to api_token_limits, in
 * batches of their own transactions; what is left (a row locked, spent
 * again meanwhile, an error) is noted for the next round.  The first
 * error, or NULL.
 */
static char *
write_credits(Oid dboid)
{
	int n;
	UnwrittenCredits *credits;
	char *error = NULL;

	if (!use_table_take_credits(dboid))
		return NULL;
	credits = limit_table_unwritten(dboid, &n);
	qsort(credits, n, sizeof(UnwrittenCredits), by_schema_and_place);
	for (int start = 0; start < n && error == NULL; start += FLUSH_BATCH)
	{
		CreditsBatch batch = {credits + start, Min(FLUSH_BATCH, n - start), NULL};

		CHECK_FOR_INTERRUPTS();
		batch.done = palloc0(sizeof(bool) * batch.n);
		error = in_transaction(write_credits_batch, &batch);
		if (error != NULL)
		{
			error = psprintf("could not write spent credits: %s", error);
			ereport(LOG, (errmsg("api_tokens flusher %s", error)));
		}
		else
			for (int i = 0; i < batch.n; i++)
				if (batch.done[i])
					limit_table_written(&batch.credits[i]);
		pfree(batch.done);
	}
	pfree(credits);
	credits = limit_table_unwritten(dboid, &n);
	if (n > 0)
		use_table_note_credits(dboid);
	pfree(credits);
	return error;
}

static void
act_on_reuse(void *arg)
{
	reuse_act(arg);
}

/*
 * Acts on the reuses that transactions which could not write handed over,
 * each in a transaction of its own; one that fails is handed back, to be
 * tried again.  The first error, or NULL.
 */
static char *
act_on_reuses(Oid dboid)
{
	int n;
	QueuedReuse *reuses = use_table_take_reuses(dboid, &n);
	char *first_error = NULL;

	for (int i = 0; i < n; i++)
	{
		char *error;

		CHECK_FOR_INTERRUPTS();
		error = in_transaction(act_on_reuse, &reuses[i]);
		if (error == NULL)
			continue;
		error = psprintf("could not act on the reuse of a rotated-out token: %s", error);
		ereport(LOG, (errmsg("api_tokens flusher %s", error)));
		(void) use_table_record_reuse(&reuses[i]);
		if (first_error == NULL)
			first_error = error;
	}
	pfree(reuses);
	return first_error;
}

/*
 * The settings a database's owner may set (ALTER DATABASE ... SET) and
 * that would change what the flusher does, set back to what it needs: a
 * read-only default would make every write fail, a serializable one join
 * other transactions' conflicts, a timeout or exit_on_error end it, and an
 * actor forge who acted in its events.  Settings only a superuser may set
 * (api_tokens.last_used_interval, api_tokens.rotated_reuse) apply as set.
 */
static void
pin_settings(void)
{
	static const char *const pinned[][2] = {
		{"default_transaction_read_only", "off"},
		{"default_transaction_isolation", "read committed"},
		{"default_transaction_deferrable", "off"},
		{"statement_timeout", "0"},
		{"idle_in_transaction_session_timeout", "0"},
		{"exit_on_error", "off"},
		{"search_path", "pg_catalog, pg_temp"},
		{"api_tokens.actor", ""},
		/* Never wait long for a lock someone holds: try again later. */
		{"lock_timeout", FLUSHER_LOCK_TIMEOUT},
	};

	for (int i = 0; i < (int) lengthof(pinned); i++)
		SetConfigOption(pinned[i][0], pinned[i][1], PGC_SUSET, PGC_S_OVERRIDE);
}

void
api_tokens_flusher_main(Datum arg)
{
	Oid dboid = DatumGetObjectId(arg);
	char *error;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pin_settings();
	pgstat_report_activity(STATE_RUNNING, "writing recorded uses");
	if (RecoveryInProgress())
		error = forward_database(dboid);
	else
	{
		char *reuse_error;
		char *credits_error;

		error = flush_database(dboid);
		reuse_error = act_on_reuses(dboid);
		credits_error = write_credits(dboid);
		if (error == NULL)
			error = reuse_error ? reuse_error : credits_error;
	}
	use_table_flusher_finished(dboid, error);
	proc_exit(0);
}
