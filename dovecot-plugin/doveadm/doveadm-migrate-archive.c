/* doveadm migrate archive [-c migrate.conf] -u ACCOUNT

   The hosting guide's advice for huge mailboxes: when INBOX or the local
   Sent folder holds more than archive_over messages, those received more
   than archive_keep_days ago move to Archive/<year> (the local Archive
   special folder, a child per year of their INTERNALDATE), flags and
   dates kept. The ledger learns the moved messages first
   (doveadm-migrate-move.h), so a later sweep or finish never copies them
   again. The cut-over runs it (archive_over > 0), then `doveadm index`
   (which also feeds FTS where it is configured).

   One row per move: folder, archive, moved, duplicates. */

#include "lib.h"
#include "array.h"
#include "ioloop.h"
#include "seq-range-array.h"
#include "mail-storage.h"
#include "mail-namespace.h"
#include "mail-search-build.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"

#include "migrate-config.h"
#include "migrate-special-folder.h"
#include "migrate-store.h"
#include "doveadm-migrate.h"
#include "doveadm-migrate-mail-cmd.h"
#include "doveadm-migrate-move.h"
#include "doveadm-migrate-special.h"

#include <time.h>

/* years an archive spans: 1970 .. 2100 */
#define ARCHIVE_YEAR_MIN 1970
#define ARCHIVE_YEARS 131

struct archive_cmd_context {
	struct migrate_mail_cmd base;
	const char *address;
};

#define archive_fail(cmd, reason) \
	migrate_mail_cmd_fail(&(cmd)->base, (cmd)->address, "%s", reason)
#define archive_box_fail(cmd, box, what) \
	migrate_mail_cmd_box_fail(&(cmd)->base, (cmd)->address, box, what)

/* The UIDs of the messages older than the cut-off, by year. */
static int archive_by_year(struct archive_cmd_context *cmd, struct mailbox *box,
			   time_t cutoff, ARRAY_TYPE(seq_range) years[ARCHIVE_YEARS])
{
	struct mailbox_transaction_context *t;
	struct mail_search_args *args = mail_search_build_init();
	struct mail_search_context *search;
	struct mail *mail;
	struct tm tm;
	time_t date;
	int ret = 0;

	mail_search_build_add_all(args);
	t = mailbox_transaction_begin(box, 0, "migrate archive");
	search = mailbox_search_init(t, args, NULL, MAIL_FETCH_RECEIVED_DATE, NULL);
	mail_search_args_unref(&args);
	while (mailbox_search_next(search, &mail)) {
		unsigned int year;

		if (mail_get_received_date(mail, &date) < 0) {
			ret = archive_box_fail(cmd, box, "reading the dates of");
			break;
		}
		if (date >= cutoff || localtime_r(&date, &tm) == NULL)
			continue;
		year = (unsigned int)tm.tm_year + 1900;
		if (year < ARCHIVE_YEAR_MIN || year >= ARCHIVE_YEAR_MIN + ARCHIVE_YEARS)
			continue;
		seq_range_array_add(&years[year - ARCHIVE_YEAR_MIN], mail->uid);
	}
	if (mailbox_search_deinit(&search) < 0 && ret == 0)
		ret = archive_box_fail(cmd, box, "reading");
	(void)mailbox_transaction_commit(&t);
	return ret;
}

/* The legacy folder of the same name learns its dsync-placed messages
   before any of them leaves. */
static int archive_seed(struct archive_cmd_context *cmd, struct mailbox *box)
{
	struct migrate_ledger_folder rec;
	const char *error;
	char store_error[512];
	int ret;

	ret = migrate_store_ledger_folder_get(cmd->base.store, cmd->address,
					      mailbox_get_vname(box), &rec,
					      store_error, sizeof(store_error));
	if (ret < 0)
		return archive_fail(cmd, store_error);
	if (ret > 0 && strcmp(rec.local, rec.legacy) == 0 &&
	    migrate_move_seed(cmd->base.store, cmd->address, &rec, box, &error) < 0)
		return archive_fail(cmd, error);
	return 0;
}

static int archive_moves(struct archive_cmd_context *cmd, struct mail_user *user,
			 struct mailbox *box, ARRAY_TYPE(seq_range) years[ARCHIVE_YEARS])
{
	const char *parent = migrate_special_local_name(user, MIGRATE_SPECIAL_ARCHIVE);
	char sep = mail_namespace_get_sep(mailbox_get_namespace(box));
	struct migrate_move_result result;
	const char *target, *error;
	unsigned int i;

	for (i = 0; i < ARCHIVE_YEARS; i++) {
		if (array_count(&years[i]) == 0)
			continue;
		target = t_strdup_printf("%s%c%u", parent, sep, ARCHIVE_YEAR_MIN + i);
		if (migrate_move_messages(user, box, &years[i], target,
					  &result, &error) < 0)
			return archive_fail(cmd, error);
		doveadm_print(mailbox_get_vname(box));
		doveadm_print(target);
		doveadm_print_num(result.moved);
		doveadm_print_num(result.duplicates);
		i_info("migrate archive: %s: %u messages of '%s' moved to '%s'",
		       cmd->address, result.moved + result.duplicates,
		       mailbox_get_vname(box), target);
	}
	return 0;
}

static int archive_folder(struct archive_cmd_context *cmd, struct mail_user *user,
			  const char *name)
{
	struct mail_namespace *ns = mail_namespace_find(user->namespaces, name);
	struct mailbox *box = mailbox_alloc(ns->list, name, 0);
	ARRAY_TYPE(seq_range) years[ARCHIVE_YEARS];
	struct mailbox_status status;
	time_t cutoff = ioloop_time -
		(time_t)cmd->base.config->archive_keep_days * 86400;
	unsigned int i;
	int ret = 0;

	if (mailbox_sync(box, 0) < 0) {
		if (mailbox_get_last_mail_error(box) != MAIL_ERROR_NOTFOUND)
			ret = archive_box_fail(cmd, box, "opening");
		mailbox_free(&box);
		return ret;
	}
	mailbox_get_open_status(box, STATUS_MESSAGES, &status);
	if (status.messages > cmd->base.config->archive_over) {
		for (i = 0; i < ARCHIVE_YEARS; i++)
			t_array_init(&years[i], 8);
		ret = archive_by_year(cmd, box, cutoff, years);
		if (ret == 0)
			ret = archive_seed(cmd, box);
		if (ret == 0)
			ret = archive_moves(cmd, user, box, years);
	}
	mailbox_free(&box);
	return ret;
}

static int cmd_archive_run(struct doveadm_mail_cmd_context *ctx, struct mail_user *user)
{
	struct archive_cmd_context *cmd = (struct archive_cmd_context *)ctx;
	const char *sent;
	int ret;

	cmd->address = user->username;
	if (cmd->base.config->archive_over == 0) {
		i_info("migrate archive: %s: archive_over is 0, nothing to do",
		       cmd->address);
		return 0;
	}
	sent = migrate_special_local_name(user, MIGRATE_SPECIAL_SENT);
	T_BEGIN {
		ret = archive_folder(cmd, user, "INBOX");
		if (ret == 0)
			ret = archive_folder(cmd, user, sent);
	} T_END;
	return ret;
}

static const char *const archive_headers[] = {
	"folder", "archive", "moved", "duplicates", NULL
};

struct doveadm_mail_cmd_context *cmd_migrate_archive_alloc(void)
{
	struct archive_cmd_context *cmd;

	cmd = migrate_mail_cmd_alloc(struct archive_cmd_context, "archive", "c:",
				     cmd_archive_run);
	cmd->base.headers = archive_headers;
	return &cmd->base.ctx;
}
