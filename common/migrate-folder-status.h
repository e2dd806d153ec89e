#ifndef MIGRATE_FOLDER_STATUS_H
#define MIGRATE_FOLDER_STATUS_H

/* Per-folder status listings, as `doveadm -f tab` prints them (a header
   line naming the columns, then one line per folder), and the cut-over's
   question about two of them: does the local copy hold everything the
   legacy mailbox holds now?

   Both listings are read by column name ("mailbox" or "folder" for the
   name, "messages", "uidvalidity", "uidnext"), so a Dovecot that orders
   its columns otherwise still parses; a listing without a name or a
   messages column, or with a field that is not a number, is an error.
   Folder names are compared as printed (tab-escaped alike on both
   sides). Input is bounded: at most MIGRATE_FOLDER_STATUS_MAX folders. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIGRATE_FOLDER_STATUS_MAX 100000

struct migrate_folder_status {
	char *name;
	uint64_t messages;
	uint32_t uidvalidity, uidnext;	/* 0: not in the listing */
};

struct migrate_folder_listing {
	struct migrate_folder_status *folders;
	size_t count;
};

/* Parses text; 0, or -1 with the reason. Free with _free() either way. */
int migrate_folder_listing_parse(const char *text,
				 struct migrate_folder_listing *listing_r,
				 char *error, size_t error_size);
void migrate_folder_listing_free(struct migrate_folder_listing *listing);

/* true when copy covers legacy: every legacy folder that holds messages
   is in the copy with as many messages, and (imap) the same UIDVALIDITY
   and a UIDNEXT at least the legacy one, so no legacy UID a client may
   have seen is above what the copy has placed or reserved. POP3 has no
   UIDs: the message counts decide. Otherwise false, with the first
   difference in why. */
bool migrate_folder_listing_covers(const struct migrate_folder_listing *copy,
				   const struct migrate_folder_listing *legacy,
				   bool pop3, char *why, size_t why_size);

#endif
