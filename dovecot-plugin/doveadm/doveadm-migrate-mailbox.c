/* Shared by the mail commands, see doveadm-migrate-mailbox.h. */

#include "lib.h"
#include "array.h"
#include "istream.h"
#include "istream-crlf.h"
#include "settings-parser.h"
#include "mail-storage.h"
#include "mail-storage-service.h"
#include "mail-namespace.h"
#include "mailbox-list-iter.h"
#include "doveadm-mail.h"

#include "migrate-config.h"
#include "doveadm-migrate-mailbox.h"
#include "import-child.h"

/* line: "key=value" */
static void legacy_set(struct setting_parser_context *set_parser,
		       const char *line)
{
	if (settings_parse_line(set_parser, line) <= 0)
		i_panic("migrate: setting %s refused by Dovecot", line);
}

/* dsync needs one hierarchy separator on both sides, and legacy servers
   answer '.' (Courier, Cyrus, older Dovecot) or '/' (Dovecot, Exchange):
   the legacy user's inbox namespace takes the local one's, as the local
   user has it (explicit or its storage's default). imapc translates the
   server's separator, and a name holding the local one is escaped by the
   dsync escape character (import-dsync.c) on its way. */
static void legacy_set_separator(struct setting_parser_context *set_parser,
				 struct mail_user *local)
{
	struct mail_namespace *ns = local == NULL ? NULL :
		mail_namespace_find_inbox(local->namespaces);

	if (ns == NULL || ns->set->name == NULL || ns->set->name[0] == '\0')
		return;
	legacy_set(set_parser, t_strdup_printf("namespace/%s/separator=%c",
		   ns->set->name, mail_namespace_get_sep(ns)));
}

static int legacy_open(struct doveadm_mail_cmd_context *ctx,
		       const struct migrate_domain *domain, bool pop3,
		       const char *location, unsigned int prefetch,
		       struct migrate_legacy *legacy_r, const char **error_r)
{
	struct setting_parser_context *set_parser;
	struct migrate_pop3_relay_target target;
	char error[256], setting[64];
	unsigned int i;

	i_zero(legacy_r);
	set_parser = mail_storage_service_user_get_settings_parser(ctx->cur_service_user);
	legacy_set(set_parser, t_strconcat("mail_location=", location, NULL));
	legacy_set(set_parser, t_strdup_printf("mail_prefetch_count=%u", prefetch));
	legacy_set_separator(set_parser, ctx->cur_mail_user);
	if (pop3 && domain != NULL && migrate_pop3_relay_target(domain, &target)) {
		if (migrate_pop3_relay_start(&target, STDERR_FILENO,
					     &legacy_r->relay, error,
					     sizeof(error)) < 0) {
			*error_r = t_strdup(error);
			return -1;
		}
		for (i = 0; migrate_pop3_relay_setting(&legacy_r->relay, i, setting,
						       sizeof(setting)); i++)
			legacy_set(set_parser, setting);
	}
	if (mail_storage_service_next(ctx->storage_service, ctx->cur_service_user,
				      &legacy_r->user, error_r) < 0) {
		migrate_legacy_close(legacy_r);
		return -1;
	}
	return 0;
}

int migrate_legacy_open(struct doveadm_mail_cmd_context *ctx,
			const struct migrate_domain *domain, bool pop3,
			unsigned int prefetch, struct migrate_legacy *legacy_r,
			const char **error_r)
{
	return legacy_open(ctx, domain, pop3, pop3 ? "pop3c:" : "imapc:",
			   prefetch, legacy_r, error_r);
}

int migrate_legacy_open_pass(struct doveadm_mail_cmd_context *ctx,
			     const struct migrate_domain *domain, bool pop3,
			     unsigned int prefetch, struct migrate_legacy *legacy_r,
			     const char **error_r)
{
	return legacy_open(ctx, domain, pop3, pop3 ?
			   "pop3c:~/"MIGRATE_POP3C_INDEX_DIR : "imapc:",
			   prefetch, legacy_r, error_r);
}

void migrate_legacy_close(struct migrate_legacy *legacy)
{
	if (legacy->user != NULL)
		mail_user_deinit(&legacy->user);
	migrate_pop3_relay_stop(&legacy->relay);
}

int migrate_list_folders(struct mail_user *user, bool pop3,
			 ARRAY_TYPE(migrate_folder_entry) *folders)
{
	static const char *const patterns[] = { "*", NULL };
	struct mailbox_list_iterate_context *iter;
	const struct mailbox_info *info;
	struct migrate_folder_entry entry;

	t_array_init(folders, 16);
	i_zero(&entry);
	if (pop3) {
		entry.name = "INBOX";
		array_push_back(folders, &entry);
		return 0;
	}
	iter = mailbox_list_iter_init_namespaces(user->namespaces, patterns,
						 MAIL_NAMESPACE_TYPE_PRIVATE,
						 MAILBOX_LIST_ITER_NO_AUTO_BOXES |
						 MAILBOX_LIST_ITER_RETURN_SPECIALUSE);
	while ((info = mailbox_list_iter_next(iter)) != NULL) {
		if ((info->flags & (MAILBOX_NOSELECT | MAILBOX_NONEXISTENT)) != 0)
			continue;
		entry.name = t_strdup(info->vname);
		entry.special_use = t_strdup(info->special_use);
		array_push_back(folders, &entry);
	}
	if (mailbox_list_iter_deinit(&iter) < 0)
		return -1;
	/* imapc answers RETURN (SUBSCRIBED) with nothing: ask LSUB's way */
	iter = mailbox_list_iter_init_namespaces(user->namespaces, patterns,
						 MAIL_NAMESPACE_TYPE_PRIVATE,
						 MAILBOX_LIST_ITER_SELECT_SUBSCRIBED |
						 MAILBOX_LIST_ITER_RETURN_NO_FLAGS);
	while ((info = mailbox_list_iter_next(iter)) != NULL) {
		struct migrate_folder_entry *e;

		array_foreach_modifiable(folders, e) {
			if (strcmp(e->name, info->vname) == 0)
				e->subscribed = TRUE;
		}
	}
	return mailbox_list_iter_deinit(&iter);
}

int migrate_mail_hash(struct mail *mail, unsigned char sha256[SHA256_RESULTLEN],
		      uoff_t *size_r, const char **error_r)
{
	struct istream *input, *lf;
	const unsigned char *data;
	struct sha256_ctx sha;
	size_t size;
	int ret;

	if (mail_get_stream(mail, NULL, NULL, &input) < 0) {
		*error_r = mailbox_get_last_internal_error(mail->box, NULL);
		return -1;
	}
	lf = i_stream_create_lf(input);
	sha256_init(&sha);
	*size_r = 0;
	while ((ret = i_stream_read_more(lf, &data, &size)) > 0) {
		sha256_loop(&sha, data, size);
		*size_r += size;
		i_stream_skip(lf, size);
	}
	ret = lf->stream_errno != 0 ? -1 : 0;
	if (ret < 0)
		*error_r = t_strdup(i_stream_get_error(lf));
	i_stream_unref(&lf);
	sha256_result(&sha, sha256);
	return ret;
}
