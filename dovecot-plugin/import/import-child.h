#ifndef DOVEADM_MIGRATE_CHILD_H
#define DOVEADM_MIGRATE_CHILD_H

/* Child doveadm processes: the import steps (a dsync pass, mailbox
   counts) run as `doveadm [-c CONF] ...` with the caller's Dovecot config.
   In the worker they are steps given to its pool of long-lived import
   processes (import-pool.h), and inside a pool process they run in
   process (import-inline.h): the same arguments, output and exit code
   either way, so the callers and the parsers below do not tell.
   Nothing secret is on their command line: the legacy host and credential
   come from the migrate userdb. Their stdout and stderr go to unlinked
   temporary files. Each runs under a small supervisor process that ends
   it when the worker dies, even killed with -9. */

#include "migrate-account.h"
#include "migrate-pop3-relay.h"

struct migrate_domain;
struct import_pool;

/* one child doveadm: its stdout and stderr in unlinked temporary files */
struct child {
	pid_t pid;
	int out_fd, err_fd;
	/* for pop3c over TLS, from spawn until the child is reaped */
	struct migrate_pop3_relay relay;
	/* doveadm's bytes read (rchar) when last seen to change, and when */
	uint64_t io_seen;
	time_t io_at, io_checked;
	/* stopped by child_stop_if_stalled after this many idle seconds */
	unsigned int stalled_secs;
	/* a step of the pool runs in slot pool_slot (a zeroed child is
	   none: pid 0 must never be signalled, it is our process group) */
	bool pooled;
	int pool_slot;
	/* an inline step is over: its wait status */
	bool finished;
	int finished_status;
};

/* From now on children are steps of pool (NULL: forked again). */
void child_use_pool(struct import_pool *pool);
/* From now on children run in this process (a pool process). */
void child_use_inline(void);
/* argv under the supervisor (see child_spawn), stdin from in_fd (-1:
   /dev/null); the supervisor's pid, or -1 (logged). */
pid_t child_fork_supervised(char **argv, int in_fd, int out_fd, int err_fd);

/* Starts `doveadm [-c dovecot_config] ARGS...`. */
int child_spawn(const char *dovecot_config, struct child *child,
		const char *const *args);
enum child_count_kind {
	/* the local mailbox: messages and vsize of every folder */
	CHILD_COUNT_LOCAL,
	/* the legacy one: messages only (sizes cost it a FETCH RFC822.SIZE
	   of every message) */
	CHILD_COUNT_LEGACY,
	/* the legacy one with sizes, when a quota must be checked first */
	CHILD_COUNT_LEGACY_SIZES,
};
/* `mailbox status` (-f tab) of the account's mailbox. The legacy
   domain's POP3 server is reached through a TLS relay when the domain
   has TLS (migrate-pop3-relay.h). */
int child_spawn_count(const char *dovecot_config, struct child *child,
		      const char *address, enum migrate_protocol protocol,
		      const struct migrate_domain *domain,
		      enum child_count_kind kind);
/* Children spawned from now on read the network at most this fast
   (migrate-pace.c; 0: no cap). */
void child_set_pace(uint64_t bytes_per_sec);
/* Under the account's home: pop3c's index of the legacy maildrop, which
   keeps its UIDVALIDITY from one dsync pass to the next. */
#define MIGRATE_POP3C_INDEX_DIR ".dovecot-migrate/pop3c"
/* One dsync pass: `-f tab migrate pass -c MIGRATE_CONFIG -u ADDRESS`
   (doveadm-migrate-pass.c: dsync in process, imapc or pop3c, with its
   POP3 TLS relay); unflushed: without fsync (the caller flushes,
   import-replica.h); cutover: the cut-over's (-k -s: none when the legacy
   mailbox has not changed since the last pass began, then the legacy
   folders' status on the same legacy session). */
int child_spawn_pass(const char *dovecot_config, struct child *child,
		     const char *address, const char *migrate_config,
		     bool unflushed, bool cutover);
/* `migrate flush -c MIGRATE_CONFIG -u ADDRESS`, with -D to discard. */
int child_spawn_flush(const char *dovecot_config, struct child *child,
		      const char *address, const char *migrate_config,
		      bool discard);
/* The ledger copier: `-f tab migrate sweep -c MIGRATE_CONFIG -u ADDRESS`,
   with -m maxage_days when not 0, or -M (the cut-over's watermarks). */
int child_spawn_sweep(const char *dovecot_config, struct child *child,
		      const char *address, const char *migrate_config,
		      unsigned int maxage_days, bool mark);
/* `-f tab migrate COMMAND -c MIGRATE_CONFIG -u ADDRESS [OPTIONS...]`
   (special-folders, aliases, cutover); options NULL-terminated, or
   NULL. */
int child_spawn_account_step(const char *dovecot_config, struct child *child,
			     const char *command, const char *address,
			     const char *migrate_config,
			     const char *const *options);
/* Messages a finished sweep copied (the sum of its "copied" column). */
uint64_t child_sweep_copied(struct child *child);
/* A finished `-f tab` child's rows, its header and empty lines left out
   (the data stack). */
const char *const *child_output_rows(struct child *child);
/* A finished child's whole stdout (the data stack). */
const char *child_output_text(struct child *child);

/* Stops the running child (SIGTERM to its supervisor, which kills
   doveadm's group) when its doveadm has read nothing for stall_secs: a
   legacy server that stopped answering without closing. child_reason
   then says so. TRUE when it stopped it. */
bool child_stop_if_stalled(struct child *child, unsigned int stall_secs);

/* -1 while it runs, else its wait status (the child is reaped). */
int child_status(struct child *child);
/* Waits for it; its wait status, or -1. */
int child_wait(struct child *child);
void child_close(struct child *child);
/* Stops a running child (SIGTERM), waits for it and closes it. */
void child_abort(struct child *child);

typedef bool child_count_fn(struct child *child, uint32_t *folders_r,
			    uint64_t *messages_r, uint64_t *bytes_r);
/* Sums the folders, messages and bytes of a finished count. FALSE when
   the output is not one. */
bool child_count(struct child *child, uint32_t *folders_r,
		 uint64_t *messages_r, uint64_t *bytes_r);
/* The folders and messages of a finished legacy count. */
bool child_legacy_count(struct child *child, uint32_t *folders_r,
			uint64_t *messages_r);
/* Copies the log lines of our own commands (those naming "migrate ")
   from a finished child's stderr to ours: what a step in a pool process
   logged reaches the worker's log. */
void child_forward_log(struct child *child);
/* The first error the child printed: the cause (what follows is its
   consequences, or a backtrace); else how it ended. */
const char *child_reason(struct child *child, int status);

#endif
