/*
 * events.c
 *		api_token_events: an append-only record of what happened to tokens.
 *
 * Nothing secret goes into an event: ids, the kind of event, and details
 * such as how a token was revoked or which token succeeded it.  The
 * notification of an event carries its id only.  Any role may LISTEN, and
 * NOTIFY, on any channel: the id tells a listener nothing that the events
 * table would not, if it may read that table, and a forged notification is
 * told apart by looking the id up there (only the extension writes it).
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "settings.h"
#include "tables/events.h"

/* Channel of the notifications. */
#define EVENTS_CHANNEL "api_tokens"

/* Appends "key": to an object being built (without its closing brace). */
static void
add_key(StringInfo json, const char *key)
{
	if (json->len > 1)
		appendStringInfoString(json, ", ");
	escape_json(json, key);
	appendStringInfoString(json, ": ");
}

void
event_detail_init(EventDetail *detail)
{
	initStringInfo(&detail->json);
	appendStringInfoChar(&detail->json, '{');
}

void
event_detail_text(EventDetail *detail, const char *key, const char *value)
{
	add_key(&detail->json, key);
	escape_json(&detail->json, value);
}

void
event_detail_uuid(EventDetail *detail, const char *key, Datum uuid)
{
	event_detail_text(detail, key, DatumGetCString(DirectFunctionCall1(uuid_out, uuid)));
}

void
event_detail_timestamptz(EventDetail *detail, const char *key, TimestampTz value)
{
	char buf[MAXDATELEN + 1];

	add_key(&detail->json, key);
	/* ISO 8601 whatever the session's DateStyle, as JSON output of timestamptz. */
	escape_json(&detail->json,
				JsonEncodeDateTime(buf, TimestampTzGetDatum(value), TIMESTAMPTZOID, NULL));
}

void
event_detail_int(EventDetail *detail, const char *key, int64 value)
{
	add_key(&detail->json, key);
	appendStringInfo(&detail->json, INT64_FORMAT, value);
}

void
events_begin(EventWriter *writer, Oid nspoid)
{
	writer->tables = ext_tables_of(nspoid);
	writer->rel = NULL;
	if (!writer->tables->present)
		return;
	writer->rel = table_open(writer->tables->events.relid, RowExclusiveLock);
	row_access_begin(&writer->ra, writer->rel, writer->tables->events.owner, true);
}

void
events_add(EventWriter *writer, const char *event, Datum token_id, Datum user_id,
		   EventDetail *detail)
{
	EventDetail none;
	const EventsTable *t;
	TupleTableSlot *slot;
	char *db_user;
	Datum id;

	if (writer->rel == NULL)
		return;
	if (detail == NULL)
	{
		event_detail_init(&none);
		detail = &none;
	}
	appendStringInfoChar(&detail->json, '}');
	t = &writer->tables->events;
	/* The id comes from the column's identity sequence, as for an INSERT. */
	slot = row_access_new_row(&writer->ra);
	id = slot->tts_values[t->att_id - 1];
	if (slot->tts_isnull[t->att_id - 1])
		elog(ERROR, "api_token_events.id has no default");
	db_user = GetUserNameFromId(GetSessionUserId(), false);
	row_access_set(slot, t->att_at, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
				   false);
	row_access_set(slot, t->att_token_id, token_id, false);
	row_access_set(slot, t->att_user_id, user_id, user_id == (Datum) 0);
	row_access_set(slot, t->att_event, CStringGetTextDatum(event), false);
	row_access_set(slot, t->att_detail,
				   DirectFunctionCall1(jsonb_in, CStringGetDatum(detail->json.data)), false);
	row_access_set(slot, t->att_db_user, DirectFunctionCall1(namein, CStringGetDatum(db_user)),
				   false);
	row_access_set(slot, t->att_actor,
				   api_tokens_actor && api_tokens_actor[0] ? CStringGetTextDatum(api_tokens_actor)
														   : (Datum) 0,
				   !(api_tokens_actor && api_tokens_actor[0]));
	row_access_insert(&writer->ra, slot);

	/* Sent at commit, in the order of the events. */
	if (strcmp(event, "created") != 0)
		Async_Notify(EVENTS_CHANNEL, psprintf(INT64_FORMAT, DatumGetInt64(id)));
}

void
events_end(EventWriter *writer)
{
	if (writer->rel == NULL)
		return;
	row_access_end(&writer->ra);
	table_close(writer->rel, NoLock);
	writer->rel = NULL;
}

typedef struct EventSearch
{
	const EventsTable *table;
	const char *event;
	bool found;
} EventSearch;

static bool
stop_at_event(RowAccess *ra, void *arg)
{
	EventSearch *search = arg;
	bool isnull;
	Datum event = row_access_get(ra, search->table->att_event, &isnull);

	if (!isnull && strcmp(TextDatumGetCString(event), search->event) == 0)
		search->found = true;
	return !search->found;
}

bool
events_recorded_since(Oid nspoid, Datum token_id, const char *event, TimestampTz since)
{
	const ExtTables *tables = ext_tables_of(nspoid);
	EventSearch search = {&tables->events, event, false};
	ScanKeyData keys[2];
	Relation rel;
	RowAccess ra;

	if (!tables->present)
		return false;
	/* Only the token's events after since: the index is on (token_id, at). */
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_UUID_EQ, token_id);
	ScanKeyInit(&keys[1], 2, BTGreaterStrategyNumber, F_TIMESTAMPTZ_GT, TimestampTzGetDatum(since));
	rel = table_open(tables->events.relid, AccessShareLock);
	row_access_begin(&ra, rel, tables->events.owner, false);
	row_access_scan_keys(&ra, tables->events.by_token, keys, 2, stop_at_event, &search);
	row_access_end(&ra);
	table_close(rel, NoLock);
	return search.found;
}
