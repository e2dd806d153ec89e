/* doveadm migrate special-folders [-c migrate.conf] [-l [-U NAME<tab>FLAGS]...]
       -u ACCOUNT

   The legacy special folders (migrate-special-folder.h: SPECIAL-USE
   flags, else well-known names) end up in the local special-use folders:
   the local copy of each legacy Sent, Drafts, Trash, Junk or Archive
   folder whose name is not the local one is merged into it (a message
   whose content is there already is not copied twice), then removed; the
   ledger's folder record is pointed at the local folder, so later sweeps
   and finish file new legacy mail there. The local folder of a use is
   the one the inbox namespace's config gives that special_use, else the
   English default ("Sent", ...).

   The cut-over runs it once the last pass is marked, while logins are
   refused (nothing of the user's own can change meanwhile); it is safe to
   run again (a folder already merged is only reported). Only folders the
   ledger knows (marked by the cut-over, or met by a sweep) are merged.
   POP3 accounts have only INBOX: nothing to do.

   The legacy folders and their SPECIAL-USE flags come from the legacy
   server; with -l from the local copy (dsync mirrored the names) and the
   -U options, which the cut-over fills from its last pass's look at the
   legacy folders, so the step costs the legacy server no login.

   One row per legacy special folder: folder, special_use, local_folder,
   moved, duplicates. */

#include "lib.h"
#include "array.h"
#include "mail-storage.h"
#include "mail-storage-settings.h"
#include "mail-namespace.h"
#include "mail-search-build.h"
#include "mailbox-list-private.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"

#include "migrate-config.h"
#include "migrate-special-folder.h"
#include "migrate-store.h"
#include "doveadm-migrate.h"
#include "doveadm-migrate-mail-cmd.h"
#include "doveadm-migrate-mailbox.h"
#include "doveadm-migrate-move.h"
#include "doveadm-migrate-special.h"

struct special_cmd_context {
	struct migrate_mail_cmd base;
	const char *address;
	/* -l: the legacy folders' SPECIAL-USE flags are the -U ones
	   ("NAME<tab>FLAGS", from the cut-over's last pass): the legacy
	   server is not asked again */
	bool given;
	ARRAY_TYPE(const_string) special;
};

#define special_fail(cmd, reason) \
	migrate_mail_cmd_fail(&(cmd)->base, (cmd)->address, "%s", reason)
#define special_box_fail(cmd, box, what) \
	migrate_mail_cmd_box_fail(&(cmd)->base, (cmd)->address, box, what)

const char *migrate_special_local_name(struct mail_user *user,
				       enum migrate_special_use use)
{
	struct mail_namespace *ns = mail_namespace_find_inbox(user->namespaces);
	const char *flag = migrate_special_use_flag(use);
	struct mailbox_settings *const *set;

	if (array_is_created(&ns->set->mailboxes)) {
		array_foreach(&ns->set->mailboxes, set) {
			if ((*set)->special_use != NULL &&
			    migrate_special_use_has_flag((*set)->special_use, flag))
				return t_strconcat(ns->prefix, (*set)->name, NULL);
		}
	}
	return t_strconcat(ns->prefix, migrate_special_use_default_name(use), NULL);
}

const char *migrate_special_target(struct mail_user *user,
				   struct mail_user *legacy_user,
				   const struct migrate_folder_entry *legacy)
{
	char sep = mail_namespace_get_sep(
		mail_namespace_find_inbox(legacy_user->namespaces));
	enum migrate_special_use use =
		migrate_special_folder_classify(legacy->name, sep,
						legacy->special_use);

	return use == MIGRATE_SPECIAL_NONE ? legacy->name :
		migrate_special_local_name(user, use);
}

/* ---- the merge ------------------------------------------------------------ */

/* The emptied source goes, its subscription passed on to the target; one
   that still has children stays as their parent. */
static int special_remove_source(struct special_cmd_context *cmd,
				 struct mail_user *user, struct mailbox *source,
				 const char *target_name)
{
	struct mail_namespace *ns = mail_namespace_find(user->namespaces, target_name);
	struct mailbox *target;
	enum mail_error error;
	bool subscribed;
	int ret = 0;

	if (mailbox_list_iter_subscriptions_refresh(mailbox_get_namespace(source)->list) < 0)
		return special_box_fail(cmd, source, "reading the subscriptions of");
	subscribed = mailbox_is_subscribed(source);
	if (subscribed) {
		target = mailbox_alloc(ns->list, target_name, 0);
		if (mailbox_set_subscribed(target, TRUE) < 0)
			ret = special_box_fail(cmd, target, "subscribing to");
		mailbox_free(&target);
		if (ret < 0)
			return -1;
	}
	if (mailbox_delete(source) < 0) {
		error = mailbox_get_last_mail_error(source);
		if (error != MAIL_ERROR_EXISTS && error != MAIL_ERROR_INUSE)
			return special_box_fail(cmd, source, "deleting");
		return 0;
	}
	if (subscribed)
		(void)mailbox_set_subscribed(source, FALSE);
	return 0;
}

/* The local copy of legacy folder rec into target_name: 1 merged, 0
   nothing left to merge (done before), -1. */
static int special_merge(struct special_cmd_context *cmd, struct mail_user *user,
			 struct migrate_ledger_folder *rec, const char *target_name,
			 struct migrate_move_result *result_r)
{
	/* the copy dsync (or an earlier sweep) made under the legacy name;
	   never the target itself */
	const char *name = rec->legacy, *error;
	struct mail_namespace *ns = mail_namespace_find(user->namespaces, name);
	struct mailbox *source;
	char store_error[512];
	int ret = 1;

	i_zero(result_r);
	source = mailbox_alloc(ns->list, name, 0);
	if (mailbox_open(source) < 0) {
		ret = mailbox_get_last_mail_error(source) == MAIL_ERROR_NOTFOUND ? 0 :
			special_box_fail(cmd, source, "opening");
	} else if (migrate_move_seed(cmd->base.store, cmd->address, rec,
				     source, &error) < 0 ||
		   migrate_move_messages(user, source, NULL, target_name,
					 result_r, &error) < 0) {
		ret = special_fail(cmd, error);
	}
	/* recorded only now: until the messages are across, a sweep keeps
	   filing into the folder that holds them */
	if (ret >= 0) {
		i_strocpy(rec->local, target_name, sizeof(rec->local));
		if (migrate_store_ledger_folder_set(cmd->base.store, cmd->address,
						    rec, store_error,
						    sizeof(store_error)) < 0)
			ret = special_fail(cmd, store_error);
	}
	if (ret > 0 && special_remove_source(cmd, user, source, target_name) < 0)
		ret = -1;
	mailbox_free(&source);
	return ret;
}

static int special_folder(struct special_cmd_context *cmd, struct mail_user *user,
			  const char *legacy, const char *flag,
			  const char *target_name)
{
	struct migrate_ledger_folder rec;
	struct migrate_move_result result;
	char error[512];
	int ret;

	ret = migrate_store_ledger_folder_get(cmd->base.store, cmd->address, legacy,
					      &rec, error, sizeof(error));
	if (ret < 0)
		return special_fail(cmd, error);
	if (ret == 0) {
		/* never marked nor swept: the next sweep files it by itself */
		return 0;
	}
	if ((ret = special_merge(cmd, user, &rec, target_name, &result)) < 0)
		return -1;
	doveadm_print(legacy);
	doveadm_print(flag);
	doveadm_print(target_name);
	doveadm_print_num(result.moved);
	doveadm_print_num(result.duplicates);
	if (ret > 0) {
		i_info("migrate special-folders: %s: '%s' merged into '%s': %u "
		       "moved, %u already there", cmd->address, legacy,
		       target_name, result.moved, result.duplicates);
	}
	return 0;
}

/* The SPECIAL-USE flags -U gave for folder name; NULL: none. */
static const char *special_given_flags(struct special_cmd_context *cmd,
				       const char *name)
{
	const char *entry, *tab;

	array_foreach_elem(&cmd->special, entry) {
		tab = strrchr(entry, '\t');
		if (tab != NULL && strncmp(entry, name, tab - entry) == 0 &&
		    name[tab - entry] == '\0')
			return tab + 1;
	}
	return NULL;
}

/* The legacy folders with their flags, and the separator: from -l/-U and
   the local copy (dsync mirrored the legacy names, under the same
   separator), else from the legacy server. */
static int special_legacy_folders(struct special_cmd_context *cmd,
				  struct mail_user *user,
				  struct migrate_legacy *legacy,
				  ARRAY_TYPE(migrate_folder_entry) *folders,
				  char *sep_r)
{
	struct migrate_folder_entry *folder;
	struct mail_user *from = user;
	const char *error;

	i_zero(legacy);
	if (!cmd->given) {
		/* special folders are an IMAP matter: never pop3c */
		if (migrate_legacy_open(&cmd->base.ctx, NULL, FALSE,
					cmd->base.config->import_prefetch,
					legacy, &error) < 0) {
			return special_fail(cmd, t_strconcat("legacy mailbox: ",
							     error, NULL));
		}
		from = legacy->user;
	}
	*sep_r = mail_namespace_get_sep(mail_namespace_find_inbox(from->namespaces));
	if (migrate_list_folders(from, FALSE, folders) < 0)
		return special_fail(cmd, "listing the legacy folders failed");
	if (cmd->given) {
		array_foreach_modifiable(folders, folder)
			folder->special_use = special_given_flags(cmd, folder->name);
	}
	return 0;
}

static int special_account(struct special_cmd_context *cmd, struct mail_user *user)
{
	ARRAY_TYPE(migrate_folder_entry) folders;
	const struct migrate_folder_entry *folder;
	struct migrate_legacy legacy;
	const char *target;
	char sep = '\0';
	int ret;

	if (special_legacy_folders(cmd, user, &legacy, &folders, &sep) < 0) {
		migrate_legacy_close(&legacy);
		return -1;
	}
	ret = 0;
	array_foreach(&folders, folder) {
		enum migrate_special_use use;

		if (ret < 0)
			break;
		use = migrate_special_folder_classify(folder->name, sep,
						      folder->special_use);
		if (use == MIGRATE_SPECIAL_NONE)
			continue;
		target = migrate_special_local_name(user, use);
		if (strcmp(target, folder->name) == 0)
			continue;
		T_BEGIN {
			ret = special_folder(cmd, user, folder->name,
					     migrate_special_use_flag(use), target);
		} T_END;
	}
	migrate_legacy_close(&legacy);
	return ret;
}

static int cmd_special_run(struct doveadm_mail_cmd_context *ctx, struct mail_user *user)
{
	struct special_cmd_context *cmd = (struct special_cmd_context *)ctx;
	struct migrate_account account;

	cmd->address = user->username;
	if (migrate_mail_cmd_account(&cmd->base, user, &account) < 0)
		return -1;
	if (account.protocol == MIGRATE_PROTOCOL_POP3)
		return 0;
	return special_account(cmd, user);
}

static const char *const special_headers[] = {
	"folder", "special_use", "local_folder", "moved", "duplicates", NULL
};

static bool cmd_special_parse_arg(struct migrate_mail_cmd *base, int c)
{
	struct special_cmd_context *cmd = (struct special_cmd_context *)base;
	const char *entry;

	switch (c) {
	case 'l':
		cmd->given = TRUE;
		return TRUE;
	case 'U':
		if (strchr(optarg, '\t') == NULL)
			return FALSE;
		entry = p_strdup(base->ctx.pool, optarg);
		array_push_back(&cmd->special, &entry);
		return TRUE;
	}
	return FALSE;
}

struct doveadm_mail_cmd_context *cmd_migrate_special_alloc(void)
{
	struct special_cmd_context *cmd;

	cmd = migrate_mail_cmd_alloc(struct special_cmd_context, "special-folders",
				     "c:lU:", cmd_special_run);
	cmd->base.headers = special_headers;
	cmd->base.parse_arg = cmd_special_parse_arg;
	p_array_init(&cmd->special, cmd->base.ctx.pool, 8);
	return &cmd->base.ctx;
}
