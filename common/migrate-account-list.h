#ifndef MIGRATE_ACCOUNT_LIST_H
#define MIGRATE_ACCOUNT_LIST_H

/* Account lists for `doveadm migrate add -F`: hostile input, read line by
   line, each bad line reported with its number while the others go on.

   Two formats:
   - IceWarp's: "user:password" or "user:password:domain" (user may hold
     "@domain"); with two or more ':' the domain is what follows the last
     one, so a password holding ':' needs the three-field form.
   - The hosting guide's CSV account template, 9 columns:
     username,domain,password,quota_gb,type,full name,language,timezone,
     date format (username without "@"; fields may be "quoted"). A file is
     CSV when the caller says so (its name ends in .csv) or when its first
     line is the template's header ("username,domain,..."), which is
     skipped.
   Blank lines and lines starting with '#' are skipped; CRLF is accepted. */

#include "migrate-account.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIGRATE_ACCOUNT_LIST_LINE_MAX 4096
#define MIGRATE_ACCOUNT_LIST_PASSWORD_MAX 511
#define MIGRATE_ACCOUNT_LIST_NAME_MAX 200
/* 1 PiB in GB: more is a typo */
#define MIGRATE_ACCOUNT_LIST_QUOTA_GB_MAX 1048576

struct migrate_account_list_entry {
	unsigned int line;
	/* as written (IceWarp) or "username@domain" (CSV) */
	char user[MIGRATE_ACCOUNT_ADDRESS_MAX + 1];
	/* the line's own domain field; "" when it has none */
	char domain[MIGRATE_ACCOUNT_DOMAIN_MAX + 1];
	char password[MIGRATE_ACCOUNT_LIST_PASSWORD_MAX + 1];
	bool csv;
	/* CSV quota_gb in kB (1024 bytes); 0: none given */
	uint64_t quota_kbytes;
	char full_name[MIGRATE_ACCOUNT_LIST_NAME_MAX + 1];
};

struct migrate_account_list {
	const char *data;
	size_t size, pos;
	unsigned int line;
	bool csv, started;
};

void migrate_account_list_init(struct migrate_account_list *list,
			       const char *data, size_t size, bool csv);
/* The next entry: 1 and entry_r, 0 at the end, -1 for a bad line (error
   starts "line N: " and never holds the password; the next call goes on
   with the following line). */
int migrate_account_list_next(struct migrate_account_list *list,
			      struct migrate_account_list_entry *entry_r,
			      char *error, size_t error_size);

#endif
