/* doveadm migrate status [-c migrate.conf] [-u ACCOUNT]

   Without -u: the migration's statistics (IceWarp's: started at,
   mailboxes migrated, aliases created, messages and bytes migrated, last
   mailbox migrated, errors) and the number of accounts in each state, as
   one row. With -u: one account's state, progress and last error. Any
   doveadm formatter (-f tab, -f flow, -f json, ...) applies. The store is
   opened read-only: status never waits for the worker. */

#include "lib.h"
#include "time-util.h"
#include "doveadm.h"
#include "doveadm-cmd.h"
#include "doveadm-print.h"

#include "migrate-config.h"
#include "migrate-store.h"
#include "doveadm-migrate.h"

#include <sysexits.h>

static const char *status_time(int64_t t)
{
	return t == 0 ? "" : t_strflocaltime("%Y-%m-%d %H:%M:%S", (time_t)t);
}

static void status_totals(struct migrate_store *store)
{
	struct migrate_stats stats;
	char error[512];
	unsigned int i;

	if (migrate_store_stats_get(store, &stats, error, sizeof(error)) < 0) {
		i_error("migrate status: %s", error);
		doveadm_exit_code = EX_TEMPFAIL;
		return;
	}
	doveadm_print_header_simple("started");
	doveadm_print_header_simple("mailboxes_migrated");
	doveadm_print_header_simple("aliases_created");
	doveadm_print_header_simple("messages_migrated");
	doveadm_print_header_simple("bytes_migrated");
	doveadm_print_header_simple("last_mailbox");
	doveadm_print_header_simple("errors");
	for (i = MIGRATE_STATE_QUEUED; i < MIGRATE_STATE_COUNT; i++)
		doveadm_print_header_simple(migrate_account_state_name(i));

	doveadm_print(status_time(stats.started_at));
	doveadm_print_num(stats.mailboxes_migrated);
	doveadm_print_num(stats.aliases_created);
	doveadm_print_num(stats.messages_migrated);
	doveadm_print_num(stats.bytes_migrated);
	doveadm_print(stats.last_mailbox);
	doveadm_print_num(stats.errors);
	for (i = MIGRATE_STATE_QUEUED; i < MIGRATE_STATE_COUNT; i++)
		doveadm_print_num(stats.state_counts[i]);
}

void doveadm_migrate_print_account_header(void)
{
	doveadm_print_header_simple("account");
	doveadm_print_header_simple("state");
	doveadm_print_header_simple("protocol");
	doveadm_print_header_simple("created");
	doveadm_print_header_simple("updated");
	doveadm_print_header_simple("passes");
	doveadm_print_header_simple("folders");
	doveadm_print_header_simple("messages");
	doveadm_print_header_simple("bytes");
	doveadm_print_header_simple("attempts");
	doveadm_print_header_simple("next_retry");
	doveadm_print_header_simple("last_error");
}

void doveadm_migrate_print_account(const struct migrate_account *a)
{
	doveadm_print(a->address);
	doveadm_print(migrate_account_state_name(a->state));
	doveadm_print(a->protocol == MIGRATE_PROTOCOL_POP3 ? "pop3" : "imap");
	doveadm_print(status_time(a->created));
	doveadm_print(status_time(a->updated));
	doveadm_print_num(a->progress.pass);
	doveadm_print(t_strdup_printf("%u/%u", a->progress.folders_done,
				      a->progress.folders_total));
	doveadm_print(t_strdup_printf("%"PRIu64"/%"PRIu64, a->progress.messages_done,
				      a->progress.messages_total));
	/* the legacy side is not asked for sizes: the total is known once
	   the first pass is over */
	doveadm_print(a->progress.bytes_total < a->progress.bytes_done ?
		      t_strdup_printf("%"PRIu64"/?", a->progress.bytes_done) :
		      t_strdup_printf("%"PRIu64"/%"PRIu64, a->progress.bytes_done,
				      a->progress.bytes_total));
	doveadm_print_num(a->attempts);
	doveadm_print(status_time(a->next_retry));
	doveadm_print(a->state == MIGRATE_STATE_FAILED ? a->last_error : "");
}

static void status_account(struct doveadm_cmd_context *cctx,
			   struct migrate_store *store,
			   const struct migrate_config *config)
{
	struct migrate_account a;
	const char *address;
	char error[512];
	int ret;

	if ((address = doveadm_migrate_cmd_account(cctx, config, "status")) == NULL)
		return;
	ret = migrate_store_account_get(store, address, &a, error, sizeof(error));
	if (ret <= 0) {
		i_error("migrate status: %s", ret < 0 ? error :
			t_strdup_printf("no account %s", address));
		doveadm_exit_code = ret < 0 ? EX_TEMPFAIL : EX_NOUSER;
		return;
	}
	doveadm_migrate_print_account_header();
	doveadm_migrate_print_account(&a);
}

void cmd_migrate_status(struct doveadm_cmd_context *cctx)
{
	struct migrate_config *config;
	struct migrate_store *store;
	const char *user;

	if (!doveadm_migrate_cmd_open(cctx, MIGRATE_STORE_READ_ROUTING,
				      &config, &store))
		return;
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	if (!doveadm_cmd_param_str(cctx, "user", &user))
		status_totals(store);
	else
		status_account(cctx, store, config);
	doveadm_migrate_cmd_close(&config, &store);
}
