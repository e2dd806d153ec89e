/* doveadm migrate special-folders [-c migrate.conf] -u ACCOUNT

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

   One row per legacy special folder: folder, special_use, local_folder,
   moved, duplicates. */

#include "lib.h"
#include "array.h"
#include "hash.h"
#include "hex-binary.h"
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
#include "doveadm-migrate-special.h"

ARRAY_DEFINE_TYPE(migrate_ledger_message, struct migrate_ledger_message);

struct special_cmd_context {
	struct migrate_mail_cmd base;
	const char *address;
};

/* one merge of a legacy folder's local copy into a local special folder */
struct special_merge {
	struct special_cmd_context *cmd;
	struct migrate_ledger_folder rec;
	const char *target_name;
	struct mailbox *source, *target;
	/* hex SHA-256 of every message in the target */
	HASH_TABLE(char *, void *) target_hashes;
	pool_t pool;
	unsigned int moved, duplicates;
};

static int special_fail(struct special_cmd_context *cmd, const char *reason)
{
	i_error("migrate special-folders: %s: %s", cmd->address, reason);
	doveadm_mail_failed_error(&cmd->base.ctx, MAIL_ERROR_TEMP);
	return -1;
}

static int special_box_fail(struct special_merge *m, struct mailbox *box,
			    const char *what)
{
	return special_fail(m->cmd, t_strdup_printf("%s %s: %s", what,
		mailbox_get_vname(box), mailbox_get_last_internal_error(box, NULL)));
}

/* Is the space-separated flag list's word flag in it? */
static bool special_has_flag(const char *flags, const char *flag)
{
	const char *const *word;

	for (word = t_strsplit_spaces(flags, " "); *word != NULL; word++) {
		if (strcasecmp(*word, flag) == 0)
			return TRUE;
	}
	return FALSE;
}

const char *migrate_special_local_name(struct mail_user *user,
				       enum migrate_special_use use)
{
	struct mail_namespace *ns = mail_namespace_find_inbox(user->namespaces);
	const char *flag = migrate_special_use_flag(use);
	struct mailbox_settings *const *set;

	if (array_is_created(&ns->set->mailboxes)) {
		array_foreach(&ns->set->mailboxes, set) {
			if ((*set)->special_use != NULL &&
			    special_has_flag((*set)->special_use, flag))
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

static struct mail_search_args *special_search_all(void)
{
	struct mail_search_args *args = mail_search_build_init();

	mail_search_build_add_all(args);
	return args;
}

static int special_hash_hex(struct special_merge *m, struct mail *mail,
			    unsigned char sha[SHA256_RESULTLEN], char **hex_r)
{
	const char *error;
	uoff_t size;

	if (migrate_mail_hash(mail, sha, &size, &error) < 0) {
		return special_fail(m->cmd, t_strdup_printf("%s UID %u: %s",
			mailbox_get_vname(mail->box), mail->uid, error));
	}
	*hex_r = p_strdup(m->pool, binary_to_hex(sha, SHA256_RESULTLEN));
	return 0;
}

static int special_load_target(struct special_merge *m)
{
	struct mailbox_transaction_context *t;
	struct mail_search_args *args = special_search_all();
	struct mail_search_context *search;
	unsigned char sha[SHA256_RESULTLEN];
	struct mail *mail;
	char *hex;
	int ret = 0;

	t = mailbox_transaction_begin(m->target, 0, "migrate special-folders");
	search = mailbox_search_init(t, args, NULL, MAIL_FETCH_STREAM_HEADER |
				     MAIL_FETCH_STREAM_BODY, NULL);
	mail_search_args_unref(&args);
	while (ret == 0 && mailbox_search_next(search, &mail)) {
		if ((ret = special_hash_hex(m, mail, sha, &hex)) == 0)
			hash_table_update(m->target_hashes, hex, POINTER_CAST(1));
	}
	if (mailbox_search_deinit(&search) < 0 && ret == 0)
		ret = special_box_fail(m, m->target, "reading");
	(void)mailbox_transaction_commit(&t);
	return ret;
}

/* dsync placed the messages below the watermark under their legacy UIDs
   and no sweep has recorded them yet: recorded here, before they leave
   the folder whose UIDs they share with the legacy one. */
static void special_record(struct special_merge *m, struct mail *mail,
			   const unsigned char sha[SHA256_RESULTLEN],
			   ARRAY_TYPE(migrate_ledger_message) *records)
{
	struct migrate_ledger_message *r;

	if (m->rec.seeded || mail->uid >= m->rec.dsync_below)
		return;
	r = array_append_space(records);
	r->uidvalidity = m->rec.uidvalidity;
	r->uid = mail->uid;
	i_strocpy(r->local, m->target_name, sizeof(r->local));
	memcpy(r->sha256, sha, SHA256_RESULTLEN);
}

static int special_copy(struct special_merge *m,
			struct mailbox_transaction_context *target_t,
			struct mail *mail, ARRAY_TYPE(migrate_ledger_message) *records)
{
	unsigned char sha[SHA256_RESULTLEN];
	struct mail_save_context *save;
	char *hex;

	if (special_hash_hex(m, mail, sha, &hex) < 0)
		return -1;
	special_record(m, mail, sha, records);
	mail_expunge(mail);
	if (hash_table_lookup(m->target_hashes, hex) != NULL) {
		m->duplicates++;
		return 0;
	}
	hash_table_insert(m->target_hashes, hex, POINTER_CAST(1));
	save = mailbox_save_alloc(target_t);
	mailbox_save_copy_flags(save, mail);
	if (mailbox_copy(&save, mail) < 0)
		return special_box_fail(m, m->target, "copying into");
	m->moved++;
	return 0;
}

/* Copies what the target lacks, then (the copies committed first: a
   crash in between leaves duplicates that the next run expunges)
   expunges the source's messages. */
static int special_move_all(struct special_merge *m)
{
	struct mailbox_transaction_context *source_t, *target_t;
	struct mail_search_args *args = special_search_all();
	struct mail_search_context *search;
	ARRAY_TYPE(migrate_ledger_message) records;
	struct mail *mail;
	char error[512];
	int ret = 0;

	t_array_init(&records, 64);
	source_t = mailbox_transaction_begin(m->source, 0, "migrate special-folders");
	target_t = mailbox_transaction_begin(m->target,
		MAILBOX_TRANSACTION_FLAG_EXTERNAL, "migrate special-folders");
	search = mailbox_search_init(source_t, args, NULL, MAIL_FETCH_STREAM_HEADER |
				     MAIL_FETCH_STREAM_BODY | MAIL_FETCH_FLAGS |
				     MAIL_FETCH_RECEIVED_DATE, NULL);
	mail_search_args_unref(&args);
	while (ret == 0 && mailbox_search_next(search, &mail))
		ret = special_copy(m, target_t, mail, &records);
	if (mailbox_search_deinit(&search) < 0 && ret == 0)
		ret = special_box_fail(m, m->source, "reading");
	if (ret == 0 && array_count(&records) > 0 &&
	    migrate_store_ledger_put(m->cmd->base.store, m->cmd->address,
				     m->rec.legacy, array_front(&records),
				     array_count(&records), error, sizeof(error)) < 0)
		ret = special_fail(m->cmd, error);
	if (ret == 0 && mailbox_transaction_commit(&target_t) < 0)
		ret = special_box_fail(m, m->target, "committing the copies into");
	if (ret == 0 && mailbox_transaction_commit(&source_t) < 0)
		ret = special_box_fail(m, m->source, "expunging from");
	if (target_t != NULL)
		mailbox_transaction_rollback(&target_t);
	if (source_t != NULL)
		mailbox_transaction_rollback(&source_t);
	return ret;
}

static int special_open(struct special_merge *m, struct mail_user *user,
			const char *target_name)
{
	struct mail_namespace *ns = mail_namespace_find(user->namespaces, target_name);

	m->target = mailbox_alloc(ns->list, target_name, 0);
	if (mailbox_open(m->target) < 0) {
		if (mailbox_get_last_mail_error(m->target) != MAIL_ERROR_NOTFOUND)
			return special_box_fail(m, m->target, "opening");
		if (mailbox_create(m->target, NULL, FALSE) < 0 &&
		    mailbox_get_last_mail_error(m->target) != MAIL_ERROR_EXISTS)
			return special_box_fail(m, m->target, "creating");
		if (mailbox_open(m->target) < 0)
			return special_box_fail(m, m->target, "opening");
	}
	return 0;
}

/* The emptied source goes, with its subscription passed on; one that
   still has children stays as their parent. */
static int special_remove_source(struct special_merge *m)
{
	bool subscribed;

	if (mailbox_list_iter_subscriptions_refresh(mailbox_get_namespace(m->source)->list) < 0)
		return special_box_fail(m, m->source, "reading the subscriptions of");
	subscribed = mailbox_is_subscribed(m->source);

	if (subscribed && mailbox_set_subscribed(m->target, TRUE) < 0)
		return special_box_fail(m, m->target, "subscribing to");
	if (mailbox_delete(m->source) < 0) {
		enum mail_error error = mailbox_get_last_mail_error(m->source);

		if (error != MAIL_ERROR_EXISTS && error != MAIL_ERROR_INUSE)
			return special_box_fail(m, m->source, "deleting");
		return 0;
	}
	if (subscribed)
		(void)mailbox_set_subscribed(m->source, FALSE);
	return 0;
}

/* 1 merged, 0 nothing to merge (the local copy is gone already), -1. */
static int special_merge_run(struct special_merge *m, struct mail_user *user,
			     const char *target_name)
{
	/* the local copy dsync (or an earlier sweep) made under the legacy
	   name; never the target itself */
	const char *source = m->rec.legacy;
	struct mail_namespace *ns = mail_namespace_find(user->namespaces, source);
	char error[512];

	i_assert(strcmp(source, target_name) != 0);
	m->source = mailbox_alloc(ns->list, source, 0);
	if (mailbox_open(m->source) < 0) {
		if (mailbox_get_last_mail_error(m->source) != MAIL_ERROR_NOTFOUND)
			return special_box_fail(m, m->source, "opening");
		mailbox_free(&m->source);
	}
	if (m->source != NULL &&
	    (special_open(m, user, target_name) < 0 || special_load_target(m) < 0 ||
	     special_move_all(m) < 0))
		return -1;
	/* recorded only now: until the messages are across, a sweep keeps
	   filing into the folder that holds them */
	m->rec.seeded = m->rec.seeded || m->rec.dsync_below > 1;
	i_strocpy(m->rec.local, target_name, sizeof(m->rec.local));
	if (migrate_store_ledger_folder_set(m->cmd->base.store, m->cmd->address,
					    &m->rec, error, sizeof(error)) < 0)
		return special_fail(m->cmd, error);
	if (m->source != NULL && special_remove_source(m) < 0)
		return -1;
	return m->source != NULL ? 1 : 0;
}

static int special_folder(struct special_cmd_context *cmd, struct mail_user *user,
			  const char *legacy, const char *flag,
			  const char *target_name)
{
	struct special_merge m;
	char error[512];
	int ret;

	i_zero(&m);
	m.cmd = cmd;
	ret = migrate_store_ledger_folder_get(cmd->base.store, cmd->address, legacy,
					      &m.rec, error, sizeof(error));
	if (ret < 0)
		return special_fail(cmd, error);
	if (ret == 0) {
		/* never marked nor swept: the next sweep files it by itself */
		return 0;
	}
	m.target_name = target_name;
	m.pool = pool_alloconly_create("migrate special-folders", 4096);
	hash_table_create(&m.target_hashes, m.pool, 0, str_hash, strcmp);
	ret = special_merge_run(&m, user, target_name);
	if (m.source != NULL)
		mailbox_free(&m.source);
	if (m.target != NULL)
		mailbox_free(&m.target);
	hash_table_destroy(&m.target_hashes);
	pool_unref(&m.pool);
	if (ret < 0)
		return -1;
	doveadm_print(legacy);
	doveadm_print(flag);
	doveadm_print(target_name);
	doveadm_print_num(m.moved);
	doveadm_print_num(m.duplicates);
	if (ret > 0) {
		i_info("migrate special-folders: %s: '%s' merged into '%s': %u "
		       "moved, %u already there", cmd->address, legacy,
		       target_name, m.moved, m.duplicates);
	}
	return 0;
}

static int special_account(struct special_cmd_context *cmd, struct mail_user *user)
{
	ARRAY_TYPE(migrate_folder_entry) folders;
	const struct migrate_folder_entry *folder;
	struct mail_user *legacy_user;
	const char *error, *target;
	char sep;
	int ret;

	if (migrate_legacy_user(&cmd->base.ctx, FALSE,
				cmd->base.config->import_prefetch,
				&legacy_user, &error) < 0)
		return special_fail(cmd, t_strconcat("legacy mailbox: ", error, NULL));
	sep = mail_namespace_get_sep(mail_namespace_find_inbox(legacy_user->namespaces));
	ret = migrate_list_folders(legacy_user, FALSE, &folders);
	if (ret < 0)
		ret = special_fail(cmd, "listing the legacy folders failed");
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
	mail_user_deinit(&legacy_user);
	return ret;
}

static int cmd_special_run(struct doveadm_mail_cmd_context *ctx, struct mail_user *user)
{
	struct special_cmd_context *cmd = (struct special_cmd_context *)ctx;
	struct migrate_account account;
	char error[512];
	int ret;

	cmd->address = user->username;
	ret = migrate_store_account_get(cmd->base.store, cmd->address, &account,
					error, sizeof(error));
	if (ret <= 0)
		return special_fail(cmd, ret < 0 ? error : "no such account in the store");
	if (account.protocol == MIGRATE_PROTOCOL_POP3)
		return 0;
	return special_account(cmd, user);
}

static void cmd_special_print_header(struct migrate_mail_cmd *base ATTR_UNUSED)
{
	doveadm_print_header_simple("folder");
	doveadm_print_header_simple("special_use");
	doveadm_print_header_simple("local_folder");
	doveadm_print_header_simple("moved");
	doveadm_print_header_simple("duplicates");
}

struct doveadm_mail_cmd_context *cmd_migrate_special_alloc(void)
{
	struct special_cmd_context *cmd;

	cmd = migrate_mail_cmd_alloc(struct special_cmd_context, "c:",
				     cmd_special_run);
	cmd->base.print_header = cmd_special_print_header;
	return &cmd->base.ctx;
}
