#ifndef MIGRATE_PASSWORD_H
#define MIGRATE_PASSWORD_H

/* Local password hashes: after a successful legacy login the password is
   kept as a salted, slow crypt(3) hash in the form Dovecot's own password
   schemes verify, so that a migrated account can later be served from an
   ordinary passdb too. Both functions are thread-safe (libxcrypt's
   crypt_rn, no static buffers). A password never appears in an error. */

#include <stddef.h>

/* Room for any stored value, "{SCHEME}" prefix and NUL included. The
   longest crypt string this module writes ({SHA512-CRYPT}$6$...) is 121
   bytes; other libxcrypt methods' strings stay well below this too. */
#define MIGRATE_PASSWORD_HASH_MAX 256
/* libxcrypt refuses longer passphrases (ERANGE at 512 bytes). */
#define MIGRATE_PASSWORD_MAX_LEN 511

/* Hashes `password` with yescrypt ("{CRYPT}$y$...", Dovecot's CRYPT scheme
   calls the system crypt(), which is libxcrypt on Debian) when libxcrypt
   offers it, else with SHA512-CRYPT ("{SHA512-CRYPT}$6$...", 5000 rounds).
   Empty passwords are refused: a login with an empty password is never
   captured, so no stored hash can ever match one. `out` should have
   MIGRATE_PASSWORD_HASH_MAX bytes. */
int migrate_password_hash(const char *password, char *out, size_t out_size,
			  char *error, size_t error_size);

/* Checks `password` against a stored "{SCHEME}crypt-string". Schemes
   (case-insensitive, as Dovecot): CRYPT (any method libxcrypt supports),
   SHA512-CRYPT ($6$), SHA256-CRYPT ($5$), BLF-CRYPT ($2a$/$2b$/$2y$),
   MD5-CRYPT ($1$). Returns 1 on a match, 0 on a mismatch (always for an
   empty or over-long password), -1 when the stored value is not one this
   module can check: no or unknown scheme, a crypt string of another method
   than its scheme names, one libxcrypt rejects, or one whose length is not
   what its own setting produces (truncated or trailing garbage). The
   comparison takes the same time wherever the strings differ. */
int migrate_password_verify(const char *password, const char *stored);

#endif
