/*
 * worker.c
 *		The launcher and the flushers: recorded uses to last_used_at.
 *
 * The launcher (one per cluster, started at server start) wakes every
 * api_tokens.flush_interval, or when the use table fills up.  For each
 * database with recorded uses it starts a flusher, a short-lived worker
 * connected to that database, that writes them in batches (one short
 * transaction each) and exits; on a standby the flusher forwards them to
 * the primary instead (forward.c).  A flusher connects only while it has
 * work, so it does not hold up DROP DATABASE for long; uses of a database
 * that is gone, or of a schema without api_tokens (DROP EXTENSION), are
 * forgotten.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "forward.h"
#include "last_used.h"
#include "reuse.h"
#include "settings.h"
#include "worker.h"

/* Uses written per transaction. */
#define FLUSH_BATCH 1000

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

static bool
flusher_running(Oid dboid)
{
	ListCell *lc;
	pid_t pid;

	foreach (lc, flushers)
	{
		Flusher *f = lfirst(lc);

		if (f->dboid != dboid)
			continue;
		if (GetBackgroundWorkerPid(f->handle, &pid) != BGWH_STOPPED)
			return true;
		flushers = foreach_delete_current(flushers, lc);
		pfree(f);
	}
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
		uses_note_error("no background worker slot free for a flusher (max_worker_processes)");
		return false;
	}
	f = palloc(sizeof(Flusher));
	f->dboid = dboid;
	f->handle = handle;
	flushers = lappend(flushers, f);
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * One round: a flusher for each database with uses; the uses of dropped
 * ones forgotten.  False if a database's flusher was still running (or
 * could not start), so that its uses wait for the next round.
 */
static bool
launch_round(void)
{
	int n;
	int nreusing;
	Oid *dbs = uses_databases(&n);
	Oid *reusing = reuse_queue_databases(&nreusing);
	bool all_started = true;

	/* Databases with queued reuses but no uses, at the end, each once (64 at most). */
	dbs = repalloc(dbs, sizeof(Oid) * Max(n + nreusing, 1));
	for (int i = 0; i < nreusing; i++)
	{
		int j = 0;

		while (j < n && dbs[j] != reusing[i])
			j++;
		if (j == n)
			dbs[n++] = reusing[i];
	}
	pfree(reusing);
	if (n == 0)
	{
		pfree(dbs);
		return true;
	}
	StartTransactionCommand();
	for (int i = 0; i < n; i++)
	{
		if (!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dbs[i])))
		{
			int gone;

			uses_forget_all(dbs[i], InvalidOid);
			pfree(reuse_queue_take(dbs[i], &gone));
		}
		else if (flusher_running(dbs[i]) || !start_flusher(dbs[i]))
			all_started = false;
	}
	CommitTransactionCommand();
	pfree(dbs);
	return all_started;
}

/* Runs when the launcher exits in order (not when it is killed, SIGQUIT). */
static void
launcher_exit(int code, Datum arg)
{
	uses_set_launcher(NULL);
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
	uses_set_launcher(MyLatch);
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
		if (uses_take_flush_request() || retry || current >= next_round)
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

/* Writes one batch in a transaction of its own; false if it failed. */
static bool
flush_batch(const PendingUse *uses, int n)
{
	Batch batch = {uses, n, palloc0(sizeof(bool) * n)};
	char *error = in_transaction(write_batch, &batch);
	int written = 0;

	if (error != NULL)
	{
		ereport(LOG, (errmsg("api_tokens flusher could not write %d recorded uses: %s", n, error)));
		uses_note_error(error);
		pfree(error);
		return false;
	}
	/* Committed: forget what is done (unless used again meanwhile). */
	for (int i = 0; i < n; i++)
		if (batch.done[i])
		{
			uses_forget(&uses[i].key, uses[i].at);
			written++;
		}
	uses_count(USES_FLUSHED, written);
	pfree(batch.done);
	return true;
}

static void
flush_database(Oid dboid)
{
	int n;
	PendingUse *pending = uses_of_database(dboid, api_tokens_max_tracked_tokens, &n);

	for (int start = 0; start < n; start += FLUSH_BATCH)
	{
		CHECK_FOR_INTERRUPTS();
		if (!flush_batch(pending + start, Min(FLUSH_BATCH, n - start)))
			break;
	}
	uses_note_flush();
}

static void
act_on_reuse(void *arg)
{
	reuse_act(arg);
}

/*
 * Acts on the reuses that transactions which could not write handed over,
 * each in a transaction of its own.
 */
static void
act_on_reuses(Oid dboid)
{
	int n;
	QueuedReuse *reuses = reuse_queue_take(dboid, &n);

	for (int i = 0; i < n; i++)
	{
		char *error;

		CHECK_FOR_INTERRUPTS();
		error = in_transaction(act_on_reuse, &reuses[i]);
		if (error != NULL)
		{
			ereport(LOG, (errmsg("api_tokens flusher could not act on the reuse of a rotated-out "
								 "token: %s",
								 error)));
			pfree(error);
		}
	}
	pfree(reuses);
}

void
api_tokens_flusher_main(Datum arg)
{
	Oid dboid = DatumGetObjectId(arg);

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_activity(STATE_RUNNING, "writing recorded uses");
	if (RecoveryInProgress())
		forward_database(dboid);
	else
	{
		flush_database(dboid);
		act_on_reuses(dboid);
	}
	proc_exit(0);
}
