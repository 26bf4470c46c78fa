/*
 * saved_file.c
 *		Writing and reading the files that keep shared-memory state across
 *		a clean restart (see saved_file.h).
 */
#include "postgres.h"

#include <unistd.h>

#include "storage/fd.h"

#include "engine/saved_file.h"

typedef struct SavedHeader
{
	uint32 magic;
	uint32 version;
	uint32 entry_size;
	uint32 count;
} SavedHeader;

static void
fail(SavedFile *saved)
{
	if (!saved->failed)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not save api_tokens' %s to \"%s\": %m", saved->what, saved->path)));
	saved->failed = true;
}

void
saved_file_create(SavedFile *saved, uint32 count)
{
	SavedHeader header = {saved->magic, saved->version, saved->entry_size, count};

	char tmp[MAXPGPATH];

	snprintf(tmp, sizeof(tmp), "%s.tmp", saved->path);
	saved->failed = false;
	saved->file = AllocateFile(tmp, PG_BINARY_W);
	if (saved->file == NULL)
		fail(saved);
	else if (fwrite(&header, sizeof(header), 1, saved->file) != 1)
		fail(saved);
}

bool
saved_file_put(SavedFile *saved, const void *entry)
{
	if (!saved->failed && fwrite(entry, saved->entry_size, 1, saved->file) != 1)
		fail(saved);
	return !saved->failed;
}

void
saved_file_finish(SavedFile *saved)
{
	char tmp[MAXPGPATH];

	snprintf(tmp, sizeof(tmp), "%s.tmp", saved->path);
	if (saved->file != NULL && FreeFile(saved->file) != 0)
		fail(saved);
	saved->file = NULL;
	if (saved->failed)
		unlink(tmp);
	else
		(void) durable_rename(tmp, saved->path, LOG);
}

bool
saved_file_open(SavedFile *saved, uint32 *count)
{
	SavedHeader header;

	saved->file = AllocateFile(saved->path, PG_BINARY_R);
	if (saved->file == NULL)
		return false;
	if (fread(&header, sizeof(header), 1, saved->file) != 1 || header.magic != saved->magic ||
		header.version != saved->version || header.entry_size != saved->entry_size)
	{
		ereport(LOG,
				(errmsg("ignoring \"%s\": not a file of this version of api_tokens", saved->path)));
		saved_file_close(saved);
		return false;
	}
	*count = header.count;
	return true;
}

bool
saved_file_get(SavedFile *saved, void *entry)
{
	return fread(entry, saved->entry_size, 1, saved->file) == 1;
}

void
saved_file_close(SavedFile *saved)
{
	FreeFile(saved->file);
	saved->file = NULL;
	unlink(saved->path);
}
