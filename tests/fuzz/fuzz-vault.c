/* libFuzzer target: arbitrary bytes as a stored credential, decrypted with
   a fixed in-memory key. Whatever comes in, decryption either succeeds or
   fails with a terminated message and a wiped output buffer; what succeeds
   survives a re-encryption round trip. The corpus's valid seed was made
   with this key and account. */

#include "migrate-vault.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ACCOUNT "fuzz@example.com"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char fuzz_key[MIGRATE_VAULT_KEY_SIZE] = {
	'd', 'o', 'v', 'e', 'c', 'o', 't', '-', 'm', 'i', 'g', 'r', 'a', 't', 'e', ' ',
	'f', 'u', 'z', 'z', ' ', 'v', 'a', 'u', 'l', 't', ' ', 'k', 'e', 'y', '!', '!',
};

static struct migrate_vault *fuzz_vault(void)
{
	static struct migrate_vault *vault = NULL;
	char error[256];

	if (vault == NULL &&
	    migrate_vault_open_raw(fuzz_key, &vault, error, sizeof(error)) < 0)
		abort();
	return vault;
}

static void check_round_trip(struct migrate_vault *vault,
			     const unsigned char *plaintext, size_t len)
{
	unsigned char ct[MIGRATE_VAULT_MAX_CIPHERTEXT];
	unsigned char pt[MIGRATE_VAULT_MAX_PLAINTEXT];
	size_t ct_len, pt_len;
	char error[256];

	if (migrate_vault_encrypt(vault, FUZZ_ACCOUNT, plaintext, len, ct,
				  sizeof(ct), &ct_len, error, sizeof(error)) < 0 ||
	    migrate_vault_decrypt(vault, FUZZ_ACCOUNT, ct, ct_len, pt, sizeof(pt),
				  &pt_len, error, sizeof(error)) < 0 ||
	    pt_len != len || memcmp(pt, plaintext, len) != 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct migrate_vault *vault = fuzz_vault();
	unsigned char out[MIGRATE_VAULT_MAX_PLAINTEXT];
	size_t out_len = 1, i;
	char error[256];

	memset(out, 0xaa, sizeof(out));
	if (migrate_vault_decrypt(vault, FUZZ_ACCOUNT, data, size, out, sizeof(out),
				  &out_len, error, sizeof(error)) == 0) {
		if (out_len != size - MIGRATE_VAULT_OVERHEAD)
			__builtin_trap();
		check_round_trip(vault, out, out_len);
		return 0;
	}
	if (out_len != 0 || memchr(error, '\0', sizeof(error)) == NULL)
		__builtin_trap();
	for (i = 0; i < sizeof(out); i++) {
		if (out[i] != 0)
			__builtin_trap();
	}
	return 0;
}
