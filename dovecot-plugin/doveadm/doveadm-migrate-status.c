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

#include "migrate-address.h"
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

static void status_account(struct migrate_store *store,
			   const struct migrate_config *config, const char *user)
{
	const struct migrate_domain *domain;
	struct migrate_address addr;
	struct migrate_account a;
	char error[512];
	int ret;

	if (migrate_config_account(config, user, &addr, &domain,
				   error, sizeof(error)) < 0) {
		i_error("migrate status: %s: %s", user, error);
		doveadm_exit_code = EX_USAGE;
		return;
	}
	ret = migrate_store_account_get(store, addr.address, &a, error, sizeof(error));
	if (ret <= 0) {
		i_error("migrate status: %s", ret < 0 ? error :
			t_strdup_printf("no account %s", addr.address));
		doveadm_exit_code = ret < 0 ? EX_TEMPFAIL : EX_NOUSER;
		return;
	}
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

	doveadm_print(a.address);
	doveadm_print(migrate_account_state_name(a.state));
	doveadm_print(a.protocol == MIGRATE_PROTOCOL_POP3 ? "pop3" : "imap");
	doveadm_print(status_time(a.created));
	doveadm_print(status_time(a.updated));
	doveadm_print_num(a.progress.pass);
	doveadm_print(t_strdup_printf("%u/%u", a.progress.folders_done,
				      a.progress.folders_total));
	doveadm_print(t_strdup_printf("%"PRIu64"/%"PRIu64, a.progress.messages_done,
				      a.progress.messages_total));
	doveadm_print(t_strdup_printf("%"PRIu64"/%"PRIu64, a.progress.bytes_done,
				      a.progress.bytes_total));
	doveadm_print_num(a.attempts);
	doveadm_print(status_time(a.next_retry));
	doveadm_print(a.state == MIGRATE_STATE_FAILED ? a.last_error : "");
}

void cmd_migrate_status(struct doveadm_cmd_context *cctx)
{
	struct migrate_store_settings set;
	struct migrate_config *config;
	struct migrate_store *store;
	const char *user = NULL;
	char error[512];

	if ((config = doveadm_migrate_cmd_config(cctx)) == NULL)
		return;
	(void)doveadm_cmd_param_str(cctx, "user", &user);
	migrate_store_settings_from_config(&set, config, MIGRATE_STORE_READ_ROUTING);
	if (migrate_store_open(&set, &store, error, sizeof(error)) < 0) {
		i_error("%s", error);
		doveadm_exit_code = EX_TEMPFAIL;
		migrate_config_free(&config);
		return;
	}
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	if (user == NULL)
		status_totals(store);
	else
		status_account(store, config, user);
	migrate_store_close(&store);
	migrate_config_free(&config);
}
