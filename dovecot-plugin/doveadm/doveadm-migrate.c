/* doveadm plugin of dovecot-migrate: "doveadm migrate ..." commands, the
   front-ends of the import engine (dovecot-plugin/import/).

   version  shows that the plugin is loaded and which config it reads
   init     creates the store and the vault key, or repairs their owners
            and modes (doveadm-migrate-init.c)
   check    preflight: config, store, vault key, Dovecot and Postfix
            settings, the legacy hosts; one OK or FAIL line per check
   keygen   creates the vault key named by vault_key in migrate.conf
            (doveadm-migrate-init.c)
   add      records accounts with their legacy password (doveadm-migrate-add.c)
   worker   imports queued mailboxes (doveadm-migrate-worker.c)
   pool     internal: one of the worker's import processes
            (doveadm-migrate-pool.c, import-pool.h)
   pass     one import pass: dsync in process (doveadm-migrate-pass.c)
   cutover  switches a synced account to the new server
            (doveadm-migrate-cutover.c)
   status   statistics and per-account progress (doveadm-migrate-status.c)
   list, retry, forget
            the accounts (doveadm-migrate-accounts.c)
   finish   a last sweep of every migrated account, then its legacy
            credential wiped (doveadm-migrate-finish.c)
   sweep    the ledger copier: legacy messages not yet local, copied once
            (doveadm-migrate-sweep.c)
   verify   compares the legacy and the local mailbox, message by message
            (doveadm-migrate-verify.c)
   special-folders, archive, aliases
            the cut-over's steps on the local copy (doveadm-migrate-special.c,
            -archive.c, -aliases.c)
   flush    writes a dsync-imported local copy to disk, or discards it
            (doveadm-migrate-flush.c, import-replica.h) */

#include "lib.h"
#include "module-dir.h"
#include "doveadm.h"
#include "doveadm-cmd.h"
#include "doveadm-print.h"
#include "doveadm-mail.h"

#include "dovecot-migrate-config.h"
#include "migrate-address.h"
#include "migrate-config.h"
#include "migrate-store.h"
#include "migrate-vault.h"
#include "doveadm-migrate.h"

#include <pwd.h>
#include <sysexits.h>
#include <unistd.h>

const char *doveadm_migrate_plugin_version = DOVECOT_ABI_VERSION;

void doveadm_migrate_plugin_init(struct module *module);
void doveadm_migrate_plugin_deinit(void);

struct migrate_config *doveadm_migrate_cmd_config(struct doveadm_cmd_context *cctx)
{
	const char *path = doveadm_migrate_default_config_path();
	struct migrate_config *config;
	char error[512];

	(void)doveadm_cmd_param_str(cctx, "config", &path);
	if (migrate_config_load(path, &config, error, sizeof(error)) < 0) {
		i_error("%s", error);
		doveadm_exit_code = EX_CONFIG;
		return NULL;
	}
	doveadm_migrate_default_store_user(config);
	doveadm_migrate_log_config(config);
	return config;
}

void doveadm_migrate_mail_cmd_open(const char *config_path,
				   struct migrate_config **config_r,
				   struct migrate_store **store_r)
{
	struct migrate_store_settings set;
	char error[512];

	if (migrate_config_load(config_path, config_r, error, sizeof(error)) < 0)
		i_fatal_status(EX_CONFIG, "%s", error);
	doveadm_migrate_default_store_user(*config_r);
	doveadm_migrate_log_config(*config_r);
	migrate_store_settings_from_config(&set, *config_r, MIGRATE_STORE_WRITE);
	if (migrate_store_open(&set, store_r, error, sizeof(error)) < 0)
		i_fatal_status(EX_TEMPFAIL, "%s", error);
}

bool doveadm_migrate_cmd_open(struct doveadm_cmd_context *cctx,
			      enum migrate_store_access access,
			      struct migrate_config **config_r,
			      struct migrate_store **store_r)
{
	struct migrate_store_settings set;
	char error[512];

	if ((*config_r = doveadm_migrate_cmd_config(cctx)) == NULL)
		return FALSE;
	migrate_store_settings_from_config(&set, *config_r, access);
	if (migrate_store_open(&set, store_r, error, sizeof(error)) < 0) {
		i_error("%s", error);
		doveadm_exit_code = EX_TEMPFAIL;
		migrate_config_free(config_r);
		return FALSE;
	}
	return TRUE;
}

const char *doveadm_migrate_cmd_account(struct doveadm_cmd_context *cctx,
					const struct migrate_config *config,
					const char *command)
{
	const struct migrate_domain *domain;
	struct migrate_address addr;
	const char *user;
	char error[512];

	if (!doveadm_cmd_param_str(cctx, "user", &user)) {
		i_error("migrate %s: -u ACCOUNT is required", command);
		doveadm_exit_code = EX_USAGE;
		return NULL;
	}
	if (migrate_config_account(config, user, &addr, &domain,
				   error, sizeof(error)) < 0) {
		i_error("migrate %s: %s: %s", command, user, error);
		doveadm_exit_code = EX_USAGE;
		return NULL;
	}
	return t_strdup(addr.address);
}

void doveadm_migrate_cmd_close(struct migrate_config **config,
			       struct migrate_store **store)
{
	if (*store != NULL)
		migrate_store_close(store);
	if (*config != NULL)
		migrate_config_free(config);
}

static void cmd_migrate_version(struct doveadm_cmd_context *cctx)
{
	struct migrate_config *config = doveadm_migrate_cmd_config(cctx);

	/* no-op when the operator chose a formatter with -f */
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	doveadm_print_header_simple("version");
	doveadm_print_header_simple("abi");
	doveadm_print_header_simple("config");
	doveadm_print_header_simple("domains");
	doveadm_print(MIGRATE_VERSION);
	doveadm_print(DOVECOT_ABI_VERSION);
	if (config == NULL) {
		doveadm_print("-");
		doveadm_print("-");
		return;
	}
	doveadm_print(config->path);
	doveadm_print_num(config->domain_count);
	migrate_config_free(&config);
}

static struct doveadm_cmd_ver2 migrate_commands[] = {
	{
		.name = "migrate version",
		.usage = "[-c <migrate.conf>]",
		.cmd = cmd_migrate_version,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate keygen",
		.usage = "[-c <migrate.conf>]",
		.cmd = cmd_migrate_keygen,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate init",
		.usage = "[-c <migrate.conf>]",
		.cmd = cmd_migrate_init,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate check",
		.usage = "[-c <migrate.conf>] [-u <account>] [-p <postfix config dir>]",
		.cmd = cmd_migrate_check,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('u', "user", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('p', "postfix-config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate worker",
		.usage = "[-c <migrate.conf>] [-j <jobs>] [--once]",
		.cmd = cmd_migrate_worker,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('j', "jobs", CMD_PARAM_INT64, 0)
DOVEADM_CMD_PARAM('\0', "once", CMD_PARAM_BOOL, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		/* internal: one of the worker's import processes */
		.name = "migrate pool",
		.usage = "",
		.flags = CMD_FLAG_HIDDEN,
		.cmd = cmd_migrate_pool,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate status",
		.usage = "[-c <migrate.conf>] [-u <account> | --watch [-i <secs>] | --openmetrics]",
		.cmd = cmd_migrate_status,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('u', "user", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('\0', "watch", CMD_PARAM_BOOL, 0)
DOVEADM_CMD_PARAM('\0', "openmetrics", CMD_PARAM_BOOL, 0)
DOVEADM_CMD_PARAM('i', "interval", CMD_PARAM_INT64, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate cutover",
		.usage = "[-c <migrate.conf>] -u <account>",
		.cmd = cmd_migrate_cutover,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('u', "user", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate finish",
		.usage = "[-c <migrate.conf>] [-m <days>] [--keep-credentials]",
		.cmd = cmd_migrate_finish,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('m', "maxage", CMD_PARAM_INT64, 0)
DOVEADM_CMD_PARAM('\0', "keep-credentials", CMD_PARAM_BOOL, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate add",
		.usage = "[-c <migrate.conf>] (-u <account> | -F <file>) "
			 "[--messages-only | --passwords-only]",
		.cmd = cmd_migrate_add,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('u', "user", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('F', "file", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('\0', "messages-only", CMD_PARAM_BOOL, 0)
DOVEADM_CMD_PARAM('\0', "passwords-only", CMD_PARAM_BOOL, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate list",
		.usage = "[-c <migrate.conf>] [-s <state>]",
		.cmd = cmd_migrate_list,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('s', "state", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate retry",
		.usage = "[-c <migrate.conf>] (-u <account> | --failed)",
		.cmd = cmd_migrate_retry,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('u', "user", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('\0', "failed", CMD_PARAM_BOOL, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate forget",
		.usage = "[-c <migrate.conf>] -u <account>",
		.cmd = cmd_migrate_forget,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('u', "user", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate sweep",
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "[-c <migrate.conf>] [-m <days>] [-M]",
		.mail_cmd = cmd_migrate_sweep_alloc,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('m', "maxage", CMD_PARAM_INT64, 0)
DOVEADM_CMD_PARAM('M', "mark", CMD_PARAM_BOOL, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate verify",
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "[-c <migrate.conf>]",
		.mail_cmd = cmd_migrate_verify_alloc,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate special-folders",
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "[-c <migrate.conf>] [-l [-U <name>\\t<flags>]...]",
		.mail_cmd = cmd_migrate_special_alloc,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('l', "legacy-flags-given", CMD_PARAM_BOOL, 0)
DOVEADM_CMD_PARAM('U', "special-use", CMD_PARAM_ARRAY, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate aliases",
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "[-c <migrate.conf>]",
		.mail_cmd = cmd_migrate_aliases_alloc,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate archive",
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "[-c <migrate.conf>]",
		.mail_cmd = cmd_migrate_archive_alloc,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate pass",
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "[-c <migrate.conf>] [-k] [-s]",
		.mail_cmd = cmd_migrate_pass_alloc,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('k', "skip-unchanged", CMD_PARAM_BOOL, 0)
DOVEADM_CMD_PARAM('s', "status", CMD_PARAM_BOOL, 0)
DOVEADM_CMD_PARAMS_END
	},
	{
		.name = "migrate flush",
		.usage = DOVEADM_CMD_MAIL_USAGE_PREFIX "[-c <migrate.conf>] [-D]",
		.mail_cmd = cmd_migrate_flush_alloc,
DOVEADM_CMD_PARAMS_START
DOVEADM_CMD_MAIL_COMMON
DOVEADM_CMD_PARAM('c', "config", CMD_PARAM_STR, 0)
DOVEADM_CMD_PARAM('D', "discard", CMD_PARAM_BOOL, 0)
DOVEADM_CMD_PARAMS_END
	},
};

void doveadm_migrate_plugin_init(struct module *module ATTR_UNUSED)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(migrate_commands); i++)
		doveadm_cmd_register_ver2(&migrate_commands[i]);
}

void doveadm_migrate_plugin_deinit(void)
{
	doveadm_migrate_log_deinit();
}
