/* doveadm migrate flush [-c migrate.conf] [-D] -u ACCOUNT

   Writes an account's local mail and index files to disk: syncfs() on the
   file system of every root directory its namespaces use (mail, index,
   control), once, instead of Dovecot's fsync per message. The worker runs
   it after the passes it ran with mail_fsync = never
   (import-replica.h).

   -D discards the local copy instead: each root directory is renamed to
   ROOT.discarded-UNIXTIME (left for the operator to delete), so the next
   dsync pass copies the account anew. Only for an account imported by
   dsync and not cut over yet, whose local copy holds nothing of the
   user's own: the worker uses it when a machine crash interrupted a pass
   before its flush (torn messages that dsync would never notice), and
   when dsync finds the copy changed and cannot recreate INBOX. */

/* syncfs() */
#define _GNU_SOURCE
#include "lib.h"
#include "array.h"
#include "ioloop.h"
#include "mail-storage.h"
#include "mail-namespace.h"
#include "mailbox-list.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"

#include "migrate-config.h"
#include "migrate-store.h"
#include "doveadm-migrate.h"
#include "doveadm-migrate-mail-cmd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <unistd.h>

struct flush_cmd_context {
	struct migrate_mail_cmd base;
	bool discard;
};

#define flush_fail(cmd, address, reason) \
	migrate_mail_cmd_fail(&(cmd)->base, address, "%s", reason)

/* Every root directory of the user's private namespaces, those inside
   another one left out (flushed and discarded along with it). */
static ARRAY_TYPE(const_string) flush_roots(struct mail_user *user)
{
	static const enum mailbox_list_path_type types[] = {
		MAILBOX_LIST_PATH_TYPE_DIR,
		MAILBOX_LIST_PATH_TYPE_ALT_DIR,
		MAILBOX_LIST_PATH_TYPE_CONTROL,
		MAILBOX_LIST_PATH_TYPE_INDEX,
		MAILBOX_LIST_PATH_TYPE_INDEX_PRIVATE,
	};
	ARRAY_TYPE(const_string) roots;
	struct mail_namespace *ns;
	const char *path, *const *seen;

	t_array_init(&roots, 8);
	for (ns = user->namespaces; ns != NULL; ns = ns->next) {
		if (ns->type != MAIL_NAMESPACE_TYPE_PRIVATE || ns->alias_for != NULL)
			continue;
		for (unsigned int i = 0; i < N_ELEMENTS(types); i++) {
			bool known = FALSE;

			if (!mailbox_list_get_root_path(ns->list, types[i], &path))
				continue;
			array_foreach(&roots, seen) {
				if (str_begins(path, *seen) &&
				    (path[strlen(*seen)] == '\0' ||
				     path[strlen(*seen)] == '/'))
					known = TRUE;
			}
			if (!known)
				array_push_back(&roots, &path);
		}
	}
	return roots;
}

static int flush_sync(const char *root, const char **error_r)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY);

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = t_strdup_printf("open(%s) failed: %m", root);
		return -1;
	}
	if (syncfs(fd) < 0) {
		*error_r = t_strdup_printf("syncfs(%s) failed: %m", root);
		i_close_fd(&fd);
		return -1;
	}
	i_close_fd(&fd);
	return 1;
}

static int flush_discard(const char *root, const char **new_path_r,
			 const char **error_r)
{
	struct stat st;
	unsigned int n = 1;

	/* rename() would replace an empty directory of that name */
	*new_path_r = t_strdup_printf("%s.discarded-%ld", root, (long)ioloop_time);
	while (lstat(*new_path_r, &st) == 0 && n < 100) {
		*new_path_r = t_strdup_printf("%s.discarded-%ld.%u", root,
					      (long)ioloop_time, ++n);
	}
	if (rename(root, *new_path_r) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	*error_r = t_strdup_printf("rename(%s, %s) failed: %m", root, *new_path_r);
	return -1;
}

/* Only a local copy that is nothing but a copy may be discarded. */
static const char *flush_discard_refused(struct flush_cmd_context *cmd,
					 const char *address)
{
	struct migrate_account account;
	struct migrate_ledger_account la;
	char error[512];
	int ret;

	ret = migrate_store_account_get(cmd->base.store, address, &account,
					error, sizeof(error));
	if (ret <= 0)
		return ret < 0 ? t_strdup(error) : "no such account in the store";
	if (migrate_store_ledger_account_get(cmd->base.store, address, &la,
					     error, sizeof(error)) < 0)
		return t_strdup(error);
	if (la.engine != MIGRATE_ENGINE_DSYNC)
		return "not imported by dsync: its local mail may be the user's own";
	switch (account.state) {
	case MIGRATE_STATE_QUEUED:
	case MIGRATE_STATE_IMPORTING:
	case MIGRATE_STATE_SYNCED:
	case MIGRATE_STATE_FAILED:
		return NULL;
	default:
		return t_strdup_printf("account is %s: its local mail is the "
				       "user's now", migrate_account_state_name(account.state));
	}
}

/* A discarded copy is no copy of what the last pass saw: no cut-over may
   skip its pass on the strength of that pass (doveadm-migrate-pass.c). */
static int flush_forget_fingerprint(struct flush_cmd_context *cmd,
				    const char *address)
{
	struct migrate_ledger_account la;
	char error[512];

	if (migrate_store_ledger_account_get(cmd->base.store, address, &la,
					     error, sizeof(error)) < 0)
		return flush_fail(cmd, address, error);
	i_zero(&la.legacy_fingerprint);
	if (migrate_store_ledger_account_set(cmd->base.store, address, &la,
					     error, sizeof(error)) < 0)
		return flush_fail(cmd, address, error);
	return 0;
}

static int cmd_flush_run(struct doveadm_mail_cmd_context *_ctx, struct mail_user *user)
{
	struct flush_cmd_context *cmd = (struct flush_cmd_context *)_ctx;
	ARRAY_TYPE(const_string) roots;
	const char *const *root, *refused, *error, *moved = NULL;
	int ret;

	if (cmd->discard &&
	    (refused = flush_discard_refused(cmd, user->username)) != NULL)
		return flush_fail(cmd, user->username,
				  t_strconcat("not discarded: ", refused, NULL));
	if (cmd->discard && flush_forget_fingerprint(cmd, user->username) < 0)
		return -1;
	roots = flush_roots(user);
	array_foreach(&roots, root) {
		ret = cmd->discard ? flush_discard(*root, &moved, &error) :
			flush_sync(*root, &error);
		if (ret < 0)
			return flush_fail(cmd, user->username, error);
		if (ret == 0)
			continue;
		doveadm_print(*root);
		doveadm_print(cmd->discard ? moved : "flushed");
		if (cmd->discard) {
			i_warning("migrate flush: %s: local copy discarded: "
				  "%s moved to %s", user->username, *root, moved);
		}
	}
	return 0;
}

static const char *const flush_headers[] = {
	"root", "result", NULL
};

static bool cmd_flush_parse_arg(struct migrate_mail_cmd *base, int c)
{
	struct flush_cmd_context *cmd = (struct flush_cmd_context *)base;

	if (c != 'D')
		return FALSE;
	cmd->discard = TRUE;
	return TRUE;
}

struct doveadm_mail_cmd_context *cmd_migrate_flush_alloc(void)
{
	struct flush_cmd_context *cmd;

	cmd = migrate_mail_cmd_alloc(struct flush_cmd_context, "flush", "c:D",
				     cmd_flush_run);
	cmd->base.parse_arg = cmd_flush_parse_arg;
	cmd->base.headers = flush_headers;
	return &cmd->base.ctx;
}
