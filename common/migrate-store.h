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
	/* messages and bytes the imports have placed so far, over every
	   account (the sum of their progress: it grows as passes run) */
	uint64_t imported_messages, imported_bytes;
	/* throughput: what was imported in the current window (started at
	   rate_window_start) and in the one before it, each
	   MIGRATE_RATE_WINDOW_SECS long, so a reader always has a full
	   window behind it */
	int64_t rate_window_start, rate_prev_start;
	uint64_t rate_window_messages, rate_window_bytes;
	uint64_t rate_prev_messages, rate_prev_bytes;
};
#define MIGRATE_RATE_WINDOW_SECS 300

struct migrate_store;
struct migrate_config;

/* The settings for the store migrate.conf names ("store"), with the
   access asked for; a writer also gets store_user and store_group, the
   owners of a store it creates. */
void migrate_store_settings_from_config(struct migrate_store_settings *set_r,
					const struct migrate_config *config,
					enum migrate_store_access access);

/* A path of the store whose owner or mode was repaired: before and after
   as "owner:group mode 0751". */
typedef void migrate_store_repair_fn(const char *path, const char *before,
				     const char *after, void *context);
/* Gives every existing directory and file of the store the owner and mode
   a writer with these settings creates them with (a store directory root
   made by hand, files copied by root). Returns how many paths changed, or
   -1. Opening the store as a writer afterwards creates what is missing.
   dry_run: reports what it would change, changes nothing. */
int migrate_store_repair(const struct migrate_store_settings *set, bool dry_run,
			 migrate_store_repair_fn *report, void *context,
			 char *error, size_t error_size);

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
/* The passdb is about to answer a login of the account with "proxy to
   the legacy server". In one write transaction: reads the account and,
   when its state is still one whose logins are proxied
   (migrate_account_proxied), stamps proxy_granted_ms = now_ms.
   Returns 1 and the account as it is now (granted_r says whether the
   grant was written), 0 when the store does not know the account
   (nothing written), -1 on error. Thread-safe as every store call; runs
   in the auth process's store thread, never on its event loop. */
int migrate_store_account_proxy_grant(struct migrate_store *store,
				      const char *address, int64_t now_ms,
				      struct migrate_account *account_r,
				      bool *granted_r,
				      char *error, size_t error_size);
int migrate_store_account_set_progress(struct migrate_store *store,
				       const char *address,
				       const struct migrate_account_progress *progress,
				       char *error, size_t error_size);
/* Sets the account's "local" flag (see migrate-account.h). */
int migrate_store_account_set_local(struct migrate_store *store,
				    const char *address, bool local,
				    char *error, size_t error_size);
/* Removes the account, its secret, its ledger, its queue entry and its
   aliases.
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
/* Wipes one account's stored legacy credential, keeping its password
   hash ("finish"): 1 wiped, 0 when there was none. */
int migrate_store_secret_wipe_credential(struct migrate_store *store,
					 const char *address,
					 char *error, size_t error_size);
/* Wipes every stored legacy credential, keeping password hashes.
   Returns how many were wiped. */
int migrate_store_secrets_wipe_credentials(struct migrate_store *store,
					   char *error, size_t error_size);

/* The import ledger (secrets environment: the Dovecot side only). Every
   legacy message the project has placed locally, by dsync before the
   cut-over or by the ledger copier after it, so that a later sweep copies
   only what the ledger does not know, exactly once.

   Per account and legacy folder: a folder record (its UIDVALIDITY as last
   seen, its local folder, and the cut-over watermark below which dsync
   placed every legacy UID); per message: the legacy key (UIDVALIDITY and
   UID, or the POP3 UIDL) -> local folder and UID, Message-ID and a SHA-256
   of the bytes; per content hash: that it is known in the folder (what
   matches messages again when the legacy UIDVALIDITY changed). */
#define MIGRATE_LEDGER_FOLDER_MAX 1000
#define MIGRATE_LEDGER_UIDL_MAX 128
#define MIGRATE_LEDGER_MESSAGE_ID_MAX 250
#define MIGRATE_LEDGER_HASH_SIZE 32
#define MIGRATE_BOOT_ID_SIZE 16

enum migrate_ledger_engine {
	MIGRATE_ENGINE_NONE = 0,	/* no pass yet */
	MIGRATE_ENGINE_DSYNC,		/* exact passes while proxied */
	MIGRATE_ENGINE_COPIER,		/* the ledger copier (local, refuse) */
};

/* What the ledger knows of one account as a whole. */
#define MIGRATE_LEGACY_FINGERPRINT_SIZE 32

struct migrate_ledger_account {
	enum migrate_ledger_engine engine;
	int64_t sweep_due;		/* the next sweep; 0: none scheduled */
	int64_t last_sweep;		/* when a sweep last completed; 0: never */
	uint64_t swept_messages;	/* copied by sweeps so far */
	bool finished;			/* `finish` completed for it */
	/* the boot (Linux boot_id) during which a pass wrote the local copy
	   without fsync and has not flushed it yet; all zero: flushed */
	uint8_t unflushed_boot[MIGRATE_BOOT_ID_SIZE];
	/* SHA-256 of the legacy folders' status (names, subscriptions,
	   UIDVALIDITY, UIDNEXT, messages, HIGHESTMODSEQ) taken right before
	   the last dsync pass that succeeded: while the legacy mailbox still
	   shows it, that pass's copy is exact. All zero: none (POP3, a
	   server without CONDSTORE, a discarded copy). */
	uint8_t legacy_fingerprint[MIGRATE_LEGACY_FINGERPRINT_SIZE];
};

struct migrate_ledger_folder {
	char legacy[MIGRATE_LEDGER_FOLDER_MAX + 1];
	char local[MIGRATE_LEDGER_FOLDER_MAX + 1];
	uint32_t uidvalidity;		/* 0 for POP3 */
	/* legacy UIDs below this (under uidvalidity) were placed by dsync;
	   0: none */
	uint32_t dsync_below;
	bool seeded;			/* those have message records now */
};

struct migrate_ledger_message {
	/* the legacy message: uidvalidity and uid (IMAP) or uidl (POP3) */
	uint32_t uidvalidity, uid;
	char uidl[MIGRATE_LEDGER_UIDL_MAX + 1];
	/* written before the local save committed: local_uid is the local
	   UIDNEXT before the save, and the copy may or may not exist */
	bool pending;
	uint32_t local_uid;
	char local[MIGRATE_LEDGER_FOLDER_MAX + 1];
	char message_id[MIGRATE_LEDGER_MESSAGE_ID_MAX + 1];
	unsigned char sha256[MIGRATE_LEDGER_HASH_SIZE];
};

/* 1 found, 0 none (all zero then). */
int migrate_store_ledger_account_get(struct migrate_store *store, const char *address,
				     struct migrate_ledger_account *account_r,
				     char *error, size_t error_size);
/* Also keeps the sweep schedule's index in step with sweep_due. */
int migrate_store_ledger_account_set(struct migrate_store *store, const char *address,
				     const struct migrate_ledger_account *account,
				     char *error, size_t error_size);
/* Sets only the account's next sweep (0: none), in one transaction. */
int migrate_store_sweep_schedule(struct migrate_store *store, const char *address,
				 int64_t due, char *error, size_t error_size);
/* The account whose sweep is due first, if due by now: 1 and its address
   (its sweep_due moved to now + lease_secs, so a crashed sweeper's job
   comes back), 0 when none is due. */
int migrate_store_sweep_take(struct migrate_store *store, unsigned int lease_secs,
			     char address_r[MIGRATE_ACCOUNT_ADDRESS_MAX + 1],
			     char *error, size_t error_size);

int migrate_store_ledger_folder_get(struct migrate_store *store, const char *address,
				    const char *legacy,
				    struct migrate_ledger_folder *folder_r,
				    char *error, size_t error_size);
int migrate_store_ledger_folder_set(struct migrate_store *store, const char *address,
				    const struct migrate_ledger_folder *folder,
				    char *error, size_t error_size);
/* The same for count folders in one transaction (the cut-over's marks:
   one commit, not one per folder). */
int migrate_store_ledger_folders_set(struct migrate_store *store, const char *address,
				     const struct migrate_ledger_folder *folders,
				     unsigned int count, char *error, size_t error_size);
/* Every message record of one legacy folder; fn returns non-zero to stop. */
typedef int migrate_ledger_message_fn(const struct migrate_ledger_message *message,
				      void *context);
int migrate_store_ledger_messages(struct migrate_store *store, const char *address,
				  const char *legacy, migrate_ledger_message_fn *fn,
				  void *context, char *error, size_t error_size);
/* Records messages of one legacy folder (replacing pending records of the
   same keys) and their content hashes, in one transaction. */
int migrate_store_ledger_put(struct migrate_store *store, const char *address,
			     const char *legacy,
			     const struct migrate_ledger_message *messages,
			     unsigned int count, char *error, size_t error_size);
/* Drops a pending record whose copy never committed. */
int migrate_store_ledger_drop(struct migrate_store *store, const char *address,
			      const char *legacy,
			      const struct migrate_ledger_message *message,
			      char *error, size_t error_size);
/* 1 when a message with these bytes was placed from this legacy folder. */
int migrate_store_ledger_hash_known(struct migrate_store *store, const char *address,
				    const char *legacy,
				    const unsigned char sha256[MIGRATE_LEDGER_HASH_SIZE],
				    char *error, size_t error_size);
/* Every ledger record of the account (forget). */
int migrate_store_ledger_forget(struct migrate_store *store, const char *address,
				char *error, size_t error_size);
/* Message records of the account, pending ones included. */
int migrate_store_ledger_count(struct migrate_store *store, const char *address,
			       uint64_t *messages_r, char *error, size_t error_size);

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
/* Messages and bytes per second over the last completed window and the
   current one (0 when nothing was imported lately), as of now. */
void migrate_stats_rate(const struct migrate_stats *stats, int64_t now,
			double *messages_per_sec_r, double *bytes_per_sec_r);

/* Checks every cross-record invariant (each queued account has one queue
   entry and the order index matches it, state counts match the records,
   every account has its secret, no alias dangles). 1 consistent, 0 not
   (the first problem in error). */
int migrate_store_check(struct migrate_store *store, char *error, size_t error_size);

#endif
