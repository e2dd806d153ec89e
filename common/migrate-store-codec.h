#ifndef MIGRATE_STORE_CODEC_H
#define MIGRATE_STORE_CODEC_H

/* Byte encodings of the store's records other than accounts (those are in
   migrate-account.h). Internal to the store; every decoder treats its
   input as hostile (a corrupted file is an error, never a crash). */

#include "migrate-store.h"

#include <stdint.h>

struct migrate_queue_entry {
	uint8_t priority;	/* higher first */
	int64_t not_before, enqueued;
	uint32_t lease_owner;	/* pid; 0: not leased */
	int64_t lease_expiry;
};

#define MIGRATE_QUEUE_ENTRY_SIZE (1 + 1 + 8 + 8 + 4 + 8)
/* order key: inverted priority, not_before, address */
#define MIGRATE_QUEUE_ORDER_KEY_MAX (1 + 8 + MIGRATE_ACCOUNT_ADDRESS_MAX)
#define MIGRATE_STATS_RECORD_MAX (1 + 8 * (6 + MIGRATE_STATE_COUNT) + 2 + MIGRATE_ACCOUNT_ADDRESS_MAX)
#define MIGRATE_SECRET_RECORD_MAX (1 + 8 + 2 + MIGRATE_SECRET_HASH_MAX + 2 + MIGRATE_SECRET_CREDENTIAL_MAX)
#define MIGRATE_ALIAS_RECORD_MAX (1 + 2 + MIGRATE_ACCOUNT_ADDRESS_MAX + 2 + MIGRATE_ALIAS_SOURCE_MAX)

void migrate_queue_entry_encode(const struct migrate_queue_entry *entry,
				unsigned char out[MIGRATE_QUEUE_ENTRY_SIZE]);
int migrate_queue_entry_decode(const unsigned char *data, size_t size,
			       struct migrate_queue_entry *entry_r);
/* Keys sort by priority (highest first), then time, then address. */
size_t migrate_queue_order_key(const struct migrate_queue_entry *entry,
			       const char *address,
			       unsigned char out[MIGRATE_QUEUE_ORDER_KEY_MAX]);
/* The address inside an order key, copied NUL-terminated into buf;
   NULL when the key is malformed. */
const char *migrate_queue_order_key_address(const unsigned char *key, size_t size,
					    char buf[MIGRATE_ACCOUNT_ADDRESS_MAX + 1]);

size_t migrate_stats_encode(const struct migrate_stats *stats,
			    unsigned char out[MIGRATE_STATS_RECORD_MAX]);
int migrate_stats_decode(const unsigned char *data, size_t size,
			 struct migrate_stats *stats_r);

size_t migrate_secret_encode(const struct migrate_secret *secret, int64_t created,
			     unsigned char out[MIGRATE_SECRET_RECORD_MAX]);
int migrate_secret_decode(const unsigned char *data, size_t size,
			  struct migrate_secret *secret_r, int64_t *created_r);

/* The alias name is the key; the record holds account and source. */
size_t migrate_alias_encode(const struct migrate_alias *alias,
			    unsigned char out[MIGRATE_ALIAS_RECORD_MAX]);
int migrate_alias_decode(const unsigned char *data, size_t size,
			 struct migrate_alias *alias_r);

#endif
