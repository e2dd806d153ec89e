/* doveadm migrate pass [-c migrate.conf] [-s] -u ACCOUNT

   One import pass of an account: its local mailbox made an exact copy
   of the legacy one by dsync run in process (import-dsync.h), over
   imapc, or pop3c for an account captured over POP3 (with its index
   under the home, MIGRATE_POP3C_INDEX_DIR, so the maildrop keeps its
   UIDVALIDITY from pass to pass), reading import_prefetch messages ahead.
   The worker runs it for its passes and the cut-over for its last one.

   -s: then, on the same legacy session, every legacy folder's status as
   it is after the pass (mailbox, messages, uidvalidity, uidnext,
   special_use): the cut-over checks from it that nothing arrived during
   the pass and knows the legacy special folders, without another login
   on the legacy server. */

#include "lib.h"
#include "array.h"
#include "mail-storage.h"
#include "mail-namespace.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"

#include "migrate-config.h"
#include "migrate-store.h"
#include "doveadm-migrate.h"
#include "doveadm-migrate-mail-cmd.h"
#include "doveadm-migrate-mailbox.h"
#include "import-dsync.h"

struct pass_cmd_context {
	struct migrate_mail_cmd base;
	bool status;
};

static const char *const pass_status_headers[] = {
	"mailbox", "messages", "uidvalidity", "uidnext", "special_use", NULL
};

static int pass_print_folder(struct pass_cmd_context *cmd, struct mail_user *legacy,
			     const struct migrate_folder_entry *folder)
{
	struct mail_namespace *ns = mail_namespace_find(legacy->namespaces,
							folder->name);
	struct mailbox *box = mailbox_alloc(ns->list, folder->name,
					    MAILBOX_FLAG_READONLY);
	struct mailbox_status status;
	int ret;

	ret = mailbox_get_status(box, STATUS_MESSAGES | STATUS_UIDVALIDITY |
				 STATUS_UIDNEXT, &status);
	if (ret < 0) {
		(void)migrate_mail_cmd_box_fail(&cmd->base, legacy->username, box,
						"the status of the legacy folder");
	} else {
		doveadm_print(folder->name);
		doveadm_print_num(status.messages);
		doveadm_print_num(status.uidvalidity);
		doveadm_print_num(status.uidnext);
		doveadm_print(folder->special_use == NULL ? "" : folder->special_use);
	}
	mailbox_free(&box);
	return ret;
}

static int pass_print_status(struct pass_cmd_context *cmd, struct mail_user *legacy,
			     bool pop3)
{
	ARRAY_TYPE(migrate_folder_entry) folders;
	const struct migrate_folder_entry *folder;

	if (migrate_list_folders(legacy, pop3, &folders) < 0) {
		return migrate_mail_cmd_fail(&cmd->base, legacy->username,
			"listing the legacy folders: %s", mailbox_list_get_last_internal_error(
				legacy->namespaces->list, NULL));
	}
	array_foreach(&folders, folder) {
		if (pass_print_folder(cmd, legacy, folder) < 0)
			return -1;
	}
	return 0;
}

static int cmd_pass_run(struct doveadm_mail_cmd_context *ctx, struct mail_user *user)
{
	struct pass_cmd_context *cmd = (struct pass_cmd_context *)ctx;
	struct migrate_account account;
	struct migrate_legacy legacy;
	enum mail_error mail_error;
	const char *error;
	bool pop3;
	int ret;

	if (migrate_mail_cmd_account(&cmd->base, user, &account) < 0)
		return -1;
	pop3 = account.protocol == MIGRATE_PROTOCOL_POP3;
	if (migrate_legacy_open_pass(ctx, migrate_config_find_domain(cmd->base.config,
			account.domain), pop3, cmd->base.config->import_prefetch,
			&legacy, &error) < 0) {
		return migrate_mail_cmd_fail(&cmd->base, user->username,
			"opening the legacy mailbox: %s", error);
	}
	ret = import_dsync_pass(user, legacy.user, &error, &mail_error);
	if (ret < 0) {
		i_error("migrate pass: %s: %s", user->username, error);
		doveadm_mail_failed_error(ctx, mail_error);
	} else if (cmd->status) {
		ret = pass_print_status(cmd, legacy.user, pop3);
	}
	migrate_legacy_close(&legacy);
	return ret;
}

static bool cmd_pass_parse_arg(struct migrate_mail_cmd *base, int c)
{
	struct pass_cmd_context *cmd = (struct pass_cmd_context *)base;

	if (c != 's')
		return FALSE;
	cmd->status = TRUE;
	return TRUE;
}

static void cmd_pass_print_header(struct migrate_mail_cmd *base)
{
	struct pass_cmd_context *cmd = (struct pass_cmd_context *)base;
	const char *const *header;

	if (!cmd->status)
		return;
	for (header = pass_status_headers; *header != NULL; header++)
		doveadm_print_header_simple(*header);
}

struct doveadm_mail_cmd_context *cmd_migrate_pass_alloc(void)
{
	struct pass_cmd_context *cmd;

	cmd = migrate_mail_cmd_alloc(struct pass_cmd_context, "pass", "c:s",
				     cmd_pass_run);
	cmd->base.parse_arg = cmd_pass_parse_arg;
	cmd->base.print_header = cmd_pass_print_header;
	return &cmd->base.ctx;
}
