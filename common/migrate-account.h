#ifndef MIGRATE_ACCOUNT_H
#define MIGRATE_ACCOUNT_H

/* An account's routing record: what every part may know about it (no
   secrets: those live in the secrets environment, see migrate-store.h),
   its state machine, and the byte encoding stored in LMDB. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIGRATE_ACCOUNT_ADDRESS_MAX 320
#define MIGRATE_ACCOUNT_DOMAIN_MAX 253
#define MIGRATE_ACCOUNT_ERROR_MAX 255
/* Largest encoded record; the decoder refuses anything longer. */
#define MIGRATE_ACCOUNT_RECORD_MAX 1024

enum migrate_account_state {
	MIGRATE_STATE_UNKNOWN = 0,
	MIGRATE_STATE_QUEUED,
	MIGRATE_STATE_IMPORTING,
	MIGRATE_STATE_SYNCED,
	MIGRATE_STATE_CUTOVER,
	MIGRATE_STATE_MIGRATED,
	MIGRATE_STATE_FAILED,
	MIGRATE_STATE_PASSWORDS_ONLY,

	MIGRATE_STATE_COUNT
};

enum migrate_protocol {
	MIGRATE_PROTOCOL_IMAP = 0,
	MIGRATE_PROTOCOL_POP3,
};

struct migrate_account_progress {
	uint32_t pass;		/* import passes run so far */
	uint32_t folders_done, folders_total;
	uint64_t messages_done, messages_total;
	uint64_t bytes_done, bytes_total;
};

struct migrate_account {
	char address[MIGRATE_ACCOUNT_ADDRESS_MAX + 1];	/* the key */
	enum migrate_account_state state;
	enum migrate_protocol protocol;
	/* the migrating domain (config section) holding its legacy host */
	char domain[MIGRATE_ACCOUNT_DOMAIN_MAX + 1];
	int64_t created, updated;	/* unix times */
	uint32_t attempts;		/* failed import attempts in a row */
	int64_t next_retry;		/* failed: not before this time */
	char last_error[MIGRATE_ACCOUNT_ERROR_MAX + 1];
	struct migrate_account_progress progress;
	/* storage quota in kB (1024 bytes); 0: the config's default_quota */
	uint64_t quota_kbytes;
	/* the account already lives on the new server while its mail is
	   imported (`add --messages-only`): logins are local and checked
	   against the stored hash only, and the import only adds (the
	   ledger copier) */
	bool local;
	/* when the passdb last answered a login of the account with "proxy
	   to the legacy server" (ms since the epoch, this host's clock; 0:
	   never). Written in the transaction that re-checked the state, so
	   none is written once the account is in cutover: the cut-over's
	   fence waits out the sessions granted before its flip. */
	int64_t proxy_granted_ms;
};

const char *migrate_account_state_name(enum migrate_account_state state);
/* Returns 0 and the state for a name as migrate_account_state_name()
   gives it, -1 for anything else. */
int migrate_account_state_parse(const char *name, enum migrate_account_state *state_r);

/* The clock proxy_granted_ms is in: ms since the epoch, this host's
   wall clock. The grant (auth) and the fence (cut-over) both read it. */
int64_t migrate_account_now_ms(void);

/* A login of this account may be served by the legacy server (proxy
   mode): it is not local and not yet in cutover or migrated. */
bool migrate_account_proxied(const struct migrate_account *account);

/* The state machine of doc/DESIGN.md: is from -> to a legal transition? */
bool migrate_account_transition_allowed(enum migrate_account_state from,
					enum migrate_account_state to);

/* How long a failed import waits before its next attempt: a minute after
   the first failure, doubling each time, never more than six hours. */
#define MIGRATE_RETRY_FIRST_SECS 60
#define MIGRATE_RETRY_MAX_SECS (6 * 3600)
int64_t migrate_account_retry_delay(uint32_t attempts);

/* Encodes into out (MIGRATE_ACCOUNT_RECORD_MAX bytes); returns the length.
   The address is the LMDB key, not part of the record. */
size_t migrate_account_encode(const struct migrate_account *account,
			      unsigned char out[MIGRATE_ACCOUNT_RECORD_MAX]);
/* Decodes a stored record (hostile until checked: a corrupted or foreign
   record is an error, never a crash). The caller sets the address. */
int migrate_account_decode(const unsigned char *data, size_t size,
			   struct migrate_account *account_r,
			   char *error, size_t error_size);

#endif
