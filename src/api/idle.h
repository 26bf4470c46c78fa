/*
 * idle.h
 *		When a token goes idle under api_tokens.max_idle.
 */
#ifndef API_TOKENS_IDLE_H
#define API_TOKENS_IDLE_H

#include "postgres.h"

#include "tables/catalog.h"
#include "tables/row_access.h"

/*
 * When the found api_tokens row goes (or went) idle: its last use, or its
 * creation, plus api_tokens.max_idle (-infinity with neither).  False when
 * no inactivity limit is set.
 */
extern bool idle_at(const TokenTable *t, RowAccess *ra, TimestampTz *at);

#endif /* API_TOKENS_IDLE_H */
