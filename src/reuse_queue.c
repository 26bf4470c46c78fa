/*
 * reuse_queue.c
 *		A small shared queue of reuses for the flushers (see reuse_queue.h).
 *
 * It is short and rarely used (a reuse is an attack or a mistake, and each
 * token is queued once), so a spinlock and a linear search are enough.  It
 * is not saved at shutdown: a reuse queued just before a restart is lost,
 * and reported again the next time the token is presented.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "reuse_queue.h"

typedef struct ReuseQueue
{
	slock_t mutex;
	int count;
	QueuedReuse entries[REUSE_QUEUE_SIZE];
} ReuseQueue;

static ReuseQueue *queue = NULL;

void
reuse_queue_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(ReuseQueue)));
}

void
reuse_queue_shmem_startup(void)
{
	bool found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	queue = ShmemInitStruct("api_tokens reuses", sizeof(ReuseQueue), &found);
	if (!found)
	{
		SpinLockInit(&queue->mutex);
		queue->count = 0;
	}
	LWLockRelease(AddinShmemInitLock);
}

bool
reuse_queue_enabled(void)
{
	return queue != NULL;
}

static bool
same_token(const QueuedReuse *a, const QueuedReuse *b)
{
	return a->dboid == b->dboid && a->nspoid == b->nspoid &&
		   memcmp(a->token_id.data, b->token_id.data, UUID_LEN) == 0;
}

bool
reuse_queue_add(const QueuedReuse *reuse)
{
	bool added = false;
	int i;

	SpinLockAcquire(&queue->mutex);
	for (i = 0; i < queue->count; i++)
		if (same_token(&queue->entries[i], reuse))
			break;
	if (i < queue->count)
	{
		queue->entries[i].revoke_family |= reuse->revoke_family;
		added = true;
	}
	else if (queue->count < REUSE_QUEUE_SIZE)
	{
		queue->entries[queue->count++] = *reuse;
		added = true;
	}
	SpinLockRelease(&queue->mutex);
	return added;
}

Oid *
reuse_queue_databases(int *count)
{
	/* Allocated before the spinlock is taken: nothing but copies while held. */
	Oid *dbs = palloc(sizeof(Oid) * REUSE_QUEUE_SIZE);

	SpinLockAcquire(&queue->mutex);
	*count = queue->count;
	for (int i = 0; i < queue->count; i++)
		dbs[i] = queue->entries[i].dboid;
	SpinLockRelease(&queue->mutex);
	return dbs;
}

QueuedReuse *
reuse_queue_take(Oid dboid, int *count)
{
	/* Allocated before the spinlock is taken: nothing but copies while held. */
	QueuedReuse *taken = palloc(sizeof(QueuedReuse) * REUSE_QUEUE_SIZE);
	int kept = 0;

	*count = 0;
	SpinLockAcquire(&queue->mutex);
	for (int i = 0; i < queue->count; i++)
	{
		if (queue->entries[i].dboid == dboid)
			taken[(*count)++] = queue->entries[i];
		else
			queue->entries[kept++] = queue->entries[i];
	}
	queue->count = kept;
	SpinLockRelease(&queue->mutex);
	return taken;
}
