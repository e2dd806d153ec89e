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
#define MIGRATE_STATS_RECORD_MAX (1 + 8 * (6 + MIGRATE_STATE_COUNT) + 2 + MIGRATE_ACCOUNT_ADDRESS_MAX + 8 * 8)
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

/* The ledger's records (the legacy folder and message keys are in the
   LMDB key, see migrate-store-ledger.c). */
#define MIGRATE_LEDGER_ACCOUNT_RECORD_SIZE \
	(1 + 1 + 8 + 8 + 8 + 1 + MIGRATE_BOOT_ID_SIZE + MIGRATE_LEGACY_FINGERPRINT_SIZE)
#define MIGRATE_LEDGER_FOLDER_RECORD_MAX \
	(1 + 2 * (2 + MIGRATE_LEDGER_FOLDER_MAX) + 4 + 4 + 1)
#define MIGRATE_LEDGER_MESSAGE_RECORD_MAX \
	(1 + 1 + 4 + 2 + MIGRATE_LEDGER_FOLDER_MAX + 2 + \
	 MIGRATE_LEDGER_MESSAGE_ID_MAX + MIGRATE_LEDGER_HASH_SIZE)

size_t migrate_ledger_account_encode(const struct migrate_ledger_account *account,
				     unsigned char out[MIGRATE_LEDGER_ACCOUNT_RECORD_SIZE]);
int migrate_ledger_account_decode(const unsigned char *data, size_t size,
				  struct migrate_ledger_account *account_r);
size_t migrate_ledger_folder_encode(const struct migrate_ledger_folder *folder,
				    unsigned char out[MIGRATE_LEDGER_FOLDER_RECORD_MAX]);
int migrate_ledger_folder_decode(const unsigned char *data, size_t size,
				 struct migrate_ledger_folder *folder_r);
/* Everything but the legacy key (uidvalidity, uid, uidl). */
size_t migrate_ledger_message_encode(const struct migrate_ledger_message *message,
				     unsigned char out[MIGRATE_LEDGER_MESSAGE_RECORD_MAX]);
int migrate_ledger_message_decode(const unsigned char *data, size_t size,
				  struct migrate_ledger_message *message_r);

#endif
