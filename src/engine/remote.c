/*
 * remote.c
 *		libpq calls of a background worker that a signal interrupts and a
 *		deadline ends (see remote.h for why).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/wait_event.h"

#include "engine/remote.h"

/*
 * Waits until the connection's socket is ready for events (WL_SOCKET_*),
 * handling interrupts (SIGTERM ends the worker here); false at the deadline.
 */
static bool
wait_for_socket(PGconn *conn, int events, TimestampTz deadline)
{
	for (;;)
	{
		long timeout = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		int rc;

		if (timeout <= 0)
			return false;
		rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | events,
							   PQsocket(conn), timeout, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
			ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (rc & events)
			return true;
	}
}

/* A copy of a message of libpq's, without its final newline. */
static char *
without_newline(const char *message)
{
	char *copy = pstrdup(message);
	size_t len = strlen(copy);

	while (len > 0 && copy[len - 1] == '\n')
		copy[--len] = '\0';
	return copy;
}

static char *
libpq_error(PGconn *conn)
{
	return without_newline(PQerrorMessage(conn));
}

PGconn *
remote_connect(const char *const *keywords, const char *const *values, TimestampTz deadline,
			   char **error)
{
	PGconn *conn;
	/* As if PQconnectPoll had returned it: libpq's rule for the first wait. */
	PostgresPollingStatusType status = PGRES_POLLING_WRITING;

	/* The socket counts against the server's file descriptors, as dblink's do. */
	if (!AcquireExternalFD())
	{
		*error = pstrdup("could not connect: out of file descriptors");
		return NULL;
	}
	conn = PQconnectStartParams(keywords, values, true);
	if (conn == NULL)
	{
		ReleaseExternalFD();
		*error = pstrdup("out of memory");
		return NULL;
	}
	while (PQstatus(conn) != CONNECTION_BAD && status != PGRES_POLLING_OK &&
		   status != PGRES_POLLING_FAILED)
	{
		int events = status == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;

		if (!wait_for_socket(conn, events, deadline))
		{
			*error = pstrdup("timed out connecting");
			remote_close(conn);
			return NULL;
		}
		status = PQconnectPoll(conn);
	}
	if (PQstatus(conn) != CONNECTION_OK || PQsetnonblocking(conn, 1) != 0)
	{
		*error = libpq_error(conn);
		remote_close(conn);
		return NULL;
	}
	return conn;
}

void
remote_close(PGconn *conn)
{
	PQfinish(conn);
	ReleaseExternalFD();
}

/* Ends remote_exec without a result. */
static PGresult *
give_up(PGresult *last, char **error, char *message)
{
	PQclear(last);
	*error = message;
	return NULL;
}

PGresult *
remote_exec(PGconn *conn, const char *sql, int nparams, const char *const *values,
			TimestampTz deadline, char **error)
{
	PGresult *last = NULL;
	PGresult *result;
	int flushed;

	if (!PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL, 0))
		return give_up(NULL, error, libpq_error(conn));
	/* Send it all; read meanwhile, so that a server that talks back is not blocked. */
	while ((flushed = PQflush(conn)) != 0)
	{
		if (flushed < 0)
			return give_up(NULL, error, libpq_error(conn));
		if (!wait_for_socket(conn, WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE, deadline))
			return give_up(NULL, error, pstrdup("timed out waiting for an answer"));
		if (!PQconsumeInput(conn))
			return give_up(NULL, error, libpq_error(conn));
	}
	/* Every result until the end, keeping the last (the one that tells). */
	for (;;)
	{
		while (PQisBusy(conn))
		{
			if (!wait_for_socket(conn, WL_SOCKET_READABLE, deadline))
				return give_up(last, error, pstrdup("timed out waiting for an answer"));
			if (!PQconsumeInput(conn))
				return give_up(last, error, libpq_error(conn));
		}
		result = PQgetResult(conn);
		if (result == NULL)
			break;
		PQclear(last);
		last = result;
	}
	if (last == NULL)
		return give_up(NULL, error, libpq_error(conn));
	if (PQresultStatus(last) != PGRES_TUPLES_OK && PQresultStatus(last) != PGRES_COMMAND_OK)
		return give_up(last, error, without_newline(PQresultErrorMessage(last)));
	return last;
}
