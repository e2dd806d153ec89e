/* libFuzzer target: the state store's record decoders on arbitrary bytes
   (a corrupted or hostile store file). A record that decodes must encode
   back to something that decodes to the same values. */

#include "migrate-account.h"
#include "migrate-store-codec.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_account(const uint8_t *data, size_t size)
{
	struct migrate_account a, b;
	unsigned char buf[MIGRATE_ACCOUNT_RECORD_MAX];
	char error[256];
	size_t len;

	if (migrate_account_decode(data, size, &a, error, sizeof(error)) < 0)
		return;
	len = migrate_account_encode(&a, buf);
	if (len > sizeof(buf) ||
	    migrate_account_decode(buf, len, &b, error, sizeof(error)) < 0 ||
	    memcmp(&a, &b, sizeof(a)) != 0)
		__builtin_trap();
}

static void fuzz_others(const uint8_t *data, size_t size)
{
	char address[MIGRATE_ACCOUNT_ADDRESS_MAX + 1];
	struct migrate_queue_entry entry;
	struct migrate_stats stats;
	struct migrate_secret secret;
	struct migrate_alias alias;
	int64_t created;

	(void)migrate_queue_entry_decode(data, size, &entry);
	(void)migrate_stats_decode(data, size, &stats);
	(void)migrate_secret_decode(data, size, &secret, &created);
	(void)migrate_alias_decode(data, size, &alias);
	if (migrate_queue_order_key_address(data, size, address) != NULL &&
	    strlen(address) > MIGRATE_ACCOUNT_ADDRESS_MAX)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_account(data, size);
	fuzz_others(data, size);
	return 0;
}
