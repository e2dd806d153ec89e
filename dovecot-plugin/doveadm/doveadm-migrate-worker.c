/* doveadm migrate worker [-c migrate.conf] [-j JOBS] [--once]

   The front-end of the import worker (dovecot-plugin/import/,
   import-worker.h): its options, the store, one row per job's outcome,
   and metrics_file rewritten every WORKER_METRICS_SECS. */

#include "lib.h"
#include "str.h"
#include "write-full.h"
#include "master-service.h"
#include "doveadm.h"
#include "doveadm-cmd.h"
#include "doveadm-print.h"

#include "migrate-config.h"
#include "migrate-store.h"
#include "doveadm-migrate.h"
#include "import-child.h"
#include "import-worker.h"

#include <fcntl.h>
#include <sysexits.h>
#include <unistd.h>

/* metrics_file is rewritten this often */
#define WORKER_METRICS_SECS 15

struct migrate_worker_cmd {
	struct migrate_config *config;
	struct migrate_store *store;
};

static void worker_print_result(const char *address, const char *result,
				const char *reason, void *context ATTR_UNUSED)
{
	doveadm_print(address);
	doveadm_print(result);
	doveadm_print(reason);
}

/* metrics_file: the OpenMetrics text, replaced whole (a scraper never
   reads half a file). */
static void worker_write_metrics(void *context)
{
	struct migrate_worker_cmd *cmd = context;
	const char *path = cmd->config->metrics_file;
	const char *tmp = t_strconcat(path, ".tmp", NULL);
	string_t *out = t_str_new(2048);
	int fd;

	if (doveadm_migrate_openmetrics(cmd->store, out) < 0)
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

void cmd_migrate_worker(struct doveadm_cmd_context *cctx)
{
	struct migrate_store_settings store_set;
	struct import_worker_settings set;
	struct import_worker_totals totals;
	struct migrate_worker_cmd cmd;
	int64_t jobs = 0;
	char error[512];

	i_zero(&cmd);
	i_zero(&set);
	if ((cmd.config = doveadm_migrate_cmd_config(cctx)) == NULL)
		return;
	child_set_pace((uint64_t)cmd.config->import_kbytes_per_sec * 1000);
	(void)doveadm_cmd_param_bool(cctx, "once", &set.once);
	(void)doveadm_cmd_param_int64(cctx, "jobs", &jobs);
	set.max_jobs = jobs > 0 ? (unsigned int)jobs : cmd.config->workers;
	if (set.max_jobs == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		set.max_jobs = 2 * (cpus > 0 ? (unsigned int)cpus : 1);
	}
	set.dovecot_config = master_service_get_config_path(master_service);

	migrate_store_settings_from_config(&store_set, cmd.config, MIGRATE_STORE_WRITE);
	if (migrate_store_open(&store_set, &cmd.store, error, sizeof(error)) < 0) {
		i_error("%s", error);
		doveadm_exit_code = EX_TEMPFAIL;
		migrate_config_free(&cmd.config);
		return;
	}
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	doveadm_print_header_simple("account");
	doveadm_print_header_simple("result");
	doveadm_print_header_simple("reason");
	set.config = cmd.config;
	set.store = cmd.store;
	set.result = worker_print_result;
	if (cmd.config->metrics_file != NULL) {
		set.tick = worker_write_metrics;
		set.tick_secs = WORKER_METRICS_SECS;
	}
	set.context = &cmd;
	import_worker_run(&set, &totals);
	migrate_store_close(&cmd.store);
	migrate_config_free(&cmd.config);
}
