#ifndef MIGRATE_STORE_H
#define MIGRATE_STORE_H

/* The state store: accounts, their secrets, learnt aliases, the import
   queue and global statistics, shared by every process of dovecot-migrate.

   One interface; the embedded LMDB backend is the default (a second one,
   on a networked database, can sit behind the same calls). Nothing outside
   common/ knows which backend runs.

   Two environments with different owners and modes: "routing" (accounts,
   aliases, queue, statistics: readable by the Postfix-side daemon's group)
   and "secrets" (password hashes and encrypted legacy credentials: only the
   Dovecot side). A secret is written before its account record, so a crash
   between the two leaves at most an orphan secret, removed at the next
   writable open.

   Return values: -1 error (message in error), otherwise as documented. */

#include "migrate-account.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* 1: first release; 2: accounts indexed by state */
#define MIGRATE_STORE_SCHEMA_VERSION 2
#define MIGRATE_SECRET_HASH_MAX 255
#define MIGRATE_SECRET_CREDENTIAL_MAX 1100
#define MIGRATE_ALIAS_SOURCE_MAX 64

enum migrate_store_access {
	/* routing data only, read-only transactions (migrate-policyd) */
	MIGRATE_STORE_READ_ROUTING,
	/* everything, read-write (auth, doveadm, import workers) */
	MIGRATE_STORE_WRITE,
};

struct migrate_store_settings {
	const char *path;	/* directory (config "store") */
	enum migrate_store_access access;
	/* Who owns a store created by root: the Dovecot side's user, and the
	   group the routing daemon runs in. NULL: the creating process's. */
	const char *owner_user, *routing_group;
	/* starting map size; it grows by itself. 0: 64 MiB */
	size_t initial_map_size;
	/* Bulk loads: commits are not flushed to disk one by one (a system
	   crash may lose the last ones; a process crash loses nothing);
	   everything is flushed at close. */
	bool bulk;
	/* the clock records are stamped with; NULL: time(). Tests move it. */
	int64_t (*now)(void);
};

struct migrate_secret {
	char password_hash[MIGRATE_SECRET_HASH_MAX + 1];	/* {SCHEME}... */
	unsigned char credential[MIGRATE_SECRET_CREDENTIAL_MAX]; /* vault output */
	size_t credential_len;					/* 0: wiped */
};

struct migrate_alias {
	char alias[MIGRATE_ACCOUNT_ADDRESS_MAX + 1];
	char account[MIGRATE_ACCOUNT_ADDRESS_MAX + 1];
	char source[MIGRATE_ALIAS_SOURCE_MAX + 1];	/* where it was learnt */
};

struct migrate_stats {
	int64_t started_at;		/* first account recorded; 0: none yet */
	uint64_t mailboxes_migrated, aliases_created;
	uint64_t messages_migrated, bytes_migrated;
	uint64_t errors;
	char last_mailbox[MIGRATE_ACCOUNT_ADDRESS_MAX + 1];
	uint64_t state_counts[MIGRATE_STATE_COUNT];
};

struct migrate_store;
struct migrate_config;

/* The settings for the store migrate.conf names ("store"), with the
   access asked for; a writer also gets store_user and store_group, the
   owners of a store it creates. */
void migrate_store_settings_from_config(struct migrate_store_settings *set_r,
					const struct migrate_config *config,
					enum migrate_store_access access);

int migrate_store_open(const struct migrate_store_settings *set,
		       struct migrate_store **store_r,
		       char *error, size_t error_size);
void migrate_store_close(struct migrate_store **store);

/* 1 and the account, 0 when the store does not know it. */
int migrate_store_account_get(struct migrate_store *store, const char *address,
			      struct migrate_account *account_r,
			      char *error, size_t error_size);
/* Records a new account (state queued or passwords-only) with its secret;
   a queued one enters the import queue in the same transaction. 1 created,
   0 when it already exists (nothing changed). */
int migrate_store_account_create(struct migrate_store *store,
				 const struct migrate_account *account,
				 const struct migrate_secret *secret,
				 char *error, size_t error_size);
/* Moves an account from state `from` to `to` in one transaction, if the
   state machine allows it and the account is still in `from`. to=failed
   records last_error, counts the attempt and sets next_retry; to=migrated
   updates the statistics; to=queued (re-)enters the queue. */
int migrate_store_account_transition(struct migrate_store *store,
				     const char *address,
				     enum migrate_account_state from,
				     enum migrate_account_state to,
				     const char *last_error, int64_t next_retry,
				     char *error, size_t error_size);
int migrate_store_account_set_progress(struct migrate_store *store,
				       const char *address,
				       const struct migrate_account_progress *progress,
				       char *error, size_t error_size);
/* Removes the account, its secret, its queue entry and its aliases.
   1 removed, 0 unknown. */
int migrate_store_account_forget(struct migrate_store *store, const char *address,
				 char *error, size_t error_size);
/* Calls fn for every account in address order; fn returns non-zero to
   stop. Runs in one read transaction: a consistent snapshot. */
typedef int migrate_store_account_fn(const struct migrate_account *account,
				     void *context);
int migrate_store_account_iterate(struct migrate_store *store,
				  migrate_store_account_fn *fn, void *context,
				  char *error, size_t error_size);

/* The same for the accounts in one state, in address order, read through
   the by-state index (no scan of the other accounts). */
int migrate_store_account_iterate_state(struct migrate_store *store,
					enum migrate_account_state state,
					migrate_store_account_fn *fn, void *context,
					char *error, size_t error_size);

/* Secrets (MIGRATE_STORE_WRITE only). 1 found, 0 none. */
int migrate_store_secret_get(struct migrate_store *store, const char *address,
			     struct migrate_secret *secret_r,
			     char *error, size_t error_size);
int migrate_store_secret_set(struct migrate_store *store, const char *address,
			     const struct migrate_secret *secret,
			     char *error, size_t error_size);
/* Wipes every stored legacy credential, keeping password hashes ("finish").
   Returns how many were wiped. */
int migrate_store_secrets_wipe_credentials(struct migrate_store *store,
					   char *error, size_t error_size);

/* Aliases: 1 created, 0 already pointing at that account. */
int migrate_store_alias_set(struct migrate_store *store,
			    const struct migrate_alias *alias,
			    char *error, size_t error_size);
int migrate_store_alias_get(struct migrate_store *store, const char *alias,
			    struct migrate_alias *alias_r,
			    char *error, size_t error_size);

/* Import queue with leases. take: the highest-priority job whose time has
   come and which nobody holds (a lease past its expiry, or whose owner
   process is gone, is free), leased to owner until now + lease_secs.
   1 and its address, 0 when there is nothing to do. */
int migrate_store_queue_take(struct migrate_store *store, pid_t owner,
			     unsigned int lease_secs,
			     char address_r[MIGRATE_ACCOUNT_ADDRESS_MAX + 1],
			     char *error, size_t error_size);
/* Extends a held lease; 0 when owner no longer holds it. */
int migrate_store_queue_renew(struct migrate_store *store, const char *address,
			      pid_t owner, unsigned int lease_secs,
			      char *error, size_t error_size);
/* Gives a held job back: removed when not_before < 0, else queued again
   for not_before (a unix time). 0 when owner no longer holds it. */
int migrate_store_queue_release(struct migrate_store *store, const char *address,
				pid_t owner, int64_t not_before,
				char *error, size_t error_size);
/* Number of queued jobs (held or not). */
int migrate_store_queue_length(struct migrate_store *store, uint64_t *length_r,
			       char *error, size_t error_size);

int migrate_store_stats_get(struct migrate_store *store,
			    struct migrate_stats *stats_r,
			    char *error, size_t error_size);

/* Checks every cross-record invariant (each queued account has one queue
   entry and the order index matches it, state counts match the records,
   every account has its secret, no alias dangles). 1 consistent, 0 not
   (the first problem in error). */
int migrate_store_check(struct migrate_store *store, char *error, size_t error_size);

#endif
