/* Folder status listings and the cut-over's coverage check (see
   migrate-folder-status.h). Plain C, no Dovecot: unit-tested on the
   listings doveadm prints, which is what a Dovecot upgrade changes. */

#include "migrate-folder-status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum column { COL_NONE, COL_NAME, COL_MESSAGES, COL_UIDVALIDITY, COL_UIDNEXT };
#define MAX_COLUMNS 16

static int fail(char *error, size_t error_size, const char *what,
		size_t line)
{
	snprintf(error, error_size, "folder listing line %zu: %s", line, what);
	return -1;
}

static enum column column_of(const char *name, size_t len)
{
	static const struct { const char *name; enum column col; } names[] = {
		{ "mailbox", COL_NAME }, { "folder", COL_NAME },
		{ "messages", COL_MESSAGES }, { "uidvalidity", COL_UIDVALIDITY },
		{ "uidnext", COL_UIDNEXT },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == len &&
		    memcmp(names[i].name, name, len) == 0)
			return names[i].col;
	}
	return COL_NONE;
}

/* Splits line (len bytes) at tabs in place: the fields and their count,
   -1 when there are more than MAX_COLUMNS. */
static int split_fields(char *line, char *fields[MAX_COLUMNS])
{
	int n = 0;
	char *p = line, *tab;

	for (;;) {
		if (n == MAX_COLUMNS)
			return -1;
		fields[n++] = p;
		if ((tab = strchr(p, '\t')) == NULL)
			return n;
		*tab = '\0';
		p = tab + 1;
	}
}

static int parse_number(const char *s, uint64_t max, uint64_t *num_r)
{
	char *end;
	unsigned long long num;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	num = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || num > max)
		return -1;
	*num_r = num;
	return 0;
}

static int parse_row(char *const *fields, int n, const enum column *cols,
		     struct migrate_folder_status *f)
{
	uint64_t num;
	int i;

	for (i = 0; i < n; i++) {
		switch (cols[i]) {
		case COL_NONE:
			break;
		case COL_NAME:
			if ((f->name = strdup(fields[i])) == NULL)
				return -1;
			break;
		case COL_MESSAGES:
			if (parse_number(fields[i], UINT64_MAX, &f->messages) < 0)
				return -1;
			break;
		case COL_UIDVALIDITY:
		case COL_UIDNEXT:
			if (parse_number(fields[i], UINT32_MAX, &num) < 0)
				return -1;
			if (cols[i] == COL_UIDVALIDITY)
				f->uidvalidity = (uint32_t)num;
			else
				f->uidnext = (uint32_t)num;
			break;
		}
	}
	return 0;
}

static int parse_header(char *line, enum column cols[MAX_COLUMNS], int *n_r)
{
	char *fields[MAX_COLUMNS];
	bool name = false, messages = false;
	int i, n = split_fields(line, fields);

	if (n < 0)
		return -1;
	for (i = 0; i < n; i++) {
		cols[i] = column_of(fields[i], strlen(fields[i]));
		name = name || cols[i] == COL_NAME;
		messages = messages || cols[i] == COL_MESSAGES;
	}
	*n_r = n;
	return name && messages ? 0 : -1;
}

int migrate_folder_listing_parse(const char *text,
				 struct migrate_folder_listing *listing_r,
				 char *error, size_t error_size)
{
	enum column cols[MAX_COLUMNS];
	char *copy, *line, *next, *fields[MAX_COLUMNS];
	size_t lineno = 0;
	int ncols = 0, n, ret = 0;

	memset(listing_r, 0, sizeof(*listing_r));
	if ((copy = strdup(text)) == NULL)
		return fail(error, error_size, "out of memory", 0);
	for (line = copy; line != NULL && ret == 0; line = next) {
		struct migrate_folder_status *f;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		lineno++;
		if (*line == '\0')
			continue;
		if (ncols == 0) {
			if (parse_header(line, cols, &ncols) < 0)
				ret = fail(error, error_size, "no folder and messages columns", lineno);
			continue;
		}
		if ((n = split_fields(line, fields)) != ncols) {
			ret = fail(error, error_size, "wrong number of fields", lineno);
			break;
		}
		if (listing_r->count == MIGRATE_FOLDER_STATUS_MAX) {
			ret = fail(error, error_size, "too many folders", lineno);
			break;
		}
		f = realloc(listing_r->folders, (listing_r->count + 1) * sizeof(*f));
		if (f == NULL) {
			ret = fail(error, error_size, "out of memory", lineno);
			break;
		}
		listing_r->folders = f;
		f = &listing_r->folders[listing_r->count++];
		memset(f, 0, sizeof(*f));
		if (parse_row(fields, n, cols, f) < 0)
			ret = fail(error, error_size, "a field is not a number", lineno);
	}
	if (ret == 0 && ncols == 0)
		ret = fail(error, error_size, "empty listing", lineno);
	free(copy);
	return ret;
}

void migrate_folder_listing_free(struct migrate_folder_listing *listing)
{
	size_t i;

	for (i = 0; i < listing->count; i++)
		free(listing->folders[i].name);
	free(listing->folders);
	memset(listing, 0, sizeof(*listing));
}

static const struct migrate_folder_status *
find_folder(const struct migrate_folder_listing *listing, const char *name)
{
	size_t i;

	for (i = 0; i < listing->count; i++) {
		if (listing->folders[i].name != NULL &&
		    strcmp(listing->folders[i].name, name) == 0)
			return &listing->folders[i];
	}
	return NULL;
}

bool migrate_folder_listing_covers(const struct migrate_folder_listing *copy,
				   const struct migrate_folder_listing *legacy,
				   bool pop3, char *why, size_t why_size)
{
	const struct migrate_folder_status *l, *c;
	size_t i;

	for (i = 0; i < legacy->count; i++) {
		l = &legacy->folders[i];
		if (l->name == NULL)
			continue;
		if ((c = find_folder(copy, l->name)) == NULL) {
			if (l->messages == 0)
				continue;
			snprintf(why, why_size, "%s: not in the copy", l->name);
			return false;
		}
		if (!pop3 && l->uidvalidity != c->uidvalidity) {
			snprintf(why, why_size, "%s: UIDVALIDITY %u, the copy's %u",
				 l->name, l->uidvalidity, c->uidvalidity);
			return false;
		}
		if (!pop3 && l->uidnext > c->uidnext) {
			snprintf(why, why_size, "%s: UIDNEXT %u, the copy's %u",
				 l->name, l->uidnext, c->uidnext);
			return false;
		}
		if (l->messages != c->messages) {
			snprintf(why, why_size, "%s: %llu messages, the copy %llu",
				 l->name, (unsigned long long)l->messages,
				 (unsigned long long)c->messages);
			return false;
		}
	}
	return true;
}
