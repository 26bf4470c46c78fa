/*
 * saved_file.h
 *		The files in which a clean shutdown keeps shared-memory state for the
 *		next start (as pg_stat_statements keeps its counters): a header with
 *		a magic number, a version, the entry size and the count, then the
 *		entries.  Written to a temporary file and renamed; read as untrusted
 *		data, once, then removed.
 */
#ifndef API_TOKENS_SAVED_FILE_H
#define API_TOKENS_SAVED_FILE_H

#include "postgres.h"

typedef struct SavedFile
{
	const char *path;
	const char *what; /* for messages: "recorded uses" */
	uint32 magic;
	uint32 version;
	uint32 entry_size;
	FILE *file;
	bool failed;
} SavedFile;

/* Starts writing count entries to path (through path.tmp). */
extern void saved_file_create(SavedFile *saved, uint32 count);

/* Writes one entry (entry_size bytes); false once writing failed. */
extern bool saved_file_put(SavedFile *saved, const void *entry);

/* Ends writing: renames the file into place, or logs why it could not. */
extern void saved_file_finish(SavedFile *saved);

/*
 * Opens the file for reading; false if there is none, or it is not of
 * this magic, version and entry size (logged, and the file removed).
 */
extern bool saved_file_open(SavedFile *saved, uint32 *count);

/* Reads the next entry; false at the end. */
extern bool saved_file_get(SavedFile *saved, void *entry);

/* Closes and removes the file: it is read once. */
extern void saved_file_close(SavedFile *saved);

#endif /* API_TOKENS_SAVED_FILE_H */
