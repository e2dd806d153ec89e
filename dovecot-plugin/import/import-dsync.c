/* dsync in process, see import-dsync.h. The brains' settings are those
   of `doveadm backup -R` with doveadm's own dsync settings (hashed
   headers, alt char, commit interval). */

#include "lib.h"
#include "array.h"
#include "module-context.h"
#include "mail-namespace.h"
#include "mail-storage.h"
#include "mailbox-list-private.h"
#include "doveadm.h"
#include "doveadm-mail.h"
#include "doveadm-settings.h"
#include "dsync-brain.h"
#include "dsync-ibc.h"

#include "import-dsync.h"

/* doveadm's escape characters for such names (doveadm-dsync.c): the same,
   so our passes and an operator's `doveadm backup` name folders alike */
#define IMPORT_DSYNC_ESCAPE_CHAR '%'
#define IMPORT_DSYNC_ALT_ESCAPE_CHAR '~'

/* What doveadm does to a user before dsync touches it: dsync's mark on
   the user, and an escape character for names the other side's
   separator cannot hold. */
static void import_dsync_user_init(struct mail_user *user)
{
	struct mail_namespace *ns;
	char sep = mail_namespaces_get_root_sep(user->namespaces);

	user->dsyncing = TRUE;
	for (ns = user->namespaces; ns != NULL; ns = ns->next) {
		struct dsync_mailbox_list *dlist =
			p_new(ns->list->pool, struct dsync_mailbox_list, 1);

		MODULE_CONTEXT_SET(ns->list, dsync_mailbox_list_module, dlist);
		if (ns->list->set.vname_escape_char == '\0') {
			ns->list->set.vname_escape_char =
				sep != IMPORT_DSYNC_ESCAPE_CHAR ?
				IMPORT_DSYNC_ESCAPE_CHAR :
				IMPORT_DSYNC_ALT_ESCAPE_CHAR;
		} else {
			dlist->have_orig_escape_char = TRUE;
		}
	}
}

static int import_dsync_check_separators(struct mail_user *local,
					 struct mail_user *legacy,
					 const char **error_r)
{
	struct mail_namespace *ns = mail_namespace_find_inbox(local->namespaces);
	struct mail_namespace *ns2 = mail_namespace_find_inbox(legacy->namespaces);

	if (mail_namespace_get_sep(ns) != mail_namespace_get_sep(ns2)) {
		*error_r = t_strdup_printf("the local hierarchy separator '%c' is "
			"not the legacy server's '%c' (set the inbox namespace's "
			"separator = %c)", mail_namespace_get_sep(ns),
			mail_namespace_get_sep(ns2), mail_namespace_get_sep(ns2));
		return -1;
	}
	return 0;
}

static void import_dsync_settings(struct dsync_brain_settings *set)
{
	i_zero(set);
	/* empty: every namespace (the brain counts it, so it must exist) */
	t_array_init(&set->sync_namespaces, 1);
	set->mailbox_alt_char = doveadm_settings->dsync_alt_char[0];
	set->hashed_headers =
		t_strsplit_spaces(doveadm_settings->dsync_hashed_headers, " ,");
	set->import_commit_msgs_interval =
		doveadm_settings->dsync_commit_msgs_interval;
}

int import_dsync_pass(struct mail_user *local, struct mail_user *legacy,
		      const char **error_r, enum mail_error *mail_error_r)
{
	struct dsync_brain_settings set;
	struct dsync_ibc *ibc, *ibc2;
	struct dsync_brain *brain, *brain2;
	enum mail_error error1 = 0, error2 = 0;
	bool running1 = TRUE, running2 = TRUE, changed1, changed2, remote_only;
	const char *changes, *changes2;
	int ret = 0;

	*mail_error_r = MAIL_ERROR_TEMP;
	if (import_dsync_check_separators(local, legacy, error_r) < 0) {
		*mail_error_r = MAIL_ERROR_PARAMS;
		return -1;
	}
	import_dsync_user_init(local);
	import_dsync_user_init(legacy);
	import_dsync_settings(&set);

	dsync_ibc_init_pipe(&ibc, &ibc2);
	brain = dsync_brain_master_init(local, ibc, DSYNC_BRAIN_SYNC_TYPE_CHANGED,
					DSYNC_BRAIN_FLAG_SEND_MAIL_REQUESTS |
					DSYNC_BRAIN_FLAG_BACKUP_RECV, &set);
	brain2 = dsync_brain_slave_init(legacy, ibc2, TRUE, "",
					set.mailbox_alt_char);
	while ((running1 || running2) && !doveadm_is_killed()) {
		if (dsync_brain_has_failed(brain) || dsync_brain_has_failed(brain2))
			break;
		running1 = dsync_brain_run(brain, &changed1);
		running2 = dsync_brain_run(brain2, &changed2);
	}
	changes = t_strdup(dsync_brain_get_unexpected_changes_reason(brain, &remote_only));
	changes2 = t_strdup(dsync_brain_get_unexpected_changes_reason(brain2, &remote_only));
	if (dsync_brain_deinit(&brain2, &error2) < 0)
		ret = -1;
	if (dsync_brain_deinit(&brain, &error1) < 0)
		ret = -1;
	dsync_ibc_deinit(&ibc);
	dsync_ibc_deinit(&ibc2);

	if (doveadm_is_killed()) {
		*error_r = "stopped by a signal";
		return -1;
	}
	if (ret < 0) {
		/* a class other than "temporary" says more, when there is one */
		*mail_error_r = error1 != 0 && error1 != MAIL_ERROR_TEMP ? error1 :
			error2 != 0 ? error2 : MAIL_ERROR_TEMP;
		*error_r = "dsync failed (its errors are logged above)";
		return -1;
	}
	if (changes != NULL || changes2 != NULL) {
		*error_r = t_strdup_printf("the mailbox changed during the pass: %s",
					   changes != NULL ? changes : changes2);
		return -1;
	}
	return 0;
}
