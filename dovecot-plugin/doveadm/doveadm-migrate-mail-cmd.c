/* The mail commands' shared frame (see doveadm-migrate-mail-cmd.h). */

#include "lib.h"
#include "doveadm-print.h"

#include "dovecot-migrate-config.h"
#include "doveadm-migrate.h"
#include "doveadm-migrate-mail-cmd.h"

static void migrate_mail_cmd_init(struct doveadm_mail_cmd_context *ctx,
				  const char *const args[] ATTR_UNUSED)
{
	struct migrate_mail_cmd *cmd = (struct migrate_mail_cmd *)ctx;

	doveadm_migrate_mail_cmd_open(cmd->config_path, &cmd->config,
				      &cmd->store);
	cmd->print_header(cmd);
}

static void migrate_mail_cmd_deinit(struct doveadm_mail_cmd_context *ctx)
{
	struct migrate_mail_cmd *cmd = (struct migrate_mail_cmd *)ctx;

	doveadm_migrate_cmd_close(&cmd->config, &cmd->store);
}

static bool migrate_mail_cmd_parse_arg(struct doveadm_mail_cmd_context *ctx, int c)
{
	struct migrate_mail_cmd *cmd = (struct migrate_mail_cmd *)ctx;

	if (c == 'c') {
		cmd->config_path = p_strdup(ctx->pool, optarg);
		return TRUE;
	}
	return cmd->parse_arg != NULL && cmd->parse_arg(cmd, c);
}

struct migrate_mail_cmd *
migrate_mail_cmd_alloc_size(size_t size, const char *getopt_args,
			    migrate_mail_cmd_run_t *run)
{
	struct migrate_mail_cmd *cmd = (struct migrate_mail_cmd *)
		doveadm_mail_cmd_alloc_size(size);

	cmd->config_path = MIGRATE_DEFAULT_CONFIG;
	cmd->ctx.getopt_args = getopt_args;
	cmd->ctx.v.parse_arg = migrate_mail_cmd_parse_arg;
	cmd->ctx.v.init = migrate_mail_cmd_init;
	cmd->ctx.v.deinit = migrate_mail_cmd_deinit;
	cmd->ctx.v.run = run;
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	return cmd;
}
