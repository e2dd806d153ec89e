/* The mail commands' shared frame (see doveadm-migrate-mail-cmd.h). */

#include "lib.h"
#include "mail-storage.h"
#include "doveadm-print.h"

#include "migrate-store.h"
#include "dovecot-migrate-config.h"
#include "doveadm-migrate.h"
#include "doveadm-migrate-mail-cmd.h"

static void migrate_mail_cmd_init(struct doveadm_mail_cmd_context *ctx,
				  const char *const args[] ATTR_UNUSED)
{
	struct migrate_mail_cmd *cmd = (struct migrate_mail_cmd *)ctx;

	const char *const *header;

	doveadm_migrate_mail_cmd_open(cmd->config_path, &cmd->config,
				      &cmd->store);
	if (cmd->print_header != NULL)
		cmd->print_header(cmd);
	for (header = cmd->headers; header != NULL && *header != NULL; header++)
		doveadm_print_header_simple(*header);
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
migrate_mail_cmd_alloc_size(size_t size, const char *name,
			    const char *getopt_args, migrate_mail_cmd_run_t *run)
{
	struct migrate_mail_cmd *cmd = (struct migrate_mail_cmd *)
		doveadm_mail_cmd_alloc_size(size);

	cmd->name = name;
	cmd->config_path = doveadm_migrate_default_config_path();
	cmd->ctx.getopt_args = getopt_args;
	cmd->ctx.v.parse_arg = migrate_mail_cmd_parse_arg;
	cmd->ctx.v.init = migrate_mail_cmd_init;
	cmd->ctx.v.deinit = migrate_mail_cmd_deinit;
	cmd->ctx.v.run = run;
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	return cmd;
}

int migrate_mail_cmd_fail(struct migrate_mail_cmd *cmd, const char *address,
			  const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	i_error("migrate %s: %s: %s", cmd->name, address, t_strdup_vprintf(fmt, args));
	va_end(args);
	doveadm_mail_failed_error(&cmd->ctx, MAIL_ERROR_TEMP);
	return -1;
}

int migrate_mail_cmd_box_fail(struct migrate_mail_cmd *cmd, const char *address,
			      struct mailbox *box, const char *what)
{
	return migrate_mail_cmd_fail(cmd, address, "%s '%s': %s", what,
				     mailbox_get_vname(box),
				     mailbox_get_last_internal_error(box, NULL));
}

int migrate_mail_cmd_account(struct migrate_mail_cmd *cmd, struct mail_user *user,
			     struct migrate_account *account_r)
{
	char error[512];
	int ret;

	ret = migrate_store_account_get(cmd->store, user->username, account_r,
					error, sizeof(error));
	if (ret > 0)
		return 1;
	return migrate_mail_cmd_fail(cmd, user->username, "%s",
		ret < 0 ? error : "no such account in the store");
}
