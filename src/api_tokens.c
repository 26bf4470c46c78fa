/*
 * api_tokens.c
 *		Module entry point: settings, shared memory and the background
 *		worker when preloaded, and the backend-local callbacks.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"

#include "api/request_context.h"
#include "engine/last_used.h"
#include "engine/limit_table.h"
#include "engine/reuse.h"
#include "engine/use_table.h"
#include "engine/worker.h"
#include "settings.h"
#include "tables/catalog.h"

PG_MODULE_MAGIC;

void _PG_init(void);

static shmem_request_hook_type previous_shmem_request_hook = NULL;
static shmem_startup_hook_type previous_shmem_startup_hook = NULL;

static void
request_shmem(void)
{
	if (previous_shmem_request_hook)
		previous_shmem_request_hook();
	use_table_shmem_request();
	limit_table_shmem_request();
}

static void
start_shmem(void)
{
	if (previous_shmem_startup_hook)
		previous_shmem_startup_hook();
	use_table_shmem_startup();
	limit_table_shmem_startup();
}

void
_PG_init(void)
{
	settings_define(process_shared_preload_libraries_in_progress);

	/* Recorded uses and the worker that writes them need shared memory. */
	if (process_shared_preload_libraries_in_progress)
	{
		previous_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = request_shmem;
		previous_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = start_shmem;
		worker_register_launcher();
	}

	catalog_init();
	last_used_init();
	reuse_init();
	request_context_init();
}
