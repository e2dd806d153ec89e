/* The step machine of an import job, see import-worker.h: a job's
   passes, counts, flush and cut-over, and what each step's end means for
   the account's state. */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "strescape.h"
#include "time-util.h"

#include "migrate-config.h"
#include "migrate-store.h"
#include "import-hosts.h"
#include "import-reasons.h"
#include "import-replica.h"
#include "import-worker-private.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void worker_job_await_legacy_count(struct worker *worker,
					  struct import_job *job);

void worker_store_error(const char *what, const char *error)
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

static void worker_job_print(struct worker *worker, struct import_job *job,
			     const char *result, const char *reason)
{
	if (worker->set->result != NULL)
		worker->set->result(job->address, result, reason, worker->set->context);
}

void worker_job_failed(struct worker *worker, struct import_job *job,
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
	worker_job_print(worker, job, "failed", reason);
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
bool worker_job_start_cutover(struct worker *worker, struct import_job *job)
{
	child_close(&job->main);
	job->step = STEP_CUTOVER;
	if (child_spawn_account_step(worker->dovecot_config, &job->main,
				     "cutover", job->address,
				     worker->config->path, NULL) == 0)
		return TRUE;
	i_error("migrate worker: %s: could not start the cut-over", job->address);
	worker->failed++;
	worker_job_print(worker, job, "failed", "cut-over: could not start doveadm");
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
		worker_job_print(worker, job, "migrated", "");
		return;
	}
	reason = child_reason(&job->main, status);
	i_error("migrate worker: %s: cut-over failed: %s", job->address, reason);
	worker->failed++;
	worker_job_print(worker, job, "failed", t_strconcat("cut-over: ", reason, NULL));
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
	worker_job_print(worker, job, "synced", "");
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

int worker_job_start_pass(struct worker *worker, struct import_job *job)
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

void worker_sweep_reschedule(struct worker *worker, const char *address,
				    int64_t due)
{
	char error[512];

	if (migrate_store_sweep_schedule(worker->store, address, due,
					 error, sizeof(error)) < 0)
		worker_store_error(address, error);
}

/* reason NULL: the sweep succeeded and leaves the schedule */
void worker_sweep_done(struct worker *worker, struct import_job *job,
			      const char *reason)
{
	if (reason != NULL) {
		int64_t due = time(NULL) + WORKER_SWEEP_RETRY_SECS;

		worker_sweep_reschedule(worker, job->address, due);
		worker->failed++;
		i_warning("migrate worker: %s: sweep failed (retry at %s): %s",
			  job->address, t_strflocaltime("%Y-%m-%d %H:%M:%S", due),
			  reason);
		worker_job_print(worker, job, "failed", t_strconcat("sweep: ", reason, NULL));
		return;
	}
	worker_sweep_reschedule(worker, job->address, 0);
	worker->swept++;
	i_info("migrate worker: %s: swept, %"PRIu64" messages copied from the "
	       "legacy server after the cut-over", job->address,
	       child_sweep_copied(&job->main));
	worker_job_print(worker, job, "swept", "");
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
	worker_job_print(worker, job, "deferred", reason);
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
bool worker_job_step(struct worker *worker, struct import_job *job,
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
void worker_job_count(struct worker *worker, struct import_job *job)
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
	if (job->legacy_count_due_ms != 0 &&
	    migrate_account_now_ms() >= job->legacy_count_due_ms &&
	    job->step == STEP_PASS) {
		job->legacy_count_due_ms = 0;
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
