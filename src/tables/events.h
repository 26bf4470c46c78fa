/*
 * events.h
 *		Recording what happens to tokens in api_token_events, and telling
 *		listeners (NOTIFY api_tokens) when the transaction commits.
 */
#ifndef API_TOKENS_EVENTS_H
#define API_TOKENS_EVENTS_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/timestamp.h"

#include "tables/catalog.h"
#include "tables/row_access.h"

/* The detail of an event: a JSON object built key by key. */
typedef struct EventDetail
{
	StringInfoData json;
} EventDetail;

extern void event_detail_init(EventDetail *detail);
extern void event_detail_text(EventDetail *detail, const char *key, const char *value);
extern void event_detail_uuid(EventDetail *detail, const char *key, Datum uuid);
extern void event_detail_timestamptz(EventDetail *detail, const char *key, TimestampTz value);
extern void event_detail_int(EventDetail *detail, const char *key, int64 value);

/* Writes events of one schema; nothing at all in a database still at 1.0. */
typedef struct EventWriter
{
	const ExtTables *tables;
	Relation rel;
	RowAccess ra;
} EventWriter;

extern void events_begin(EventWriter *writer, Oid nspoid);

/*
 * Records event (created, rotated, revoked, reused, purged) of a token,
 * with the database user and the application's actor (api_tokens.actor).
 * detail may be NULL; user_id (Datum) 0 for NULL.  Every event but created
 * is also notified, at commit, on channel api_tokens, with the event's id
 * as the payload (nothing else: any role may listen).
 */
extern void events_add(EventWriter *writer, const char *event, Datum token_id, Datum user_id,
					   EventDetail *detail);

extern void events_end(EventWriter *writer);

/* True if event was recorded for token_id after since (and is visible). */
extern bool events_recorded_since(Oid nspoid, Datum token_id, const char *event, TimestampTz since);

#endif /* API_TOKENS_EVENTS_H */
