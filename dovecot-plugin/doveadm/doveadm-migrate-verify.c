/* doveadm migrate verify [-c migrate.conf] -u ACCOUNT

   Compares the account's legacy mailbox with its local one: every legacy
   folder must exist locally under the same name and hold each legacy
   message with the same flags and keywords. Messages are matched by
   content (SHA-256 with CRLF read as LF) and INTERNALDATE, not by UID, so
   the comparison holds for the copier's imports and after a cut-over too;
   for POP3 by content alone, and without flags (POP3 has none). Local
   messages without a legacy twin are listed as well, while the account is
   not migrated. Once it is, the user's own new mail and flag changes are
   no differences: only legacy messages and folders missing locally are
   (local-only messages are counted in the closing line).

   One row per difference: folder, difference (missing, flags, local-only,
   folder-missing), legacy UID, local UID, detail. Exit 0 when there is
   none, 65 when there are. It reads every message on both sides: a full
   download from the legacy server. */

#include "lib.h"
#include "array.h"
#include "hex-binary.h"
#include "str.h"
#include "imap-util.h"
#include "mail-storage.h"
#include "mail-namespace.h"
#include "mail-search-build.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"

#include "migrate-config.h"
#include "migrate-store.h"
#include "doveadm-migrate.h"
#include "doveadm-migrate-mail-cmd.h"
#include "doveadm-migrate-special.h"
#include "doveadm-migrate-mailbox.h"

#include <sysexits.h>

struct verify_cmd_context {
	struct migrate_mail_cmd base;
	bool pop3;
	/* cut over: local mail and flags are the user's own from then on */
	bool migrated;
	unsigned int folders, messages, differences, own_messages;
};

/* one message of one side */
struct verify_message {
	/* content hash and (IMAP) date: what matches the two sides */
	const char *key;
	uint32_t uid;
	const char *flags;
};
ARRAY_DEFINE_TYPE(verify_message, struct verify_message);

#define verify_fail(cmd, address, reason) \
	migrate_mail_cmd_fail(&(cmd)->base, address, "%s", reason)

static void verify_row(struct verify_cmd_context *cmd, const char *folder,
		       const char *what, uint32_t legacy_uid, uint32_t local_uid,
		       const char *detail)
{
	doveadm_print(folder);
	doveadm_print(what);
	doveadm_print(legacy_uid == 0 ? "" : dec2str(legacy_uid));
	doveadm_print(local_uid == 0 ? "" : dec2str(local_uid));
	doveadm_print(detail);
	cmd->differences++;
}

/* flags and keywords in a canonical order, \Recent left out */
static const char *verify_flags(struct mail *mail)
{
	ARRAY_TYPE(const_string) keywords;
	const char *const *kw;
	string_t *str = t_str_new(64);

	t_array_init(&keywords, 8);
	for (kw = mail_get_keywords(mail); *kw != NULL; kw++)
		array_push_back(&keywords, kw);
	array_sort(&keywords, i_strcmp_p);
	array_append_zero(&keywords);
	imap_write_flags(str, mail_get_flags(mail) & ENUM_NEGATE(MAIL_RECENT),
			 array_front(&keywords));
	return str_c(str);
}

static int verify_message_cmp(const struct verify_message *a,
			      const struct verify_message *b)
{
	int ret = strcmp(a->key, b->key);

	return ret != 0 ? ret : (a->uid < b->uid ? -1 : a->uid > b->uid);
}

/* Every message of the folder, sorted by key. */
static int verify_read(struct verify_cmd_context *cmd, struct mailbox *box,
		       ARRAY_TYPE(verify_message) *messages, const char **error_r)
{
	struct mailbox_transaction_context *t;
	struct mail_search_args *args;
	struct mail_search_context *search;
	struct mail *mail;
	unsigned char sha[SHA256_RESULTLEN];
	uoff_t size;
	time_t date;
	int ret = 0;

	if (mailbox_sync(box, 0) < 0) {
		*error_r = mailbox_get_last_internal_error(box, NULL);
		return -1;
	}
	t = mailbox_transaction_begin(box, 0, "migrate verify");
	args = mail_search_build_init();
	mail_search_build_add_all(args);
	search = mailbox_search_init(t, args, NULL, MAIL_FETCH_STREAM_HEADER |
				     MAIL_FETCH_STREAM_BODY | MAIL_FETCH_FLAGS |
				     MAIL_FETCH_RECEIVED_DATE, NULL);
	mail_search_args_unref(&args);
	while (ret == 0 && mailbox_search_next(search, &mail)) {
		struct verify_message *m = array_append_space(messages);

		if (migrate_mail_hash(mail, sha, &size, error_r) < 0 ||
		    (!cmd->pop3 && mail_get_received_date(mail, &date) < 0)) {
			if (!cmd->pop3)
				*error_r = t_strdup_printf("UID %u: %s", mail->uid,
					mailbox_get_last_internal_error(box, NULL));
			ret = -1;
			break;
		}
		m->uid = mail->uid;
		m->key = cmd->pop3 ? binary_to_hex(sha, sizeof(sha)) :
			t_strdup_printf("%s/%ld", binary_to_hex(sha, sizeof(sha)),
					(long)date);
		m->flags = cmd->pop3 ? "" : verify_flags(mail);
	}
	if (mailbox_search_deinit(&search) < 0 && ret == 0) {
		*error_r = mailbox_get_last_internal_error(box, NULL);
		ret = -1;
	}
	(void)mailbox_transaction_commit(&t);
	array_sort(messages, verify_message_cmp);
	return ret;
}

/* The two sorted lists side by side: a key on one side only is missing
   (legacy) or local-only; a pair with different flags differs. */
static void verify_compare(struct verify_cmd_context *cmd, const char *folder,
			   const ARRAY_TYPE(verify_message) *legacy,
			   const ARRAY_TYPE(verify_message) *local,
			   bool local_only)
{
	unsigned int a_count, b_count;
	const struct verify_message *a = array_get(legacy, &a_count);
	const struct verify_message *b = array_get(local, &b_count);
	const struct verify_message *a_end = a + a_count, *b_end = b + b_count;

	while (a < a_end || b < b_end) {
		int cmp = a == a_end ? 1 : b == b_end ? -1 : strcmp(a->key, b->key);

		if (cmp < 0) {
			verify_row(cmd, folder, "missing", a->uid, 0,
				   "not in the local folder");
			a++;
		} else if (cmp > 0) {
			if (local_only && cmd->migrated)
				cmd->own_messages++;
			else if (local_only) {
				verify_row(cmd, folder, "local-only", 0, b->uid,
					   "not in the legacy folder");
			}
			b++;
		} else {
			if (!cmd->migrated && strcmp(a->flags, b->flags) != 0) {
				verify_row(cmd, folder, "flags", a->uid, b->uid,
					   t_strdup_printf("legacy (%s) local (%s)",
							   a->flags, b->flags));
			}
			a++;
			b++;
		}
	}
}

/* One legacy folder and the local one its messages went to (its own
   name, or a special folder several legacy folders were merged into: a
   merged folder holds the others' messages too, so local-only ones are
   not differences there). */
struct verify_pair {
	const char *legacy, *local;
	bool merged_into;
	/* INBOX or Sent with archive_over set: older messages may be in the
	   Archive/<year> folders */
	bool archived;
};
ARRAY_DEFINE_TYPE(verify_pair, struct verify_pair);

/* Is name Archive<sep>YEAR? */
static bool verify_is_archive(struct mail_user *user, const char *name)
{
	const char *parent = migrate_special_local_name(user, MIGRATE_SPECIAL_ARCHIVE);
	size_t len = strlen(parent), i;

	if (strncmp(name, parent, len) != 0 || name[len] == '\0' ||
	    strlen(name + len + 1) != 4)
		return FALSE;
	for (i = len + 1; name[i] != '\0'; i++) {
		if (name[i] < '0' || name[i] > '9')
			return FALSE;
	}
	return TRUE;
}

/* The messages of every Archive/<year> folder, added to local. */
static int verify_read_archives(struct verify_cmd_context *cmd,
				struct mail_user *user,
				ARRAY_TYPE(verify_message) *local,
				const char **error_r)
{
	ARRAY_TYPE(migrate_folder_entry) folders;
	const struct migrate_folder_entry *folder;
	ARRAY_TYPE(verify_message) archived;
	struct mailbox *box;
	int ret = 0;

	if (migrate_list_folders(user, FALSE, &folders) < 0) {
		*error_r = "listing the local folders failed";
		return -1;
	}
	array_foreach(&folders, folder) {
		if (!verify_is_archive(user, folder->name))
			continue;
		t_array_init(&archived, 128);
		box = mailbox_alloc(mail_namespace_find(user->namespaces,
							folder->name)->list,
				    folder->name, MAILBOX_FLAG_READONLY);
		ret = verify_read(cmd, box, &archived, error_r);
		mailbox_free(&box);
		if (ret < 0)
			return -1;
		array_append_array(local, &archived);
	}
	array_sort(local, verify_message_cmp);
	return 0;
}

static int verify_folder(struct verify_cmd_context *cmd, struct mail_user *user,
			 struct mail_user *legacy_user, const struct verify_pair *pair)
{
	ARRAY_TYPE(verify_message) legacy, local;
	struct mailbox *legacy_box, *local_box;
	const char *name = pair->legacy, *error;
	int ret;

	t_array_init(&legacy, 128);
	t_array_init(&local, 128);
	legacy_box = mailbox_alloc(mail_namespace_find(legacy_user->namespaces, name)->list,
				   name, MAILBOX_FLAG_READONLY);
	local_box = mailbox_alloc(mail_namespace_find(user->namespaces, pair->local)->list,
				  pair->local, MAILBOX_FLAG_READONLY);
	ret = verify_read(cmd, legacy_box, &legacy, &error);
	if (ret < 0) {
		error = t_strdup_printf("legacy folder %s: %s", name, error);
	} else if (verify_read(cmd, local_box, &local, &error) < 0) {
		if (mailbox_get_last_mail_error(local_box) == MAIL_ERROR_NOTFOUND) {
			verify_row(cmd, name, "folder-missing", 0, 0, t_strdup_printf(
				"no local folder %s: %u legacy messages", pair->local,
				array_count(&legacy)));
		} else {
			error = t_strdup_printf("local folder %s: %s", pair->local, error);
			ret = -1;
		}
	} else if (pair->archived && verify_read_archives(cmd, user, &local, &error) < 0) {
		error = t_strdup_printf("archive folders: %s", error);
		ret = -1;
	} else {
		verify_compare(cmd, name, &legacy, &local,
			       !pair->merged_into && !pair->archived);
	}
	mailbox_free(&legacy_box);
	mailbox_free(&local_box);
	if (ret < 0)
		return verify_fail(cmd, user->username, error);
	cmd->folders++;
	cmd->messages += array_count(&legacy);
	return 0;
}

/* Each legacy folder with its local one, as the ledger maps it. */
static int verify_pairs(struct verify_cmd_context *cmd, struct mail_user *user,
			const char *address,
			const ARRAY_TYPE(migrate_folder_entry) *folders,
			ARRAY_TYPE(verify_pair) *pairs)
{
	const struct migrate_folder_entry *folder;
	struct migrate_ledger_folder rec;
	struct verify_pair *pair, *other;
	char error[512];
	int ret;

	t_array_init(pairs, array_count(folders));
	array_foreach(folders, folder) {
		pair = array_append_space(pairs);
		pair->legacy = folder->name;
		pair->local = folder->name;
		ret = migrate_store_ledger_folder_get(cmd->base.store, address,
						      folder->name, &rec,
						      error, sizeof(error));
		if (ret < 0)
			return verify_fail(cmd, address, error);
		if (ret > 0)
			pair->local = t_strdup(rec.local);
		pair->archived = cmd->base.config->archive_over > 0 &&
			(strcmp(pair->local, "INBOX") == 0 ||
			 strcmp(pair->local, migrate_special_local_name(user,
					MIGRATE_SPECIAL_SENT)) == 0);
	}
	array_foreach_modifiable(pairs, pair) {
		array_foreach_modifiable(pairs, other) {
			if (strcmp(other->local, other->legacy) != 0 &&
			    strcmp(other->local, pair->local) == 0)
				pair->merged_into = TRUE;
		}
	}
	return 0;
}

static int cmd_verify_run(struct doveadm_mail_cmd_context *_ctx, struct mail_user *user)
{
	struct verify_cmd_context *cmd = (struct verify_cmd_context *)_ctx;
	ARRAY_TYPE(migrate_folder_entry) folders;
	ARRAY_TYPE(verify_pair) pairs = ARRAY_INIT;
	struct migrate_account account;
	struct migrate_legacy legacy;
	struct mail_user *legacy_user;
	const char *error;
	int ret;

	if (migrate_mail_cmd_account(&cmd->base, user, &account) < 0)
		return -1;
	cmd->pop3 = account.protocol == MIGRATE_PROTOCOL_POP3;
	cmd->migrated = account.state == MIGRATE_STATE_MIGRATED;
	if (migrate_legacy_open(_ctx, migrate_config_find_domain(cmd->base.config,
								 account.domain),
				cmd->pop3, cmd->base.config->import_prefetch,
				&legacy, &error) < 0)
		return verify_fail(cmd, user->username,
				   t_strconcat("legacy mailbox: ", error, NULL));
	legacy_user = legacy.user;
	ret = migrate_list_folders(legacy_user, cmd->pop3, &folders);
	if (ret < 0)
		ret = verify_fail(cmd, user->username, "listing the legacy folders failed");
	else
		ret = verify_pairs(cmd, user, user->username, &folders, &pairs);
	for (unsigned int i = 0; ret == 0 && i < array_count(&pairs); i++) {
		T_BEGIN {
			ret = verify_folder(cmd, user, legacy_user,
					    array_idx(&pairs, i));
		} T_END;
	}
	migrate_legacy_close(&legacy);
	if (ret < 0)
		return -1;
	i_info("migrate verify: %s: %u folders, %u legacy messages compared, "
	       "%u differences%s", user->username, cmd->folders, cmd->messages,
	       cmd->differences, !cmd->migrated ? "" : t_strdup_printf(
	       " (migrated: flags not compared, %u local messages of its own)",
	       cmd->own_messages));
	if (cmd->differences > 0)
		_ctx->exit_code = EX_DATAERR;
	return 0;
}

static const char *const verify_headers[] = {
	"folder", "difference", "legacy_uid", "local_uid", "detail", NULL
};

struct doveadm_mail_cmd_context *cmd_migrate_verify_alloc(void)
{
	struct verify_cmd_context *cmd;

	cmd = migrate_mail_cmd_alloc(struct verify_cmd_context, "verify", "c:",
				     cmd_verify_run);
	cmd->base.headers = verify_headers;
	return &cmd->base.ctx;
}
