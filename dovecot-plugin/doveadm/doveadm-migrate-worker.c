/* doveadm migrate worker [-c migrate.conf] [-j JOBS] [--once]

   Takes import jobs from the store's queue (leases: a crashed worker's
   jobs go to the next one) and runs up to JOBS imports at once, each one
   pass of Dovecot's dsync: `doveadm backup -R -u ACCOUNT imapc:` (pop3c:
   for accounts captured over POP3). While an account is still proxied to
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
   then cut over at once (doveadm-migrate-cutover.c) when the pass took
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
   still received during the window, copied once. */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "strescape.h"
#include "time-util.h"
#include "write-full.h"
#include "master-service.h"
#include "doveadm.h"
#include "doveadm-cmd.h"
#include "doveadm-print.h"

#include "migrate-config.h"
#include "migrate-store.h"
#include "doveadm-migrate.h"
#include "import-child.h"
#include "import-hosts.h"
#include "import-replica.h"
#include "import-pool.h"
#include "import-reasons.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define WORKER_LEASE_SECS 600
#define WORKER_RENEW_SECS 60
#define WORKER_COUNT_SECS 5
#define WORKER_IDLE_MSECS 1000
#define WORKER_POLL_MSECS 100
/* metrics_file is rewritten this often */
#define WORKER_METRICS_SECS 15
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
	/* when the legacy counts start beside a pass still running (0:
	   none due): a pass over by then needs none, its local counts are
	   the totals, and the account needs no legacy session of its own
	   for them */
	time_t legacy_count_due;
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
static const char *job_legacy_host(const struct import_job *job)
{
	return job->domain == NULL ? NULL : job->domain->legacy_host;
}

struct worker {
	struct migrate_config *config;
	/* when metrics_file was last written */
	time_t metrics_written;
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

static void worker_job_await_legacy_count(struct worker *worker,
					  struct import_job *job);

static void worker_store_error(const char *what, const char *error)
{
	i_error("migrate worker: %s: %s", what, error);
}

/* ---- job outcomes ------------------------------------------------------ */

static void worker_save_progress(struct worker *worker, struct import_job *job)
{
	char error[512];

	if (migrate_store_account_set_progress(worker->store, job->address,
			&job->progress, error, sizeof(error)) < 0)
		worker_store_error(job->address, error);
}

static void worker_job_print(struct import_job *job, const char *result,
			     const char *reason)
{
	doveadm_print(job->address);
	doveadm_print(result);
	doveadm_print(reason);
}

static void worker_job_failed(struct worker *worker, struct import_job *job,
			      const char *reason)
{
	struct migrate_account account;
	char error[512];
	bool auth = import_reason_is_auth(reason);
	int64_t next_retry = 0;

	if (!auth && migrate_store_account_get(worker->store, job->address, &account,
					       error, sizeof(error)) > 0) {
		next_retry = time(NULL) +
			migrate_account_retry_delay(account.attempts + 1);
	}
	if (migrate_store_account_transition(worker->store, job->address,
			MIGRATE_STATE_IMPORTING, MIGRATE_STATE_FAILED,
			auth ? t_strconcat("legacy server refused the stored "
					   "credential: ", reason, NULL) : reason,
			next_retry, error, sizeof(error)) < 0)
		worker_store_error(job->address, error);
	/* a refused credential waits for the user's next login */
	if (migrate_store_queue_release(worker->store, job->address, getpid(),
					auth ? -1 : next_retry, error, sizeof(error)) < 0)
		worker_store_error(job->address, error);
	worker->failed++;
	i_warning("migrate worker: %s: import failed%s: %s", job->address,
		  auth ? " (credential refused; retried at the next login)" :
		  t_strdup_printf(" (retry at %s)", t_strflocaltime(
			"%Y-%m-%d %H:%M:%S", next_retry)), reason);
	worker_job_print(job, "failed", reason);
}

/* Another pass would still find much to do: the last one was long. */
#define WORKER_MAX_PASSES_PER_JOB 5
/* A pass that failed on anything but the credential (a dropped
   connection, say) is tried again at once this often before the job
   fails and waits for its retry time. */
#define WORKER_PASS_RETRIES 2

/* cutover = auto: a converged account is cut over right away, as a
   step of its job (doveadm-migrate-cutover.c: the flip, the fence, the
   last pass and its check). TRUE while it runs. */
static bool worker_job_start_cutover(struct worker *worker, struct import_job *job)
{
	child_close(&job->main);
	job->step = STEP_CUTOVER;
	if (child_spawn_account_step(worker->dovecot_config, &job->main,
				     "cutover", job->address,
				     worker->config->path, NULL) == 0)
		return TRUE;
	i_error("migrate worker: %s: could not start the cut-over", job->address);
	worker->failed++;
	worker_job_print(job, "failed", "cut-over: could not start doveadm");
	return FALSE;
}

/* The cut-over step ended with status. One that ended without saying
   (its process died) leaves the account in cutover: it is resumed a
   minute later, by whichever worker takes it. */
static void worker_job_cutover_done(struct worker *worker, struct import_job *job,
				    int status)
{
	struct migrate_account account;
	const char *reason;
	char error[512];

	child_forward_log(&job->main);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		worker->migrated++;
		worker_job_print(job, "migrated", "");
		return;
	}
	reason = child_reason(&job->main, status);
	i_error("migrate worker: %s: cut-over failed: %s", job->address, reason);
	worker->failed++;
	worker_job_print(job, "failed", t_strconcat("cut-over: ", reason, NULL));
	if (migrate_store_account_get(worker->store, job->address, &account,
				      error, sizeof(error)) > 0 &&
	    account.state == MIGRATE_STATE_CUTOVER &&
	    migrate_store_queue_release(worker->store, job->address, getpid(),
					time(NULL) + 60, error, sizeof(error)) < 0)
		worker_store_error(job->address, error);
}

/* cutover = manual: when the synced account's next pass is due (-1:
   none, it waits for the operator) */
static int64_t worker_resync_due(struct worker *worker)
{
	if (worker->config->resync_secs == 0)
		return -1;
	return time(NULL) + worker->config->resync_secs;
}

/* TRUE while the job goes on (its cut-over runs). */
static bool worker_job_synced(struct worker *worker, struct import_job *job)
{
	char error[512];

	job->progress.pass++;
	worker_save_progress(worker, job);
	/* with cutover = auto the job stays queued (leased) through the
	   cut-over: a worker that dies meanwhile leaves it to the next one */
	if (migrate_store_account_transition(worker->store, job->address,
			MIGRATE_STATE_IMPORTING, MIGRATE_STATE_SYNCED, NULL, 0,
			error, sizeof(error)) < 0 ||
	    (worker->config->cutover == MIGRATE_CUTOVER_MANUAL &&
	     migrate_store_queue_release(worker->store, job->address, getpid(),
					 worker_resync_due(worker),
					 error, sizeof(error)) < 0)) {
		worker_store_error(job->address, error);
		return FALSE;
	}
	worker->synced++;
	i_info("migrate worker: %s: import pass done in %ld s, synced: "
	       "%u folders, %"PRIu64" messages, %"PRIu64" bytes", job->address,
	       (long)((migrate_account_now_ms() - job->pass_started_ms) / 1000),
	       job->progress.folders_done,
	       job->progress.messages_done, job->progress.bytes_done);
	if (worker->config->cutover == MIGRATE_CUTOVER_AUTO)
		return worker_job_start_cutover(worker, job);
	worker_job_print(job, "synced", "");
	return FALSE;
}

/* cutover = auto: after a long pass, one more (the next one is shorter,
   and the last one, at cut-over, shorter still). */
static bool worker_job_wants_another_pass(struct worker *worker,
					  struct import_job *job)
{
	return worker->config->cutover == MIGRATE_CUTOVER_AUTO &&
		job->passes < WORKER_MAX_PASSES_PER_JOB &&
		migrate_account_now_ms() - job->pass_started_ms >=
		(int64_t)worker->config->cutover_pass_secs * 1000;
}

/* The account's engine, chosen at its first pass: dsync while it is
   proxied (mode = proxy), else the ledger copier, which never undoes what
   the user does locally meanwhile. Kept for the account's life, so a
   change of mode affects only accounts that start later. A local account
   (add --messages-only) has its own mail: always the copier. */
static enum migrate_ledger_engine
worker_job_engine(struct worker *worker, struct import_job *job)
{
	struct migrate_ledger_account la;
	char error[512];

	if (migrate_store_ledger_account_get(worker->store, job->address, &la,
					     error, sizeof(error)) < 0) {
		worker_store_error(job->address, error);
		return MIGRATE_ENGINE_NONE;
	}
	if (la.engine == MIGRATE_ENGINE_COPIER ||
	    (la.engine == MIGRATE_ENGINE_DSYNC && !job->local))
		return la.engine;
	la.engine = worker->config->mode == MIGRATE_MODE_PROXY && !job->local ?
		MIGRATE_ENGINE_DSYNC : MIGRATE_ENGINE_COPIER;
	if (migrate_store_ledger_account_set(worker->store, job->address, &la,
					     error, sizeof(error)) < 0) {
		worker_store_error(job->address, error);
		return MIGRATE_ENGINE_NONE;
	}
	return la.engine;
}

/* The local copy of a dsync account goes (`migrate flush -D`); the pass
   then starts anew. */
static int worker_job_discard(struct worker *worker, struct import_job *job,
			      const char *why)
{
	i_warning("migrate worker: %s: discarding the local copy, it is "
		  "copied anew: %s", job->address, why);
	job->step = STEP_DISCARD;
	job->discarded = TRUE;
	return child_spawn_flush(worker->dovecot_config, &job->main,
				 job->address, worker->config->path, TRUE);
}

/* A dsync pass writes without fsync: marked unflushed first. Unless a
   machine crash tore the copy an earlier boot wrote: then the copy is
   discarded first (STEP_DISCARD), and this is called again. */
static int worker_job_start_dsync_pass(struct worker *worker, struct import_job *job)
{
	enum replica_state state;
	char error[512];

	if (replica_state_get(worker->store, job->address, &state,
			      error, sizeof(error)) < 0 ||
	    (state != REPLICA_TORN &&
	     replica_mark_unflushed(worker->store, job->address,
				    error, sizeof(error)) < 0)) {
		worker_store_error(job->address, error);
		return -1;
	}
	if (state == REPLICA_TORN) {
		return worker_job_discard(worker, job, "a pass of an earlier "
			"boot never flushed it (the machine crashed)");
	}
	return child_spawn_pass(worker->dovecot_config, &job->main,
				job->address, worker->config->path, TRUE, FALSE);
}

static int worker_job_start_pass(struct worker *worker, struct import_job *job)
{
	enum migrate_ledger_engine engine = worker_job_engine(worker, job);

	job->step = STEP_PASS;
	job->passes++;
	job->pass_started_ms = migrate_account_now_ms();
	if (engine == MIGRATE_ENGINE_NONE)
		return -1;
	if (engine == MIGRATE_ENGINE_COPIER) {
		return child_spawn_sweep(worker->dovecot_config, &job->main,
					 job->address, worker->config->path, 0, FALSE);
	}
	job->dsync = TRUE;
	return worker_job_start_dsync_pass(worker, job);
}

/* Starts the next pass; FALSE (and the job failed) when it cannot. */
static bool worker_job_next_pass(struct worker *worker, struct import_job *job)
{
	if (worker_job_start_pass(worker, job) == 0)
		return TRUE;
	worker_job_failed(worker, job, "could not start the pass");
	return FALSE;
}

/* ---- scheduled sweeps ---------------------------------------------------- */

static void worker_sweep_reschedule(struct worker *worker, const char *address,
				    int64_t due)
{
	char error[512];

	if (migrate_store_sweep_schedule(worker->store, address, due,
					 error, sizeof(error)) < 0)
		worker_store_error(address, error);
}

/* reason NULL: the sweep succeeded and leaves the schedule */
static void worker_sweep_done(struct worker *worker, struct import_job *job,
			      const char *reason)
{
	if (reason != NULL) {
		int64_t due = time(NULL) + WORKER_SWEEP_RETRY_SECS;

		worker_sweep_reschedule(worker, job->address, due);
		worker->failed++;
		i_warning("migrate worker: %s: sweep failed (retry at %s): %s",
			  job->address, t_strflocaltime("%Y-%m-%d %H:%M:%S", due),
			  reason);
		worker_job_print(job, "failed", t_strconcat("sweep: ", reason, NULL));
		return;
	}
	worker_sweep_reschedule(worker, job->address, 0);
	worker->swept++;
	i_info("migrate worker: %s: swept, %"PRIu64" messages copied from the "
	       "legacy server after the cut-over", job->address,
	       child_sweep_copied(&job->main));
	worker_job_print(job, "swept", "");
}

/* ---- steps ------------------------------------------------------------- */

static void worker_read_local_counts(struct import_job *job, struct child *child)
{
	uint32_t folders;
	uint64_t messages, bytes;

	if (!child_count(child, &folders, &messages, &bytes))
		return;
	job->progress.folders_done = folders;
	job->progress.messages_done = messages;
	job->progress.bytes_done = bytes;
}

/* The legacy host said it is throttling: the job goes back (an import to
   the queue, a sweep to the schedule), not counted as the account's
   failure; the host's back-off holds it until then. */
static void worker_job_throttled(struct worker *worker, struct import_job *job,
				 const char *reason)
{
	char error[512];
	time_t retry_at;

	(void)legacy_hosts_admit(worker->hosts, job_legacy_host(job), 0, &retry_at);
	worker->deferred_until = I_MAX(worker->deferred_until, retry_at);
	if (job->step == STEP_SWEEP)
		worker_sweep_reschedule(worker, job->address, retry_at);
	else if (migrate_store_account_transition(worker->store, job->address,
			MIGRATE_STATE_IMPORTING, MIGRATE_STATE_QUEUED, NULL, 0,
			error, sizeof(error)) < 0)
		worker_store_error(job->address, error);
	worker_job_print(job, "deferred", reason);
}

/* What a step that talked to the legacy host says about it. FALSE when
   the job is over (the host was throttling). */
static bool worker_job_pace(struct worker *worker, struct import_job *job,
			    bool ok, int status)
{
	const char *reason;

	if (job_legacy_host(job) == NULL || job->step == STEP_DISCARD ||
	    job->step == STEP_FLUSH || job->step == STEP_COUNT_LOCAL)
		return TRUE;
	if (ok) {
		(void)legacy_hosts_report(worker->hosts, job_legacy_host(job),
					  LEGACY_HOST_OK, "");
		return TRUE;
	}
	reason = child_reason(&job->main, status);
	if (!import_reason_is_throttle(reason) ||
	    !legacy_hosts_report(worker->hosts, job_legacy_host(job),
				 LEGACY_HOST_THROTTLED, reason))
		return TRUE;
	worker_job_throttled(worker, job, reason);
	return FALSE;
}

/* The legacy counts ended with status: the totals of the progress
   record, and whether the host is slow. Their failure is only logged: the
   pass beside them meets the same legacy server and says why. */
static void worker_job_legacy_counted(struct worker *worker, struct import_job *job,
				      struct child *child, int status)
{
	bool slow = time(NULL) - job->started >= worker->config->legacy_slow_secs;

	job->counting_legacy = FALSE;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    !child_legacy_count(child, &job->progress.folders_total,
				&job->progress.messages_total)) {
		const char *reason = child_reason(child, status);

		i_warning("migrate worker: %s: counting the legacy folders failed: %s",
			  job->address, reason);
		if (job_legacy_host(job) != NULL && import_reason_is_throttle(reason)) {
			(void)legacy_hosts_report(worker->hosts, job_legacy_host(job),
						  LEGACY_HOST_THROTTLED, reason);
		}
		return;
	}
	worker_save_progress(worker, job);
	if (slow && job_legacy_host(job) != NULL) {
		(void)legacy_hosts_report(worker->hosts, job_legacy_host(job),
					  LEGACY_HOST_SLOW, "counting its folders took long");
	}
}

/* The sized legacy count of an account with a quota ended with status:
   a mailbox that would not fit is not imported (failed, with the sizes
   in its reason) rather than failing half-way at the quota. */
static bool worker_job_quota_checked(struct worker *worker, struct import_job *job,
				     int status)
{
	uint64_t bytes = 0, quota = job->quota_kbytes * 1024;
	const char *reason;

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    !child_count(&job->main, &job->progress.folders_total,
			 &job->progress.messages_total, &bytes)) {
		reason = t_strdup_printf("checking the legacy mailbox size "
					 "against the quota failed: %s",
					 child_reason(&job->main, status));
		child_close(&job->main);
		worker_job_failed(worker, job, reason);
		return FALSE;
	}
	child_close(&job->main);
	worker_save_progress(worker, job);
	if (bytes > quota) {
		worker_job_failed(worker, job, t_strdup_printf(
			"over quota: the legacy mailbox holds %"PRIu64" MB, the "
			"quota is %"PRIu64" MB; not imported (raise the quota, "
			"then doveadm migrate retry)",
			(bytes + 1024 * 1024 - 1) / (1024 * 1024),
			quota / (1024 * 1024)));
		return FALSE;
	}
	i_info("migrate worker: %s: the legacy mailbox (%"PRIu64" MB) fits "
	       "the quota (%"PRIu64" MB)", job->address,
	       (bytes + 1024 * 1024 - 1) / (1024 * 1024), quota / (1024 * 1024));
	job->quota_kbytes = 0;
	return worker_job_next_pass(worker, job);
}

/* The final local count ended with status (-1: none ran): done = total,
   the bytes from the local count. Only progress: a failed count leaves
   the bytes as the pass left them. */
static bool worker_job_locally_counted(struct worker *worker, struct import_job *job,
				       int status)
{
	uint32_t folders;
	uint64_t messages, bytes;

	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    child_count(&job->main, &folders, &messages, &bytes)) {
		job->progress.bytes_done = job->progress.bytes_total = bytes;
		if (job->progress.messages_total == 0) {
			/* the legacy counts failed: the local ones stand in */
			job->progress.folders_total = folders;
			job->progress.messages_total = messages;
		}
	} else {
		i_warning("migrate worker: %s: counting the local folders failed",
			  job->address);
		job->progress.bytes_total = job->progress.bytes_done;
	}
	job->progress.folders_done = job->progress.folders_total;
	job->progress.messages_done = job->progress.messages_total;
	return worker_job_synced(worker, job);
}

/* The job's passes are over and exact: the local side now holds the
   folders and messages the legacy counts found, and the local size is
   the bytes total (the legacy side is not asked for sizes): one local
   count. TRUE while it runs. */
static bool worker_job_passes_done(struct worker *worker, struct import_job *job)
{
	worker_job_await_legacy_count(worker, job);
	job->step = STEP_COUNT_LOCAL;
	if (child_spawn_count(worker->dovecot_config, &job->main, job->address,
			      job->protocol, NULL, CHILD_COUNT_LOCAL) == 0)
		return TRUE;
	return worker_job_locally_counted(worker, job, -1);
}

/* The main child of a job ended with status: next step. FALSE when the
   job is over. */
static bool worker_job_step(struct worker *worker, struct import_job *job,
			    int status)
{
	bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	char error[512];

	if (!worker_job_pace(worker, job, ok, status))
		return FALSE;
	switch (job->step) {
	case STEP_COUNT_LEGACY:
		if (job->quota_kbytes != 0)
			return worker_job_quota_checked(worker, job, status);
		worker_job_legacy_counted(worker, job, &job->main, status);
		child_close(&job->main);
		return worker_job_next_pass(worker, job);
	case STEP_PASS:
		if (!ok) {
			const char *reason = child_reason(&job->main, status);

			child_close(&job->main);
			if (job->dsync && !job->discarded &&
			    import_reason_cannot_recreate(reason)) {
				if (worker_job_discard(worker, job, t_strconcat(
					"dsync cannot repair it: ", reason, NULL)) == 0)
					return TRUE;
				worker_job_failed(worker, job, reason);
				return FALSE;
			}
			if (!import_reason_is_auth(reason) &&
			    job->retries++ < WORKER_PASS_RETRIES) {
				i_warning("migrate worker: %s: pass failed, "
					  "trying again: %s", job->address, reason);
				return worker_job_next_pass(worker, job);
			}
			worker_job_failed(worker, job, reason);
			return FALSE;
		}
		child_close(&job->main);
		if (worker_job_wants_another_pass(worker, job)) {
			job->progress.pass++;
			worker_save_progress(worker, job);
			return worker_job_next_pass(worker, job);
		}
		if (job->dsync) {
			job->step = STEP_FLUSH;
			if (child_spawn_flush(worker->dovecot_config, &job->main,
					      job->address, worker->config->path,
					      FALSE) == 0)
				return TRUE;
			worker_job_failed(worker, job, "could not start the flush");
			return FALSE;
		}
		return worker_job_passes_done(worker, job);
	case STEP_DISCARD:
	case STEP_FLUSH:
		if (!ok) {
			worker_job_failed(worker, job, child_reason(&job->main, status));
			return FALSE;
		}
		if (replica_mark_flushed(worker->store, job->address,
					 error, sizeof(error)) < 0) {
			worker_job_failed(worker, job, error);
			return FALSE;
		}
		if (job->step == STEP_DISCARD) {
			const char *const *row;

			for (row = child_output_rows(&job->main); *row != NULL; row++) {
				const char *const *f = t_strsplit_tabescaped(*row);

				if (str_array_length(f) == 2) {
					i_info("migrate worker: %s: local copy %s "
					       "moved to %s", job->address, f[0], f[1]);
				}
			}
			/* copied anew from scratch */
			child_close(&job->main);
			job->passes--;
			return worker_job_next_pass(worker, job);
		}
		child_close(&job->main);
		return worker_job_passes_done(worker, job);
	case STEP_COUNT_LOCAL:
		return worker_job_locally_counted(worker, job, status);
	case STEP_CUTOVER:
		worker_job_cutover_done(worker, job, status);
		return FALSE;
	case STEP_SWEEP:
		worker_sweep_done(worker, job, ok ? NULL :
				  child_reason(&job->main, status));
		return FALSE;
	}
	i_unreached();
}

/* While the pass runs: the legacy counts first, then the local counts
   every few seconds. */
static void worker_job_count(struct worker *worker, struct import_job *job)
{
	int status;

	if (job->counter.pid > 0) {
		if ((status = child_status(&job->counter)) == -1)
			return;
		if (job->counting_legacy)
			worker_job_legacy_counted(worker, job, &job->counter, status);
		else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			worker_read_local_counts(job, &job->counter);
			worker_save_progress(worker, job);
		}
		child_close(&job->counter);
		job->counted = time(NULL);
		return;
	}
	if (job->legacy_count_due != 0 && time(NULL) >= job->legacy_count_due &&
	    job->step == STEP_PASS) {
		job->legacy_count_due = 0;
		job->counting_legacy = child_spawn_count(worker->dovecot_config,
			&job->counter, job->address, job->protocol, job->domain,
			CHILD_COUNT_LEGACY) == 0;
		return;
	}
	if (job->step == STEP_PASS && time(NULL) - job->counted >= WORKER_COUNT_SECS &&
	    child_spawn_count(worker->dovecot_config, &job->counter,
			      job->address, job->protocol, NULL,
			      CHILD_COUNT_LOCAL) < 0)
		job->counted = time(NULL);
}

/* The job is done: its legacy counts, started beside a long first pass
   and nearly always over by now, give the totals. */
static void worker_job_await_legacy_count(struct worker *worker, struct import_job *job)
{
	int status;

	if (!job->counting_legacy || job->counter.pid <= 0)
		return;
	if ((status = child_status(&job->counter)) != -1) {
		worker_job_legacy_counted(worker, job, &job->counter, status);
		child_close(&job->counter);
		return;
	}
	/* still counting: after an exact pass the local counts are the
	   legacy mailbox's too, and they stand in (the loop never waits) */
	child_abort(&job->counter);
	job->counting_legacy = FALSE;
}

static unsigned int worker_host_imports(struct worker *worker, const char *host)
{
	const struct import_job *job;
	unsigned int count = 0;

	array_foreach(&worker->jobs, job) {
		if (null_strcmp(job_legacy_host(job), host) == 0)
			count++;
	}
	return count;
}

/* Sets the job's legacy host; TRUE when that host cannot take another job
   (imports and sweeps alike) before *retry_at_r: it runs as many as its
   pacing allows (imports_per_legacy_host, fewer under strain), or backs
   off. */
static bool worker_host_full(struct worker *worker, struct import_job *job,
			     const struct migrate_account *account,
			     time_t *retry_at_r)
{
	job->domain = migrate_config_find_domain(worker->config, account->domain);
	return job->domain != NULL &&
		!legacy_hosts_admit(worker->hosts, job_legacy_host(job),
				    worker_host_imports(worker, job_legacy_host(job)),
				    retry_at_r);
}

/* The account's legacy host already runs imports_per_legacy_host
   imports: the job goes back to the queue for a moment. */
static bool worker_host_busy(struct worker *worker, struct import_job *job,
			     const struct migrate_account *account)
{
	unsigned int running, limit;
	char error[512];
	time_t due;

	if (!worker_host_full(worker, job, account, &due))
		return FALSE;
	due = I_MAX(due, time(NULL) + WORKER_HOST_BUSY_SECS);
	if (migrate_store_queue_release(worker->store, job->address, getpid(),
					due, error, sizeof(error)) < 0)
		worker_store_error(job->address, error);
	worker->deferred_until = I_MAX(worker->deferred_until, due);
	running = worker_host_imports(worker, job_legacy_host(job));
	limit = legacy_hosts_limit(worker->hosts, job_legacy_host(job));
	if (running < limit) {
		i_info("migrate worker: %s: deferred, legacy host %s backs off "
		       "for %ld s", job->address, job_legacy_host(job),
		       (long)(due - time(NULL)));
	} else {
		i_info("migrate worker: %s: deferred, legacy host %s runs %u "
		       "imports (its limit now: %u)", job->address,
		       job_legacy_host(job), running, limit);
	}
	return TRUE;
}

/* Moves a taken account to importing. FALSE when it cannot be imported
   now (the job is given back or dropped). */
static bool worker_job_begin(struct worker *worker, struct import_job *job)
{
	struct migrate_account account;
	char error[512];
	int ret;

	ret = migrate_store_account_get(worker->store, job->address, &account,
					error, sizeof(error));
	if (ret <= 0) {
		if (ret < 0)
			worker_store_error(job->address, error);
		(void)migrate_store_queue_release(worker->store, job->address,
						  getpid(), -1, error, sizeof(error));
		return FALSE;
	}
	job->protocol = account.protocol;
	job->progress = account.progress;
	job->local = account.local;
	/* only before anything was imported: later passes bring only what
	   is new, and the quota plugin has its say on that */
	if (account.progress.pass == 0) {
		job->quota_kbytes = account.quota_kbytes != 0 ?
			account.quota_kbytes : worker->config->default_quota;
	}
	if (account.state == MIGRATE_STATE_FAILED) {
		/* its retry time has come: queued again (a new queue entry,
		   taken at the next round) */
		if (migrate_store_account_transition(worker->store, job->address,
				MIGRATE_STATE_FAILED, MIGRATE_STATE_QUEUED, NULL, 0,
				error, sizeof(error)) < 0)
			worker_store_error(job->address, error);
		return FALSE;
	}
	switch (account.state) {
	case MIGRATE_STATE_QUEUED:
		if (worker_host_busy(worker, job, &account))
			return FALSE;
		break;
	case MIGRATE_STATE_IMPORTING:
		if (worker_host_busy(worker, job, &account))
			return FALSE;
		/* its worker died mid-pass: the pass is redone, exactly */
		i_info("migrate worker: %s: resuming an interrupted import",
		       job->address);
		return TRUE;
	case MIGRATE_STATE_SYNCED:
		if (worker->config->cutover == MIGRATE_CUTOVER_MANUAL &&
		    worker->config->resync_secs > 0) {
			/* waiting for the operator: a refresh pass keeps the
			   one at the cut-over short */
			if (worker_host_busy(worker, job, &account))
				return FALSE;
			break;
		}
		/* fall through */
	case MIGRATE_STATE_CUTOVER:
		if (worker->config->cutover == MIGRATE_CUTOVER_AUTO) {
			/* its worker died before or during the cut-over */
			job->domain = migrate_config_find_domain(worker->config,
								 account.domain);
			job->step = STEP_CUTOVER;
			return TRUE;
		}
		/* fall through */
	default:
		/* migrated, passwords-only, or synced for a manual cut-over:
		   nothing for a pass to do */
		(void)migrate_store_queue_release(worker->store, job->address,
						  getpid(), -1, error, sizeof(error));
		return FALSE;
	}
	if (migrate_store_account_transition(worker->store, job->address,
			account.state, MIGRATE_STATE_IMPORTING, NULL, 0,
			error, sizeof(error)) < 0) {
		/* the operator cut it over meanwhile, say */
		worker_store_error(job->address, error);
		(void)migrate_store_queue_release(worker->store, job->address,
						  getpid(), -1, error, sizeof(error));
		return FALSE;
	}
	return TRUE;
}

static void import_job_init(struct import_job *job)
{
	i_zero(job);
	job->main.out_fd = job->main.err_fd = -1;
	job->counter.out_fd = job->counter.err_fd = -1;
}

/* A job that is over takes its counter child along (a local count is
   quick, legacy counts still running are stopped): no zombie is left. */
static void worker_job_reap_counter(struct import_job *job)
{
	if (job->counting_legacy)
		child_abort(&job->counter);
	else {
		if (job->counter.pid > 0)
			(void)child_wait(&job->counter);
		child_close(&job->counter);
	}
}

/* Takes one job and starts it; FALSE when there is nothing to take. */
static bool worker_start_one(struct worker *worker)
{
	struct import_job job;
	char error[512];
	int ret;

	import_job_init(&job);
	ret = migrate_store_queue_take(worker->store, getpid(), WORKER_LEASE_SECS,
				       job.address, error, sizeof(error));
	if (ret <= 0) {
		if (ret < 0)
			worker_store_error("queue", error);
		return FALSE;
	}
	if (!worker_job_begin(worker, &job))
		return TRUE;
	job.started = job.renewed = job.counted = time(NULL);
	if (job.step == STEP_CUTOVER) {
		if (worker_job_start_cutover(worker, &job))
			array_push_back(&worker->jobs, &job);
		return TRUE;
	}
	if (job.quota_kbytes != 0 || job.protocol == MIGRATE_PROTOCOL_POP3) {
		/* a quota is checked before anything is imported */
		job.step = STEP_COUNT_LEGACY;
		ret = child_spawn_count(worker->dovecot_config, &job.main,
					job.address, job.protocol, job.domain,
					job.quota_kbytes != 0 ?
					CHILD_COUNT_LEGACY_SIZES : CHILD_COUNT_LEGACY);
	} else {
		/* the totals come beside the first pass, if it is still
		   running a moment later: it need not wait for them */
		job.legacy_count_due = job.started + WORKER_LEGACY_COUNT_DELAY_SECS;
		ret = worker_job_start_pass(worker, &job);
	}
	if (ret < 0) {
		job.counting_legacy = TRUE;
		worker_job_failed(worker, &job, "could not start doveadm");
		worker_job_reap_counter(&job);
		return TRUE;
	}
	i_info("migrate worker: %s: import started (%s)", job.address,
	       job.protocol == MIGRATE_PROTOCOL_POP3 ? "pop3c" : "imapc");
	array_push_back(&worker->jobs, &job);
	return TRUE;
}

/* Takes one due sweep and starts it; FALSE when none is due. */
static bool worker_start_sweep(struct worker *worker)
{
	struct migrate_account account;
	struct import_job job;
	char error[512];
	time_t due;
	int ret;

	import_job_init(&job);
	ret = migrate_store_sweep_take(worker->store, WORKER_LEASE_SECS,
				       job.address, error, sizeof(error));
	if (ret <= 0) {
		if (ret < 0)
			worker_store_error("sweep schedule", error);
		return FALSE;
	}
	ret = migrate_store_account_get(worker->store, job.address, &account,
					error, sizeof(error));
	if (ret <= 0 || account.state != MIGRATE_STATE_MIGRATED) {
		/* forgotten, or sent back (a failed cut-over): not ours */
		worker_sweep_reschedule(worker, job.address, 0);
		return TRUE;
	}
	if (worker_host_full(worker, &job, &account, &due)) {
		due = I_MAX(due, time(NULL) + WORKER_HOST_BUSY_SECS);
		worker_sweep_reschedule(worker, job.address, due);
		worker->deferred_until = I_MAX(worker->deferred_until, due);
		return TRUE;
	}
	job.protocol = account.protocol;
	job.started = job.renewed = time(NULL);
	job.step = STEP_SWEEP;
	if (child_spawn_sweep(worker->dovecot_config, &job.main, job.address,
			      worker->config->path, 0, FALSE) < 0) {
		worker_sweep_done(worker, &job, "could not start doveadm");
		return TRUE;
	}
	i_info("migrate worker: %s: sweep started", job.address);
	array_push_back(&worker->jobs, &job);
	return TRUE;
}

/* Keeps a running job's lease: the queue's, or a sweep's schedule. */
static void worker_job_renew(struct worker *worker, struct import_job *job)
{
	char error[512];

	job->renewed = time(NULL);
	if (job->step == STEP_SWEEP) {
		worker_sweep_reschedule(worker, job->address,
					time(NULL) + WORKER_LEASE_SECS);
		return;
	}
	if (migrate_store_queue_renew(worker->store, job->address, getpid(),
				      WORKER_LEASE_SECS, error, sizeof(error)) < 0)
		worker_store_error(job->address, error);
}

/* Steps that wait on the legacy server are stopped when they stall
   (import_stall_secs); the step's failure then says so. */
static void worker_job_check_stalls(struct worker *worker, struct import_job *job)
{
	unsigned int secs = worker->config->import_stall_secs;

	if ((job->step == STEP_PASS || job->step == STEP_COUNT_LEGACY ||
	     job->step == STEP_SWEEP) && child_stop_if_stalled(&job->main, secs)) {
		i_warning("migrate worker: %s: nothing read from the legacy server "
			  "for %u s: step stopped", job->address, secs);
	}
	if (job->counting_legacy)
		(void)child_stop_if_stalled(&job->counter, secs);
}

/* Advances finished steps, counts, and renews the leases of running
   jobs. */
static void worker_reap(struct worker *worker)
{
	struct import_job *job;
	unsigned int i;
	int status;

	for (i = 0; i < array_count(&worker->jobs); ) {
		bool running = TRUE;

		job = array_idx_modifiable(&worker->jobs, i);
		T_BEGIN {
			worker_job_count(worker, job);
			worker_job_check_stalls(worker, job);
			if ((status = child_status(&job->main)) != -1)
				running = worker_job_step(worker, job, status);
		} T_END;
		if (!running) {
			child_close(&job->main);
			worker_job_reap_counter(job);
			array_delete(&worker->jobs, i, 1);
			continue;
		}
		if (time(NULL) - job->renewed >= WORKER_RENEW_SECS)
			worker_job_renew(worker, job);
		i++;
	}
}

/* metrics_file: the OpenMetrics text, replaced whole (a scraper never
   reads half a file). */
static void worker_write_metrics(struct worker *worker)
{
	const char *path = worker->config->metrics_file;
	const char *tmp = t_strconcat(path, ".tmp", NULL);
	string_t *out = t_str_new(2048);
	int fd;

	worker->metrics_written = time(NULL);
	if (doveadm_migrate_openmetrics(worker->store, out) < 0)
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		i_error("migrate worker: open(%s) failed: %m", tmp);
		return;
	}
	if (write_full(fd, str_data(out), str_len(out)) < 0) {
		i_error("migrate worker: write(%s) failed: %m", tmp);
		i_close_fd(&fd);
		i_unlink(tmp);
		return;
	}
	i_close_fd(&fd);
	if (rename(tmp, path) < 0)
		i_error("migrate worker: rename(%s, %s) failed: %m", tmp, path);
}

static void worker_run(struct worker *worker)
{
	bool idle = FALSE;

	while (!master_service_is_killed(master_service)) {
		worker_reap(worker);
		idle = FALSE;
		while (array_count(&worker->jobs) < worker->max_jobs && !idle)
			idle = !worker_start_one(worker);
		while (array_count(&worker->jobs) < worker->max_jobs &&
		       worker_start_sweep(worker)) ;
		if (worker->config->metrics_file != NULL &&
		    time(NULL) - worker->metrics_written >= WORKER_METRICS_SECS) T_BEGIN {
			worker_write_metrics(worker);
		} T_END;
		if (worker->once && idle && array_count(&worker->jobs) == 0 &&
		    time(NULL) >= worker->deferred_until)
			break;
		/* woken as soon as a step is over */
		import_pool_wait(worker->pool, array_count(&worker->jobs) > 0 ?
				 WORKER_POLL_MSECS : WORKER_IDLE_MSECS);
	}
	/* stopping: let running passes finish, their leases are ours */
	while (array_count(&worker->jobs) > 0) {
		worker_reap(worker);
		import_pool_wait(worker->pool, WORKER_POLL_MSECS);
	}
	if (worker->config->metrics_file != NULL) T_BEGIN {
		worker_write_metrics(worker);
	} T_END;
}

void cmd_migrate_worker(struct doveadm_cmd_context *cctx)
{
	struct migrate_store_settings set;
	struct worker worker;
	int64_t jobs = 0;
	char error[512];

	i_zero(&worker);
	if ((worker.config = doveadm_migrate_cmd_config(cctx)) == NULL)
		return;
	child_set_pace((uint64_t)worker.config->import_kbytes_per_sec * 1000);
	(void)doveadm_cmd_param_bool(cctx, "once", &worker.once);
	(void)doveadm_cmd_param_int64(cctx, "jobs", &jobs);
	worker.max_jobs = jobs > 0 ? (unsigned int)jobs : worker.config->workers;
	if (worker.max_jobs == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		worker.max_jobs = 2 * (cpus > 0 ? (unsigned int)cpus : 1);
	}
	worker.dovecot_config = master_service_get_config_path(master_service);

	migrate_store_settings_from_config(&set, worker.config, MIGRATE_STORE_WRITE);
	if (migrate_store_open(&set, &worker.store, error, sizeof(error)) < 0) {
		i_error("%s", error);
		doveadm_exit_code = EX_TEMPFAIL;
		migrate_config_free(&worker.config);
		return;
	}
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	doveadm_print_header_simple("account");
	doveadm_print_header_simple("result");
	doveadm_print_header_simple("reason");
	i_array_init(&worker.jobs, 8);
	worker.hosts = legacy_hosts_init(worker.config->imports_per_legacy_host);
	/* a job runs at most two steps at once (a pass and a count) */
	worker.pool = import_pool_init(2 * worker.max_jobs,
				       worker.dovecot_config);
	child_use_pool(worker.pool);
	i_info("migrate worker: started, %u imports at once", worker.max_jobs);
	worker_run(&worker);
	i_info("migrate worker: stopped; %u synced, %u migrated, %u failed, "
	       "%u swept", worker.synced, worker.migrated, worker.failed,
	       worker.swept);
	child_use_pool(NULL);
	import_pool_deinit(&worker.pool);
	array_free(&worker.jobs);
	legacy_hosts_deinit(&worker.hosts);
	migrate_store_close(&worker.store);
	migrate_config_free(&worker.config);
}
