/* The worker's scheduler, see import-worker.h: jobs taken from the queue
   and the sweep schedule, the per-host caps, leases kept, stalls
   stopped, and the loop that waits on the pool of import processes. */

#include "lib.h"
#include "array.h"
#include "master-service.h"

#include "migrate-config.h"
#include "migrate-store.h"
#include "import-hosts.h"
#include "import-pool.h"
#include "import-worker-private.h"

#include <time.h>
#include <unistd.h>

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
		job.legacy_count_due_ms = migrate_account_now_ms() +
			WORKER_LEGACY_COUNT_DELAY_SECS * 1000;
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

static void worker_tick(struct worker *worker)
{
	if (worker->set->tick != NULL &&
	    time(NULL) - worker->ticked >= (time_t)worker->set->tick_secs) T_BEGIN {
		worker->ticked = time(NULL);
		worker->set->tick(worker->set->context);
	} T_END;
}

static void worker_loop(struct worker *worker)
{
	bool idle = FALSE;

	while (!master_service_is_killed(master_service)) {
		worker_reap(worker);
		idle = FALSE;
		while (array_count(&worker->jobs) < worker->max_jobs && !idle)
			idle = !worker_start_one(worker);
		while (array_count(&worker->jobs) < worker->max_jobs &&
		       worker_start_sweep(worker)) ;
		worker_tick(worker);
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
	if (worker->set->tick != NULL) T_BEGIN {
		worker->set->tick(worker->set->context);
	} T_END;
}

void import_worker_run(const struct import_worker_settings *set,
		       struct import_worker_totals *totals_r)
{
	struct worker worker;

	i_zero(&worker);
	worker.set = set;
	worker.config = set->config;
	worker.store = set->store;
	worker.dovecot_config = set->dovecot_config;
	worker.max_jobs = set->max_jobs;
	worker.once = set->once;
	i_array_init(&worker.jobs, 8);
	worker.hosts = legacy_hosts_init(worker.config->imports_per_legacy_host);
	/* a job runs at most two steps at once (a pass and a count) */
	worker.pool = import_pool_init(2 * worker.max_jobs, worker.dovecot_config);
	child_use_pool(worker.pool);
	i_info("migrate worker: started, %u imports at once", worker.max_jobs);
	worker_loop(&worker);
	i_info("migrate worker: stopped; %u synced, %u migrated, %u failed, "
	       "%u swept", worker.synced, worker.migrated, worker.failed,
	       worker.swept);
	child_use_pool(NULL);
	import_pool_deinit(&worker.pool);
	array_free(&worker.jobs);
	legacy_hosts_deinit(&worker.hosts);
	totals_r->synced = worker.synced;
	totals_r->migrated = worker.migrated;
	totals_r->failed = worker.failed;
	totals_r->swept = worker.swept;
}
