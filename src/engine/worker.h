/*
 * worker.h
 *		The background workers that write recorded uses to last_used_at.
 */
#ifndef API_TOKENS_WORKER_H
#define API_TOKENS_WORKER_H

#include "postgres.h"

#include "engine/use_table.h"

/* Registers the launcher; called from _PG_init while preloading. */
extern void worker_register_launcher(void);

#endif /* API_TOKENS_WORKER_H */
