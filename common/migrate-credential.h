#ifndef MIGRATE_CREDENTIAL_H
#define MIGRATE_CREDENTIAL_H

/* What the vault keeps for an account: the login name that worked on the
   legacy server (legacy_user expanded as the user typed it, which the
   importer cannot recompute) and the password, as "user NUL password".
   Encrypted with migrate-vault.h before it is stored. */

#include <stddef.h>

#define MIGRATE_CREDENTIAL_PART_MAX 511
#define MIGRATE_CREDENTIAL_MAX (2 * MIGRATE_CREDENTIAL_PART_MAX + 1)

/* Writes the plaintext to out; returns its length, or -1 (error set) when
   a part is empty, too long or holds a NUL. */
int migrate_credential_encode(const char *user, const char *password,
			      unsigned char *out, size_t out_size,
			      char *error, size_t error_size);
/* Splits a decrypted plaintext into NUL-terminated copies in user_r and
   password_r (MIGRATE_CREDENTIAL_PART_MAX + 1 bytes each). -1 when it is
   not one this module wrote. */
int migrate_credential_decode(const unsigned char *data, size_t len,
			      char *user_r, char *password_r,
			      char *error, size_t error_size);

#endif
