#ifndef MIGRATE_SECRET_SEAL_H
#define MIGRATE_SECRET_SEAL_H

/* An account's secret from a password the legacy server accepts: the
   salted hash for local logins and the encrypted credential (legacy login
   name and password) for the importer. One place, so the passdb's capture
   and `doveadm migrate add` store the same thing. Slow (the hash): run it
   off any event loop. */

#include <stddef.h>

struct migrate_secret;
struct migrate_vault;

/* 0 and secret_r filled, or -1 (secret_r wiped) with a reason that never
   holds the password. */
int migrate_secret_seal(struct migrate_vault *vault, const char *address,
			const char *legacy_user, const char *password,
			struct migrate_secret *secret_r,
			char *error, size_t error_size);

#endif
