#ifndef MIGRATE_SPECIAL_FOLDER_H
#define MIGRATE_SPECIAL_FOLDER_H

/* Legacy special folders: which legacy folder is the user's Sent, Drafts,
   Trash, Junk or Archive, by its SPECIAL-USE flag where the legacy server
   has one, else by the well-known names of the usual clients and servers
   in English, Portuguese, Spanish, German and French, and Gmail's
   "[Gmail]/..." (Gmail's "All Mail" is not an archive: it holds every
   message, so it is never merged). */

#include <stdbool.h>

enum migrate_special_use {
	MIGRATE_SPECIAL_NONE = 0,
	MIGRATE_SPECIAL_SENT,
	MIGRATE_SPECIAL_DRAFTS,
	MIGRATE_SPECIAL_TRASH,
	MIGRATE_SPECIAL_JUNK,
	MIGRATE_SPECIAL_ARCHIVE,

	MIGRATE_SPECIAL_COUNT
};

/* name: the folder's full name with separator as its hierarchy
   separator; special_use: its LIST flags ("\\Sent \\HasNoChildren"...),
   NULL when none. An INBOX. or INBOX/ prefix is ignored. */
enum migrate_special_use
migrate_special_folder_classify(const char *name, char separator,
				const char *special_use);
/* Is flag one of the space-separated words of flags (case-insensitive)?
   For LIST flags and Dovecot's special_use settings alike. */
bool migrate_special_use_has_flag(const char *flags, const char *flag);
/* "\\Sent", ...; NULL for NONE */
const char *migrate_special_use_flag(enum migrate_special_use use);
/* The local folder name when the server configures none: "Sent", ... */
const char *migrate_special_use_default_name(enum migrate_special_use use);

#endif
