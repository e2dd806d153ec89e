#ifndef IMPORT_WORKER_PRIVATE_H
#define IMPORT_WORKER_PRIVATE_H

/* What the worker's scheduler (import-scheduler.c) and its jobs' step
   machine (import-job.c) share: a job, the worker, and the steps the
   scheduler starts and advances. */

#include "array.h"
#include "migrate-account.h"
#include "import-child.h"
#include "import-worker.h"

struct migrate_domain;

#define WORKER_LEASE_SECS 600
#define WORKER_RENEW_SECS 60
#define WORKER_COUNT_SECS 5
#define WORKER_IDLE_MSECS 1000
#define WORKER_POLL_MSECS 100
/* a job whose legacy host is at imports_per_legacy_host waits this long */
#define WORKER_HOST_BUSY_SECS 2
/* a scheduled sweep that failed is tried again this much later */
#define WORKER_SWEEP_RETRY_SECS 300
/* the legacy counts start beside a pass that runs this long */
#define WORKER_LEGACY_COUNT_DELAY_SECS 2

enum import_step {
	/* POP3: the legacy counts before the pass (one session at a time
	   per maildrop, RFC 1939) */
	STEP_COUNT_LEGACY,
	/* dsync's local copy was torn by a machine crash: moved aside */
	STEP_DISCARD,
	STEP_PASS,
	/* after dsync's passes (run without fsync): the local copy to disk */
	STEP_FLUSH,
	/* the job is done: the local size, the bytes total */
	STEP_COUNT_LOCAL,
	/* a migrated account's scheduled sweep (the ledger copier) */
	STEP_SWEEP,
	/* cutover = auto: `migrate cutover` of the synced account, in a
	   pool process (the worker's loop goes on meanwhile) */
	STEP_CUTOVER,
};

struct import_job {
	char address[MIGRATE_ACCOUNT_ADDRESS_MAX + 1];
	/* its domain (config memory; NULL when gone from the config): its
	   legacy_host is what the per-host cap counts */
	const struct migrate_domain *domain;
	enum migrate_protocol protocol;
	enum import_step step;
	struct child main;
	/* the legacy counts (at the start, beside the first pass), then the
	   local counts every few seconds while the pass runs */
	struct child counter;
	bool counting_legacy;
	struct migrate_account_progress progress;
	time_t started, renewed, counted;
	/* when the legacy counts start beside a pass still running, in ms
	   (0: none due; whole seconds would start them after as little as
	   one second): a pass over by then needs none, its local counts are
	   the totals, and the account needs no legacy session of its own
	   for them */
	int64_t legacy_count_due_ms;
	/* when its last pass started, in ms: a pass of a small mailbox is
	   well under a second, so whole seconds would misjudge one */
	int64_t pass_started_ms;
	/* passes run by this job, and passes retried after a failure */
	unsigned int passes, retries;
	/* its passes are dsync's (they need a flush) */
	bool dsync;
	/* the account lives here already (add --messages-only) */
	bool local;
	/* its quota in kB, checked against the legacy size before the
	   first pass; 0: none, or nothing to check any more */
	uint64_t quota_kbytes;
	/* its local copy was discarded once (never twice in a job) */
	bool discarded;
};

/* NULL when the job's domain is gone from the config */
static inline const char *job_legacy_host(const struct import_job *job)
{
	return job->domain == NULL ? NULL : job->domain->legacy_host;
}

struct worker {
	const struct import_worker_settings *set;
	struct migrate_config *config;
	/* when the settings' tick was last called */
	time_t ticked;
	struct migrate_store *store;
	const char *dovecot_config;
	unsigned int max_jobs;
	bool once;
	ARRAY(struct import_job) jobs;
	unsigned int synced, migrated, failed, swept;
	/* jobs put back because their legacy host was busy come due by then
	   (--once waits for them) */
	time_t deferred_until;
	struct legacy_hosts *hosts;
	/* the long-lived processes the jobs' steps run in */
	struct import_pool *pool;
};

/* the job steps (import-job.c) */
void worker_job_count(struct worker *worker, struct import_job *job);
void worker_job_failed(struct worker *worker, struct import_job *job,
			      const char *reason);
bool worker_job_start_cutover(struct worker *worker, struct import_job *job);
int worker_job_start_pass(struct worker *worker, struct import_job *job);
bool worker_job_step(struct worker *worker, struct import_job *job,
			    int status);
void worker_store_error(const char *what, const char *error);
void worker_sweep_done(struct worker *worker, struct import_job *job,
			      const char *reason);
void worker_sweep_reschedule(struct worker *worker, const char *address,
				    int64_t due);

#endif
