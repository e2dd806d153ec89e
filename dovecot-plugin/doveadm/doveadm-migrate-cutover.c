/* doveadm migrate cutover [-c migrate.conf] -u ACCOUNT

   Switches one synced account from the legacy server to the new one. The
   order of the steps is what keeps IMAP's promise (within one
   UIDVALIDITY a UID names one message forever) and loses nothing:
   1. synced -> cutover: from now on the passdb refuses the account's
      logins ("being moved, try again in a minute") and writes no proxy
      grant any more (the grant and the state check share a transaction);
   2. the fence (doveadm-migrate-fence.h): kick the account's proxied
      sessions and list the login processes' proxies until none of the
      account is left and the newest grant has had time to reach its
      login process. Before this step a login decided on an older state
      could still start a session on the legacy server after the kick;
      after it, no client can see or change the legacy mailbox;
   3. the last dsync pass, exact because the local side has no changes
      of its own yet, and the ledger's watermarks (`migrate sweep -M`);
      it mirrors every legacy folder's UIDVALIDITY and UIDNEXT, so every
      legacy UID a client saw through the proxy is either the same
      message here or below the local UIDNEXT, never given again;
   4. the check: the legacy folders' message counts, UIDVALIDITY and
      UIDNEXT now against the copy's. Mail delivered to the legacy server
      during the pass (Postfix still relays a cutover account there)
      shows up here, and another pass takes it (at most
      CUTOVER_ROUNDS); a mailbox that keeps changing gets the ledger
      copier instead, which copies what is missing exactly once. So what
      the legacy mailbox holds at the flip is local at the flip;
   5. cutover -> migrated: logins and deliveries are local from now on,
      and the account's sweep is scheduled sweep_after_secs later, for
      the mail Postfix had already queued for the legacy server.
   An account imported by the ledger copier (local and refuse modes) gets
   a last sweep instead of 3 and 4. When the fence or the last pass fails
   the account goes to failed (with the cause and a retry time) and is
   queued again; the legacy server stays in charge until a later
   cut-over. */

#include "lib.h"
#include "array.h"
#include "strescape.h"
#include "master-service.h"
#include "doveadm.h"
#include "doveadm-cmd.h"
#include "doveadm-print.h"

#include "migrate-address.h"
#include "migrate-config.h"
#include "migrate-store.h"
#include "doveadm-migrate.h"
#include "import-child.h"
#include "doveadm-migrate-fence.h"
#include "migrate-folder-status.h"
#include "import-inline.h"
#include "import-output.h"
#include "import-pool.h"

#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>

/* dsync rounds at the cut-over before the ledger copier takes the rest */
#define CUTOVER_ROUNDS 3

struct cutover {
	const struct migrate_config *config;
	const char *dovecot_config;
	struct migrate_store *store;
	const char *address;
	struct migrate_account account;
	struct migrate_fence_result fence;
	/* the legacy folders' status as the last dsync pass left them (its
	   special_use column spares the special folders a legacy login);
	   NULL: no dsync pass ran */
	const char *legacy_status;
	unsigned int rounds;
	bool copier_fallback;
};

static bool child_ok(int status)
{
	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Step 2: no session of the account on the legacy server from here on. */
static const char *cutover_fence(struct cutover *c)
{
	struct migrate_account account;
	const char *reason;
	char error[512];
	int ret;

	/* read after the flip: no grant can be newer than this one */
	ret = migrate_store_account_get(c->store, c->address, &account,
					error, sizeof(error));
	if (ret <= 0)
		return ret < 0 ? t_strdup(error) : "the account disappeared";
	if (migrate_fence_sessions(doveadm_settings->base_dir, c->address,
				   account.proxy_granted_ms, &c->fence,
				   &reason) < 0)
		return t_strconcat("fencing off the legacy sessions: ", reason, NULL);
	return NULL;
}

/* Runs one started child to its end; NULL when it succeeded, else why.
   With count, a successful child's output holds the local counts, which
   become the account's done counts. */
static const char *cutover_run(struct cutover *c, struct child *child, int spawned,
			       child_count_fn *count)
{
	struct migrate_account_progress *p = &c->account.progress;
	const char *reason = NULL;
	int status;

	if (spawned < 0)
		return "could not start doveadm";
	status = child_wait(child);
	child_forward_log(child);
	if (!child_ok(status))
		reason = child_reason(child, status);
	else if (count != NULL &&
		 count(child, &p->folders_done, &p->messages_done, &p->bytes_done))
		p->pass++;
	child_close(child);
	return reason;
}

/* A finished child's output; NULL when it failed (reason_r set). */
static const char *cutover_output(struct child *child, int spawned,
				  const char **reason_r)
{
	const char *text = NULL;
	int status;

	if (spawned < 0) {
		*reason_r = "could not start doveadm";
		return NULL;
	}
	status = child_wait(child);
	/* what the step logged of its own (a pass not needed, folders
	   merged) goes to our log */
	child_forward_log(child);
	if (!child_ok(status))
		*reason_r = child_reason(child, status);
	else
		text = child_output_text(child);
	child_close(child);
	return text;
}

/* Step 4: does the copy the marks describe cover the legacy mailbox as
   the pass left it (its status, read on the pass's own session)? NULL
   when it could be told; else why not (the cut-over fails then: the
   legacy server stays in charge). */
static const char *cutover_check(struct cutover *c, const char *marks,
				 const char *legacy_status, bool *covered_r)
{
	struct migrate_folder_listing copy, legacy;
	const char *reason = NULL;
	char why[512];

	*covered_r = FALSE;
	/* freed whole below even when a parse never reached them */
	i_zero(&copy);
	i_zero(&legacy);
	if (migrate_folder_listing_parse(marks, &copy, why, sizeof(why)) < 0)
		reason = t_strconcat("the marks: ", why, NULL);
	else if (migrate_folder_listing_parse(legacy_status, &legacy, why,
					      sizeof(why)) < 0)
		reason = t_strconcat("the legacy folders: ", why, NULL);
	else if (migrate_folder_listing_covers(&copy, &legacy,
			c->account.protocol == MIGRATE_PROTOCOL_POP3,
			why, sizeof(why)))
		*covered_r = TRUE;
	else
		i_info("migrate cutover: %s: the legacy mailbox changed during "
		       "the last pass (%s)", c->address, why);
	migrate_folder_listing_free(&copy);
	migrate_folder_listing_free(&legacy);
	return reason;
}

/* Step 3 once: a dsync pass, which reads the legacy folders' status on
   its session right after (in legacy_r), and the marks, which bring the
   local counts (in marks_r). */
static const char *cutover_dsync_round(struct cutover *c, const char **legacy_r,
				       const char **marks_r)
{
	struct migrate_account_progress *p = &c->account.progress;
	struct child child;
	const char *reason = NULL;

	*legacy_r = cutover_output(&child, child_spawn_pass(c->dovecot_config,
		&child, c->address, c->config->path, FALSE, TRUE), &reason);
	if (*legacy_r == NULL)
		return reason;
	*marks_r = cutover_output(&child, child_spawn_sweep(c->dovecot_config,
		&child, c->address, c->config->path, 0, TRUE), &reason);
	if (*marks_r == NULL)
		return reason;
	if (import_output_marks_count(*marks_r, &p->folders_done,
				       &p->messages_done, &p->bytes_done))
		p->pass++;
	return NULL;
}

/* Steps 3 and 4 for an account dsync imported; NULL on success. */
static const char *cutover_dsync(struct cutover *c)
{
	const char *marks = NULL, *legacy = NULL, *reason;
	struct child child;
	bool covered = FALSE;

	for (c->rounds = 1; ; c->rounds++) {
		if ((reason = cutover_dsync_round(c, &legacy, &marks)) != NULL ||
		    (reason = cutover_check(c, marks, legacy, &covered)) != NULL)
			return reason;
		c->legacy_status = legacy;
		if (covered || c->rounds == CUTOVER_ROUNDS)
			break;
	}
	if (covered)
		return NULL;
	/* still changing (a busy delivery stream): the copier takes what
	   the last pass missed, exactly once, without touching the rest */
	c->copier_fallback = TRUE;
	return cutover_run(c, &child, child_spawn_sweep(c->dovecot_config,
		&child, c->address, c->config->path, 0, FALSE), NULL);
}

/* The final pass; NULL on success, else the cause. */
static const char *cutover_final_pass(struct cutover *c)
{
	struct migrate_ledger_account la;
	struct child child;
	const char *reason;
	char error[512];

	if (migrate_store_ledger_account_get(c->store, c->address, &la,
					     error, sizeof(error)) < 0)
		return t_strdup(error);
	if (la.engine != MIGRATE_ENGINE_COPIER)
		return cutover_dsync(c);
	reason = cutover_run(c, &child, child_spawn_sweep(c->dovecot_config,
		&child, c->address, c->config->path, 0, FALSE), NULL);
	if (reason != NULL)
		return reason;
	/* a failed count only leaves the progress record behind */
	(void)cutover_run(c, &child, child_spawn_count(c->dovecot_config, &child,
		c->address, c->account.protocol, NULL, CHILD_COUNT_LOCAL),
		child_count);
	return NULL;
}

static void cutover_fail(struct cutover *c, const char *reason)
{
	char error[512];
	int64_t next_retry = time(NULL) +
		migrate_account_retry_delay(c->account.attempts + 1);

	if (migrate_store_account_transition(c->store, c->address,
			MIGRATE_STATE_CUTOVER, MIGRATE_STATE_FAILED,
			t_strconcat("cut-over: ", reason, NULL), next_retry,
			error, sizeof(error)) < 0 ||
	    migrate_store_account_transition(c->store, c->address,
			MIGRATE_STATE_FAILED, MIGRATE_STATE_QUEUED, NULL, 0,
			error, sizeof(error)) < 0)
		i_error("migrate cutover: %s: %s", c->address, error);
	i_error("migrate cutover: %s: the last pass failed, the legacy server "
		"stays in charge: %s", c->address, reason);
}

/* The steps after the last pass, while logins are still refused: the
   legacy special folders into the local ones, and (learn_aliases) the
   aliases its mail shows. A failure leaves the folders where the last
   pass put them, or the aliases unlearnt, said in the log; it does not
   hold the cut-over back (the command runs again by hand). */
static void cutover_step(struct cutover *c, const char *command, const char *what,
			 const char *const *options)
{
	struct child child;
	const char *reason;

	reason = cutover_run(c, &child, child_spawn_account_step(c->dovecot_config,
		&child, command, c->address, c->config->path, options), NULL);
	if (reason != NULL) {
		i_warning("migrate cutover: %s: %s failed (doveadm migrate %s "
			  "-u %s runs it again): %s", c->address, what, command,
			  c->address, reason);
	}
}

/* After the archive moved messages: Dovecot's caches and, where the fts
   plugin is configured, its index. */
static void cutover_index(struct cutover *c)
{
	const char *args[] = { "index", "-u", c->address, "*", NULL };
	struct child child;
	const char *reason;

	reason = cutover_run(c, &child, child_spawn(c->dovecot_config, &child,
						    args), NULL);
	if (reason != NULL) {
		i_warning("migrate cutover: %s: doveadm index failed: %s",
			  c->address, reason);
	}
}

/* special-folders' options: -l and the legacy SPECIAL-USE flags the last
   pass saw (-U "NAME<tab>FLAGS"), or none when no dsync pass ran (the
   step then asks the legacy server itself). */
static const char *const *cutover_special_options(struct cutover *c)
{
	ARRAY_TYPE(const_string) options;
	const char *const *row, *opt;

	if (c->legacy_status == NULL)
		return NULL;
	t_array_init(&options, 8);
	opt = "-l";
	array_push_back(&options, &opt);
	for (row = import_output_rows(c->legacy_status); *row != NULL; row++) {
		const char *const *f = t_strsplit_tabescaped(*row);

		if (str_array_length(f) != 5 || *f[4] == '\0')
			continue;
		opt = "-U";
		array_push_back(&options, &opt);
		opt = t_strconcat(f[0], "\t", f[4], NULL);
		array_push_back(&options, &opt);
	}
	array_append_zero(&options);
	return array_front(&options);
}

static void cutover_after_pass(struct cutover *c)
{
	if (c->config->special_folders == MIGRATE_SPECIAL_FOLDERS_MERGE) {
		cutover_step(c, "special-folders", "merging the special folders",
			     cutover_special_options(c));
	}
	if (c->config->archive_over > 0) {
		cutover_step(c, "archive", "archiving old messages", NULL);
		cutover_index(c);
	}
	if (c->config->learn_aliases != MIGRATE_ALIASES_NO)
		cutover_step(c, "aliases", "learning the aliases", NULL);
}

/* The sweep for the mail the legacy server got during the window. */
static void cutover_schedule_sweep(struct cutover *c)
{
	char error[512];

	if (migrate_store_sweep_schedule(c->store, c->address,
					 time(NULL) + c->config->sweep_after_secs,
					 error, sizeof(error)) < 0)
		i_error("migrate cutover: %s: %s", c->address, error);
}

int doveadm_migrate_cutover(const struct migrate_config *config,
			    const char *dovecot_config,
			    struct migrate_store *store, const char *address,
			    const char **reason_r)
{
	struct cutover c;
	char error[512];
	const char *reason;
	int ret;

	i_zero(&c);
	c.config = config;
	c.dovecot_config = dovecot_config;
	c.store = store;
	c.address = address;
	ret = migrate_store_account_get(store, address, &c.account,
					error, sizeof(error));
	if (ret <= 0) {
		*reason_r = ret < 0 ? t_strdup(error) :
			t_strdup_printf("no account %s", address);
		return ret < 0 ? -1 : -2;
	}
	if (c.account.state != MIGRATE_STATE_SYNCED &&
	    c.account.state != MIGRATE_STATE_CUTOVER) {
		*reason_r = c.account.state == MIGRATE_STATE_IMPORTING &&
			c.account.progress.pass > 0 ?
			t_strdup_printf("account %s is importing: a refresh "
				"pass is running, try again once it is synced",
				address) :
			t_strdup_printf("account %s is %s, not synced: it "
				"needs a complete import pass first", address,
				migrate_account_state_name(c.account.state));
		return -2;
	}
	/* an interrupted cut-over (a crashed worker) is simply resumed */
	if (c.account.state == MIGRATE_STATE_SYNCED &&
	    migrate_store_account_transition(store, address,
			MIGRATE_STATE_SYNCED, MIGRATE_STATE_CUTOVER, NULL, 0,
			error, sizeof(error)) < 0) {
		*reason_r = t_strdup(error);
		return -1;
	}
	if ((reason = cutover_fence(&c)) != NULL ||
	    (reason = cutover_final_pass(&c)) != NULL) {
		cutover_fail(&c, reason);
		*reason_r = reason;
		return 0;
	}
	cutover_after_pass(&c);
	if (migrate_store_account_set_progress(store, address,
			&c.account.progress, error, sizeof(error)) < 0 ||
	    migrate_store_account_transition(store, address,
			MIGRATE_STATE_CUTOVER, MIGRATE_STATE_MIGRATED, NULL, 0,
			error, sizeof(error)) < 0) {
		*reason_r = t_strdup(error);
		return -1;
	}
	cutover_schedule_sweep(&c);
	i_info("migrate cutover: %s: migrated, %"PRIu64" messages local "
	       "(fence: %u sessions kicked, %u rounds, %"PRId64" ms; "
	       "%u passes%s)", address, c.account.progress.messages_done,
	       c.fence.kicked, c.fence.rounds, c.fence.waited_ms, c.rounds,
	       c.copier_fallback ? ", then the copier" : "");
	return 1;
}

void cmd_migrate_cutover(struct doveadm_cmd_context *cctx)
{
	struct migrate_config *config;
	struct migrate_store *store;
	struct import_pool *pool = NULL;
	const char *address, *reason;
	int ret;

	if (!doveadm_migrate_cmd_open(cctx, MIGRATE_STORE_WRITE, &config, &store))
		return;
	if ((address = doveadm_migrate_cmd_account(cctx, config, "cutover")) == NULL) {
		doveadm_migrate_cmd_close(&config, &store);
		return;
	}
	child_set_pace((uint64_t)config->import_kbytes_per_sec * 1000);
	/* by hand: the steps run in one import process, started once (in
	   the worker's import process they already run in process) */
	if (!import_inline_running()) {
		pool = import_pool_init(1, master_service_get_config_path(master_service));
		child_use_pool(pool);
	}
	ret = doveadm_migrate_cutover(config, master_service_get_config_path(master_service),
				      store, address, &reason);
	if (pool != NULL) {
		child_use_pool(NULL);
		import_pool_deinit(&pool);
	}
	if (ret < 0) {
		i_error("migrate cutover: %s", reason);
		doveadm_exit_code = ret == -2 ? EX_DATAERR : EX_TEMPFAIL;
	} else {
		if (ret == 0)
			doveadm_exit_code = EX_TEMPFAIL;
		doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
		doveadm_print_header_simple("account");
		doveadm_print_header_simple("result");
		doveadm_print_header_simple("reason");
		doveadm_print(address);
		doveadm_print(ret > 0 ? "migrated" : "failed");
		doveadm_print(ret > 0 ? "" : reason);
	}
	doveadm_migrate_cmd_close(&config, &store);
}
