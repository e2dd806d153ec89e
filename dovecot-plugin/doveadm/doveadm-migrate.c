/* doveadm plugin of dovecot-migrate: "doveadm migrate ..." commands.

   This version has one command, "doveadm migrate version", which shows that
   the plugin is loaded and which config file it reads. */

#include "lib.h"
#include "module-dir.h"
#include "doveadm.h"
#include "doveadm-cmd.h"
#include "doveadm-print.h"

#include "dovecot-migrate-config.h"
#include "migrate-config.h"

#include <sysexits.h>

const char *doveadm_migrate_plugin_version = DOVECOT_ABI_VERSION;

void doveadm_migrate_plugin_init(struct module *module);
void doveadm_migrate_plugin_deinit(void);

static void cmd_migrate_version(struct doveadm_cmd_context *cctx)
{
	const char *path = MIGRATE_DEFAULT_CONFIG;
	struct migrate_config *config;
	char error[512];

	(void)doveadm_cmd_param_str(cctx, "config", &path);
	/* no-op when the operator chose a formatter with -f */
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	doveadm_print_header_simple("version");
	doveadm_print_header_simple("abi");
	doveadm_print_header_simple("config");
	doveadm_print_header_simple("domains");
	doveadm_print(MIGRATE_VERSION);
	doveadm_print(DOVECOT_ABI_VERSION);
	doveadm_print(path);
	if (migrate_config_load(path, &config, error, sizeof(error)) < 0) {
		doveadm_print("-");
		i_error("%s", error);
		doveadm_exit_code = EX_CONFIG;
		return;
	}
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
};

void doveadm_migrate_plugin_init(struct module *module ATTR_UNUSED)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(migrate_commands); i++)
		doveadm_cmd_register_ver2(&migrate_commands[i]);
}

void doveadm_migrate_plugin_deinit(void)
{
}
