/* doveadm migrate pass [-c migrate.conf] [-k] [-s] -u ACCOUNT

   One import pass of an account: its local mailbox made an exact copy
   of the legacy one by dsync run in process (import-dsync.h), over
   imapc, or pop3c for an account captured over POP3 (with its index
   under the home, MIGRATE_POP3C_INDEX_DIR, so the maildrop keeps its
   UIDVALIDITY from pass to pass), reading import_prefetch messages ahead.
   The worker runs it for its passes and the cut-over for its last one.

   Before the pass, on the same session: every legacy folder (LIST with
   subscriptions) with its UIDVALIDITY, UIDNEXT, messages and every
   message's UID, flags and keywords (a SELECT and a FETCH of flags). A
   pass that succeeds records its SHA-256 in the ledger
   (legacy_fingerprint): any change on the legacy server after that
   moment (a message, a flag, an expunge, a folder, a subscription)
   changes it, UIDNEXT never going back. Why not HIGHESTMODSEQ: imapc
   asks for it only with its "modseq" feature, which also turns dsync
   incremental, and an incremental pass no longer notices a damaged local
   copy (test_damaged_local_copy_is_copied_anew).

   -k (the cut-over): no dsync when the legacy mailbox still shows the
   recorded status and the copy is flushed: the last pass's copy is
   exact, nothing of the user's own is local while the account is
   proxied, and the fence keeps the legacy mailbox still meanwhile. A
   POP3 maildrop gets no fingerprint: always a pass.

   -s: then every legacy folder's status as it is after the pass
   (mailbox, messages, uidvalidity, uidnext, special_use), on the same
   legacy session: the cut-over checks from it that nothing arrived
   during the pass and knows the legacy special folders, without another
   login on the legacy server. */

#include "lib.h"
#include "array.h"
#include "sha2.h"
#include "str.h"
#include "mail-storage.h"
#include "mail-namespace.h"
#include "mail-search-build.h"
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
	bool skip_unchanged;
};

static const char *const pass_status_headers[] = {
	"mailbox", "messages", "uidvalidity", "uidnext", "special_use", NULL
};

/* a legacy folder as a LIST and a STATUS show it, and with flags the
   SHA-256 of its messages' UIDs, flags and keywords */
struct pass_folder {
	struct migrate_folder_entry entry;
	struct mailbox_status status;
	unsigned char messages_sha256[SHA256_RESULTLEN];
};
ARRAY_DEFINE_TYPE(pass_folder, struct pass_folder);

static int pass_folder_cmp(const struct pass_folder *a, const struct pass_folder *b)
{
	return strcmp(a->entry.name, b->entry.name);
}

/* Every message's UID, flags and keywords into f's digest (one SELECT
   and one FETCH of flags on the legacy server). */
static int pass_folder_messages(struct mailbox *box, struct pass_folder *f)
{
	struct mailbox_transaction_context *t;
	struct mail_search_args *args;
	struct mail_search_context *ctx;
	struct sha256_ctx sha;
	struct mail *mail;
	string_t *line = t_str_new(128);
	int ret = 0;

	if (mailbox_sync(box, 0) < 0 ||
	    mailbox_get_status(box, STATUS_MESSAGES | STATUS_UIDVALIDITY |
			       STATUS_UIDNEXT, &f->status) < 0)
		return -1;
	sha256_init(&sha);
	t = mailbox_transaction_begin(box, 0, __func__);
	args = mail_search_build_init();
	mail_search_build_add_all(args);
	ctx = mailbox_search_init(t, args, NULL, MAIL_FETCH_FLAGS, NULL);
	mail_search_args_unref(&args);
	while (mailbox_search_next(ctx, &mail)) {
		const char *const *keywords = mail_get_keywords(mail);
		/* \Recent belongs to a session, not to the mailbox */
		enum mail_flags flags = mail_get_flags(mail) & MAIL_FLAGS_NONRECENT;

		str_truncate(line, 0);
		str_printfa(line, "%u %u", mail->uid, (unsigned int)flags);
		for (; *keywords != NULL; keywords++)
			str_printfa(line, " %s", *keywords);
		str_append_c(line, '\n');
		sha256_loop(&sha, str_data(line), str_len(line));
	}
	if (mailbox_search_deinit(&ctx) < 0)
		ret = -1;
	(void)mailbox_transaction_commit(&t);
	sha256_result(&sha, f->messages_sha256);
	return ret;
}

/* Every legacy folder's status now, by name (the data stack); with
   flags, its messages' digest too. */
static int pass_legacy_status(struct pass_cmd_context *cmd, struct mail_user *legacy,
			      bool pop3, bool flags, ARRAY_TYPE(pass_folder) *folders_r)
{
	ARRAY_TYPE(migrate_folder_entry) entries;
	const struct migrate_folder_entry *entry;

	if (migrate_list_folders(legacy, pop3, &entries) < 0) {
		return migrate_mail_cmd_fail(&cmd->base, legacy->username,
			"listing the legacy folders: %s", mailbox_list_get_last_internal_error(
				legacy->namespaces->list, NULL));
	}
	t_array_init(folders_r, array_count(&entries) + 1);
	array_foreach(&entries, entry) {
		struct mail_namespace *ns = mail_namespace_find(legacy->namespaces,
								entry->name);
		struct mailbox *box = mailbox_alloc(ns->list, entry->name,
						    MAILBOX_FLAG_READONLY);
		struct pass_folder *f = array_append_space(folders_r);
		int ret;

		f->entry = *entry;
		ret = flags ? pass_folder_messages(box, f) :
			mailbox_get_status(box, STATUS_MESSAGES | STATUS_UIDVALIDITY |
					   STATUS_UIDNEXT, &f->status);
		if (ret < 0) {
			(void)migrate_mail_cmd_box_fail(&cmd->base, legacy->username, box,
							"reading the legacy folder");
		}
		mailbox_free(&box);
		if (ret < 0)
			return -1;
	}
	array_sort(folders_r, pass_folder_cmp);
	return 0;
}

/* The SHA-256 of what a pass would copy: the folders, their
   subscriptions and status, and their messages' flags. FALSE for a POP3
   maildrop (no fingerprint: a pass always runs). */
static bool pass_fingerprint(const ARRAY_TYPE(pass_folder) *folders, bool pop3,
			     uint8_t fingerprint_r[MIGRATE_LEGACY_FINGERPRINT_SIZE])
{
	const struct pass_folder *f;
	struct sha256_ctx sha;
	string_t *line = t_str_new(256);

	memset(fingerprint_r, 0, MIGRATE_LEGACY_FINGERPRINT_SIZE);
	if (pop3)
		return FALSE;
	sha256_init(&sha);
	array_foreach(folders, f) {
		str_truncate(line, 0);
		/* the name with its NUL: no name can pass for another's */
		str_append_data(line, f->entry.name, strlen(f->entry.name) + 1);
		str_printfa(line, "%d %u %u %u ", f->entry.subscribed ? 1 : 0,
			    f->status.uidvalidity, f->status.uidnext,
			    f->status.messages);
		str_append_data(line, f->messages_sha256, sizeof(f->messages_sha256));
		sha256_loop(&sha, str_data(line), str_len(line));
	}
	sha256_result(&sha, fingerprint_r);
	return TRUE;
}

static void pass_print_status(const ARRAY_TYPE(pass_folder) *folders)
{
	const struct pass_folder *f;

	array_foreach(folders, f) {
		doveadm_print(f->entry.name);
		doveadm_print_num(f->status.messages);
		doveadm_print_num(f->status.uidvalidity);
		doveadm_print_num(f->status.uidnext);
		doveadm_print(f->entry.special_use == NULL ? "" : f->entry.special_use);
	}
}

/* The ledger's record of the account, read for a change (-1: failed). */
static int pass_ledger_get(struct pass_cmd_context *cmd, const char *address,
			   struct migrate_ledger_account *la_r)
{
	char error[512];

	if (migrate_store_ledger_account_get(cmd->base.store, address, la_r,
					     error, sizeof(error)) < 0)
		return migrate_mail_cmd_fail(&cmd->base, address, "%s", error);
	return 0;
}

static int pass_ledger_set(struct pass_cmd_context *cmd, const char *address,
			   const struct migrate_ledger_account *la)
{
	char error[512];

	if (migrate_store_ledger_account_set(cmd->base.store, address, la,
					     error, sizeof(error)) < 0)
		return migrate_mail_cmd_fail(&cmd->base, address, "%s", error);
	return 0;
}

/* -k: is the last pass's copy still exact? */
static bool pass_unchanged(struct pass_cmd_context *cmd,
			   const struct migrate_ledger_account *la,
			   const uint8_t fingerprint[MIGRATE_LEGACY_FINGERPRINT_SIZE])
{
	static const uint8_t zero[MIGRATE_BOOT_ID_SIZE];

	/* (a fingerprint that cannot tell is all 0xff, a recorded one is
	   never that) */
	return cmd->skip_unchanged &&
		memcmp(la->unflushed_boot, zero, sizeof(zero)) == 0 &&
		memcmp(la->legacy_fingerprint, fingerprint,
		       MIGRATE_LEGACY_FINGERPRINT_SIZE) == 0;
}

/* The dsync pass, then the fingerprint of the status before it. */
static int pass_dsync(struct pass_cmd_context *cmd, struct mail_user *user,
		      struct mail_user *legacy, bool valid,
		      const uint8_t fingerprint[MIGRATE_LEGACY_FINGERPRINT_SIZE])
{
	struct migrate_ledger_account la;
	enum mail_error mail_error;
	const char *error;

	if (import_dsync_pass(user, legacy, &error, &mail_error) < 0) {
		i_error("migrate pass: %s: %s", user->username, error);
		doveadm_mail_failed_error(&cmd->base.ctx, mail_error);
		return -1;
	}
	if (pass_ledger_get(cmd, user->username, &la) < 0)
		return -1;
	if (valid)
		memcpy(la.legacy_fingerprint, fingerprint, sizeof(la.legacy_fingerprint));
	else
		i_zero(&la.legacy_fingerprint);
	return pass_ledger_set(cmd, user->username, &la);
}

static int pass_account(struct pass_cmd_context *cmd, struct mail_user *user,
			struct mail_user *legacy, bool pop3)
{
	ARRAY_TYPE(pass_folder) before, after;
	uint8_t fingerprint[MIGRATE_LEGACY_FINGERPRINT_SIZE];
	struct migrate_ledger_account la;
	bool valid;

	if (pass_legacy_status(cmd, legacy, pop3, !pop3, &before) < 0 ||
	    pass_ledger_get(cmd, user->username, &la) < 0)
		return -1;
	valid = pass_fingerprint(&before, pop3, fingerprint);
	if (!valid)
		memset(fingerprint, 0xff, sizeof(fingerprint));
	/* a cut-over goes on to change the copy (special folders, the
	   archive): its pass leaves no fingerprint, and one that is resumed
	   after a crash makes a pass */
	if (cmd->skip_unchanged)
		valid = FALSE;
	if (pass_unchanged(cmd, &la, fingerprint)) {
		i_info("migrate pass: %s: the legacy mailbox has not changed since "
		       "the last pass began: its copy is exact, no pass needed",
		       user->username);
		i_zero(&la.legacy_fingerprint);
		if (pass_ledger_set(cmd, user->username, &la) < 0)
			return -1;
		after = before;
	} else if (pass_dsync(cmd, user, legacy, valid, fingerprint) < 0 ||
		   (cmd->status &&
		    pass_legacy_status(cmd, legacy, pop3, FALSE, &after) < 0)) {
		return -1;
	}
	if (cmd->status)
		pass_print_status(&after);
	return 0;
}

static int cmd_pass_run(struct doveadm_mail_cmd_context *ctx, struct mail_user *user)
{
	struct pass_cmd_context *cmd = (struct pass_cmd_context *)ctx;
	struct migrate_account account;
	struct migrate_legacy legacy;
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
	ret = pass_account(cmd, user, legacy.user, pop3);
	migrate_legacy_close(&legacy);
	return ret;
}

static bool cmd_pass_parse_arg(struct migrate_mail_cmd *base, int c)
{
	struct pass_cmd_context *cmd = (struct pass_cmd_context *)base;

	if (c == 's')
		cmd->status = TRUE;
	else if (c == 'k')
		cmd->skip_unchanged = TRUE;
	else
		return FALSE;
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

	cmd = migrate_mail_cmd_alloc(struct pass_cmd_context, "pass", "c:sk",
				     cmd_pass_run);
	cmd->base.parse_arg = cmd_pass_parse_arg;
	cmd->base.print_header = cmd_pass_print_header;
	return &cmd->base.ctx;
}
