/* doveadm migrate finish [-c migrate.conf] [-m DAYS] [--keep-credentials]

   The end of the migration (IceWarp's "Concluir", the guide's last
   `maxage` pass). Every migrated account gets a last sweep of the ledger
   copier (-m DAYS: only legacy messages received in the last DAYS days),
   which copies what the legacy server received since the cut-over and
   nothing twice. Then its stored legacy credential is wiped (unless
   --keep-credentials) and it is an ordinary local account: its logins
   check the stored hash, and nothing reads the legacy server for it any
   more (a later finish passes it by). With --keep-credentials it stays
   as it was, and a later finish sweeps it again (copying nothing twice).
   Accounts not migrated yet are left alone, credentials included.

   Up to imports_per_legacy_host sweeps run at once (the legacy server
   still serves the accounts not yet moved). One row per account:
   account, copied, result (finished | failed), reason. Exit status 75
   when a sweep failed: running finish again is safe. */

#include "lib.h"
#include "array.h"
#include "master-service.h"
#include "doveadm.h"
#include "doveadm-cmd.h"
#include "doveadm-print.h"

#include "migrate-config.h"
#include "migrate-store.h"
#include "doveadm-migrate.h"
#include "import-child.h"

#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#define FINISH_POLL_MSECS 100

struct finish_job {
	const char *address;
	struct child child;
};

struct finish {
	struct migrate_config *config;
	struct migrate_store *store;
	const char *dovecot_config;
	int64_t maxage_days;
	bool keep_credentials;
	ARRAY(char *) accounts;
	ARRAY(struct finish_job) running;
	unsigned int finished, failed, pending, earlier;
};

/* Migrated accounts, but those a finish already completed (credential
   wiped: nothing left to read on the legacy server). */
static int finish_collect(const struct migrate_account *account, void *context)
{
	struct finish *f = context;
	struct migrate_ledger_account la;
	char error[512], *address;

	if (migrate_store_ledger_account_get(f->store, account->address, &la,
					     error, sizeof(error)) < 0) {
		i_error("migrate finish: %s: %s", account->address, error);
		return -1;
	}
	if (la.finished) {
		f->earlier++;
		return 0;
	}
	address = i_strdup(account->address);
	array_push_back(&f->accounts, &address);
	return 0;
}

static int finish_not_migrated(const struct migrate_account *account, void *context)
{
	struct finish *f = context;

	if (account->state != MIGRATE_STATE_MIGRATED &&
	    account->state != MIGRATE_STATE_PASSWORDS_ONLY)
		f->pending++;
	return 0;
}

static void finish_print(const char *address, uint64_t copied, const char *result,
			 const char *reason)
{
	doveadm_print(address);
	doveadm_print_num(copied);
	doveadm_print(result);
	doveadm_print(reason);
}

/* The sweep succeeded: the account is done with the legacy server. */
static const char *finish_account(struct finish *f, const char *address)
{
	struct migrate_ledger_account la;
	char error[512];

	if (f->keep_credentials)
		return NULL;
	if (migrate_store_secret_wipe_credential(f->store, address, error,
						 sizeof(error)) < 0 ||
	    migrate_store_ledger_account_get(f->store, address, &la, error,
					     sizeof(error)) < 0)
		return t_strdup(error);
	la.finished = TRUE;
	la.sweep_due = 0;
	if (migrate_store_ledger_account_set(f->store, address, &la, error,
					     sizeof(error)) < 0)
		return t_strdup(error);
	return NULL;
}

static void finish_job_done(struct finish *f, struct finish_job *job, int status)
{
	const char *reason = NULL;
	uint64_t copied = 0;

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		reason = child_reason(&job->child, status);
	else {
		copied = child_sweep_copied(&job->child);
		reason = finish_account(f, job->address);
	}
	child_close(&job->child);
	if (reason != NULL) {
		f->failed++;
		i_error("migrate finish: %s: %s", job->address, reason);
		finish_print(job->address, copied, "failed", reason);
		return;
	}
	f->finished++;
	i_info("migrate finish: %s: finished, %"PRIu64" messages copied",
	       job->address, copied);
	finish_print(job->address, copied, "finished", "");
}

static void finish_reap(struct finish *f)
{
	struct finish_job *job;
	unsigned int i;
	int status;

	for (i = 0; i < array_count(&f->running); ) {
		job = array_idx_modifiable(&f->running, i);
		if ((status = child_status(&job->child)) == -1) {
			i++;
			continue;
		}
		T_BEGIN {
			finish_job_done(f, job, status);
		} T_END;
		array_delete(&f->running, i, 1);
	}
}

static void finish_run(struct finish *f)
{
	unsigned int next = 0, max = f->config->imports_per_legacy_host;

	while (next < array_count(&f->accounts) || array_count(&f->running) > 0) {
		finish_reap(f);
		while (next < array_count(&f->accounts) &&
		       array_count(&f->running) < max) {
			struct finish_job job;

			i_zero(&job);
			job.address = *array_idx(&f->accounts, next++);
			if (child_spawn_sweep(f->dovecot_config, &job.child,
					      job.address, f->config->path,
					      (unsigned int)f->maxage_days, FALSE) < 0) {
				f->failed++;
				finish_print(job.address, 0, "failed",
					     "could not start doveadm");
				continue;
			}
			array_push_back(&f->running, &job);
		}
		if (array_count(&f->running) > 0)
			usleep(FINISH_POLL_MSECS * 1000);
	}
}

static int finish_open(struct finish *f, struct doveadm_cmd_context *cctx)
{
	struct migrate_store_settings set;
	char error[512];

	if ((f->config = doveadm_migrate_cmd_config(cctx)) == NULL)
		return -1;
	child_set_pace((uint64_t)f->config->import_kbytes_per_sec * 1000);
	(void)doveadm_cmd_param_int64(cctx, "maxage", &f->maxage_days);
	(void)doveadm_cmd_param_bool(cctx, "keep-credentials", &f->keep_credentials);
	if (f->maxage_days < 0 || f->maxage_days > 100000) {
		i_error("migrate finish: --maxage: not a number of days");
		doveadm_exit_code = EX_USAGE;
		return -1;
	}
	f->dovecot_config = master_service_get_config_path(master_service);
	migrate_store_settings_from_config(&set, f->config, MIGRATE_STORE_WRITE);
	if (migrate_store_open(&set, &f->store, error, sizeof(error)) < 0 ||
	    migrate_store_account_iterate_state(f->store, MIGRATE_STATE_MIGRATED,
						finish_collect, f, error,
						sizeof(error)) < 0 ||
	    migrate_store_account_iterate(f->store, finish_not_migrated, f,
					  error, sizeof(error)) < 0) {
		i_error("%s", error);
		doveadm_exit_code = EX_TEMPFAIL;
		return -1;
	}
	return 0;
}

void cmd_migrate_finish(struct doveadm_cmd_context *cctx)
{
	struct finish f;
	char **address;

	i_zero(&f);
	i_array_init(&f.accounts, 64);
	i_array_init(&f.running, 8);
	if (finish_open(&f, cctx) == 0) {
		doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
		doveadm_print_header_simple("account");
		doveadm_print_header_simple("copied");
		doveadm_print_header_simple("result");
		doveadm_print_header_simple("reason");
		finish_run(&f);
		i_info("migrate finish: %u accounts finished, %u failed, %u "
		       "finished earlier, %u not migrated yet (left alone)",
		       f.finished, f.failed, f.earlier, f.pending);
		if (f.failed > 0)
			doveadm_exit_code = EX_TEMPFAIL;
	}
	array_foreach_modifiable(&f.accounts, address)
		i_free(*address);
	array_free(&f.accounts);
	array_free(&f.running);
	if (f.store != NULL)
		migrate_store_close(&f.store);
	if (f.config != NULL)
		migrate_config_free(&f.config);
}
