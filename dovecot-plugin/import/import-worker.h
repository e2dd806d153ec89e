#ifndef IMPORT_WORKER_H
#define IMPORT_WORKER_H

/* The import worker (`doveadm migrate worker`).

   Takes import jobs from the store's queue (leases: a crashed worker's
   jobs go to the next one) and runs up to JOBS imports at once, each one
   pass of Dovecot's dsync (`migrate pass`: the brains of `doveadm backup
   -R -u ACCOUNT imapc:`, pop3c: for accounts captured over POP3, driven
   in process, import-dsync.h). While an account is still proxied to
   the legacy server the local side has no changes of its own, so every
   pass is exact and a repeated one applies only what changed. The legacy
   host and credential come from the migrate userdb (doveadm only), never
   from the command line.

   A job runs its steps (the pass, counts, the flush, the cut-over) in
   the worker's pool of long-lived import processes (import-pool.h: no
   doveadm start-up per step). Beside a pass still running after
   WORKER_LEGACY_COUNT_DELAY_SECS: the legacy mailbox's folders and
   messages (`mailbox status` with mail_location=imapc: or pop3c:, the
   totals of the progress record; the pass does not wait for them), then
   the local counts (done) every few seconds, so the progress record
   moves; a finished job has done = total. A pass over sooner needs no
   legacy count: the local counts after it are the totals, and a small
   account costs the legacy server one session for its import. dsync
   passes write without fsync and end with a flush (import-replica.h).

   After a pass: synced; with cutover = auto (the default) the account is
   then cut over at once (a `migrate cutover` step in an import process,
   doveadm-migrate-cutover.c) when the pass took
   less than cutover_pass_secs, else another pass runs first (at most 5
   per job). When the legacy server refuses the stored
   credential: failed, until the user's next login records a new password
   and re-queues the account. Any other failure: failed with a retry time
   (one minute, doubling up to six hours) and the job stays queued for
   then. --once: return when nothing is left to do now.

   The engine of an account's passes is chosen at its first one: dsync
   while it is proxied (mode = proxy), else the ledger copier (`migrate
   sweep`: local and refuse modes, where the user's own local changes must
   survive). Migrated accounts whose sweep is due (sweep_after_secs after
   their cut-over) get one in a free slot: the mail the legacy server
   still received during the window, copied once.

   Files: import-scheduler.c takes and paces the jobs, import-job.c is a
   job's step machine, import-worker-private.h what they share. */

struct migrate_config;
struct migrate_store;

/* one job's outcome: result "synced", "migrated", "failed", "deferred",
   "swept"; reason "" or why */
typedef void import_worker_result_fn(const char *address, const char *result,
				     const char *reason, void *context);

struct import_worker_settings {
	struct migrate_config *config;
	/* open for writing */
	struct migrate_store *store;
	/* the -c of the import processes (NULL: Dovecot's default) */
	const char *dovecot_config;
	/* imports at once */
	unsigned int max_jobs;
	/* return when nothing is left to do now */
	bool once;
	import_worker_result_fn *result;
	/* called every tick_secs and at the end (NULL: never) */
	void (*tick)(void *context);
	unsigned int tick_secs;
	void *context;
};

struct import_worker_totals {
	unsigned int synced, migrated, failed, swept;
};

/* Runs jobs until the process is told to stop (SIGTERM: the running ones
   finish first), or with once until nothing is left to do now. */
void import_worker_run(const struct import_worker_settings *set,
		       struct import_worker_totals *totals_r);

#endif
