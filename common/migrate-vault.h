#ifndef MIGRATE_VAULT_H
#define MIGRATE_VAULT_H

/* The vault: legacy credentials encrypted at rest, so that the background
   import can log in to the legacy server after the user's login has gone.

   AES-256-GCM with a 32-byte key read from a file of mode 0600 (the
   vault_key setting; `head -c 32 /dev/urandom` makes a valid one).
   Each ciphertext is bound to its account: the account address is the
   additional authenticated data, so a ciphertext copied to another
   account's record does not decrypt.

   Ciphertext layout (MIGRATE_VAULT_OVERHEAD bytes more than the plaintext):
     1 byte version (1) | 8 bytes key id | 12 bytes nonce | ciphertext | 16 bytes tag
   The key id is the first 8 bytes of SHA-256 over a fixed label and the
   key, so it names a key without revealing it. Rotation: open the vault
   with the new key and the old ones; encryption always uses the current
   key, decryption picks the key by id.

   Only processes that may see secrets call these functions (the Dovecot
   side): this lives in libmigrate-secrets, which the routing daemon does
   not link.
   An open vault is read-only, so one vault may be used by several threads
   at once. */

#include <stddef.h>

#define MIGRATE_VAULT_KEY_SIZE 32
#define MIGRATE_VAULT_KEY_ID_SIZE 8
#define MIGRATE_VAULT_NONCE_SIZE 12
#define MIGRATE_VAULT_TAG_SIZE 16
#define MIGRATE_VAULT_VERSION 1
#define MIGRATE_VAULT_HEADER_SIZE \
	(1 + MIGRATE_VAULT_KEY_ID_SIZE + MIGRATE_VAULT_NONCE_SIZE)
#define MIGRATE_VAULT_OVERHEAD \
	(MIGRATE_VAULT_HEADER_SIZE + MIGRATE_VAULT_TAG_SIZE)
/* Credentials are short; a bound keeps records and buffers small. */
#define MIGRATE_VAULT_MAX_PLAINTEXT 1024
#define MIGRATE_VAULT_MAX_CIPHERTEXT \
	(MIGRATE_VAULT_MAX_PLAINTEXT + MIGRATE_VAULT_OVERHEAD)
/* Old keys accepted for decryption at once. */
#define MIGRATE_VAULT_MAX_OLD_KEYS 16

struct migrate_vault;

/* Writes 32 random bytes to a new file `path` (mode 0600, fsynced).
   Refuses to overwrite an existing file or to follow a symlink: replacing
   a key would make every stored credential unreadable. */
int migrate_vault_keygen(const char *path, char *error, size_t error_size);

/* Opens a vault with the current key and optional old keys
   (NULL-terminated list, or NULL) kept for decrypting only. Each key file
   must be a regular file of exactly 32 bytes that neither group nor others
   can access. */
int migrate_vault_open(const char *key_path, const char *const *old_key_paths,
		       struct migrate_vault **vault_r,
		       char *error, size_t error_size);
/* For unit tests and fuzzing only: a vault with an in-memory key. Real
   keys come from files, whose mode is checked. */
int migrate_vault_open_raw(const unsigned char key[MIGRATE_VAULT_KEY_SIZE],
			   struct migrate_vault **vault_r,
			   char *error, size_t error_size);
/* Wipes the key material and frees the vault; *vault becomes NULL. */
void migrate_vault_close(struct migrate_vault **vault);

/* Encrypts `len` bytes (at most MIGRATE_VAULT_MAX_PLAINTEXT) for the
   account `aad` with a fresh random nonce. `out` needs
   len + MIGRATE_VAULT_OVERHEAD bytes; *out_len_r gets the length used. */
int migrate_vault_encrypt(struct migrate_vault *vault, const char *aad,
			  const void *plaintext, size_t len,
			  unsigned char *out, size_t out_size, size_t *out_len_r,
			  char *error, size_t error_size);
/* Decrypts a ciphertext made by migrate_vault_encrypt for the same account.
   `out` needs len - MIGRATE_VAULT_OVERHEAD bytes. The errors tell a
   malformed or truncated value, an unsupported version, a key this vault
   does not have, and a failed authentication (tampered data or another
   account's ciphertext) apart. On any failure the whole of `out` is
   wiped, so no unauthenticated plaintext is left behind. */
int migrate_vault_decrypt(struct migrate_vault *vault, const char *aad,
			  const void *ciphertext, size_t len,
			  unsigned char *out, size_t out_size, size_t *out_len_r,
			  char *error, size_t error_size);

/* The current key's id, 16 hex digits, for logs. */
const char *migrate_vault_key_id_hex(const struct migrate_vault *vault);

#endif
