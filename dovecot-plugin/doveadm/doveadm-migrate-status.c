/* doveadm migrate status [-c migrate.conf]
			  [-u ACCOUNT | --watch [-i SECS] | --openmetrics]

   Without -u: the migration's statistics (IceWarp's: started at,
   mailboxes migrated, aliases created, messages and bytes migrated, last
   mailbox migrated, errors), the number of accounts in each state, the
   messages and bytes imported so far, the throughput of the last minutes
   and an ETA for what is left, as one row. --watch: the same as a live
   line, refreshed every SECS (2) until nothing is queued or importing.
   --openmetrics: the same figures in the OpenMetrics text format, for
   monitoring (the worker can also keep a file of it: metrics_file). With -u: one account's state, progress and last error. Any
   doveadm formatter (-f tab, -f flow, -f json, ...) applies. The store is
   opened read-only: status never waits for the worker. */

#include "lib.h"
#include "ioloop.h"
#include "str.h"
#include "write-full.h"
#include "master-service.h"
#include "time-util.h"
#include "doveadm.h"
#include "doveadm-cmd.h"
#include "doveadm-print.h"

#include "migrate-config.h"
#include "migrate-store.h"
#include "doveadm-migrate.h"

#include <stdio.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

static const char *status_time(int64_t t)
{
	return t == 0 ? "" : t_strflocaltime("%Y-%m-%d %H:%M:%S", (time_t)t);
}

/* What is left to import, over the accounts not yet migrated. */
struct status_backlog {
	uint64_t messages_left;
	/* accounts whose legacy mailbox is not counted yet, and the average
	   size of those that are: their share is estimated from it */
	uint64_t uncounted, counted, counted_messages;
};

static int status_backlog_add(const struct migrate_account *a, void *context)
{
	struct status_backlog *b = context;
	const struct migrate_account_progress *p = &a->progress;

	if (a->state == MIGRATE_STATE_MIGRATED ||
	    a->state == MIGRATE_STATE_PASSWORDS_ONLY)
		return 0;
	if (p->messages_total == 0 && p->pass == 0) {
		b->uncounted++;
		return 0;
	}
	b->counted++;
	b->counted_messages += p->messages_total;
	if (p->messages_total > p->messages_done)
		b->messages_left += p->messages_total - p->messages_done;
	return 0;
}

static uint64_t status_backlog_estimate(const struct status_backlog *b)
{
	return b->messages_left + (b->counted == 0 ? 0 :
		b->uncounted * (b->counted_messages / b->counted));
}

/* Seconds until the backlog is imported at the current rate; -1: no
   rate to tell. */
static int64_t status_eta(const struct status_backlog *b, double messages_per_sec)
{
	uint64_t left = status_backlog_estimate(b);

	if (left == 0)
		return 0;
	if (messages_per_sec <= 0)
		return -1;
	return (int64_t)((double)left / messages_per_sec + 0.5);
}

static int status_read(struct migrate_store *store, struct migrate_stats *stats,
		       struct status_backlog *backlog)
{
	char error[512];

	i_zero(backlog);
	if (migrate_store_stats_get(store, stats, error, sizeof(error)) < 0 ||
	    migrate_store_account_iterate(store, status_backlog_add, backlog,
					  error, sizeof(error)) < 0) {
		i_error("migrate status: %s", error);
		doveadm_exit_code = EX_TEMPFAIL;
		return -1;
	}
	return 0;
}

static void status_totals(struct migrate_store *store)
{
	struct migrate_stats stats;
	struct status_backlog backlog;
	double mps, bps;
	unsigned int i;

	if (status_read(store, &stats, &backlog) < 0)
		return;
	migrate_stats_rate(&stats, time(NULL), &mps, &bps);
	doveadm_print_header_simple("started");
	doveadm_print_header_simple("mailboxes_migrated");
	doveadm_print_header_simple("aliases_created");
	doveadm_print_header_simple("messages_migrated");
	doveadm_print_header_simple("bytes_migrated");
	doveadm_print_header_simple("last_mailbox");
	doveadm_print_header_simple("errors");
	for (i = MIGRATE_STATE_QUEUED; i < MIGRATE_STATE_COUNT; i++)
		doveadm_print_header_simple(migrate_account_state_name(i));
	doveadm_print_header_simple("messages_imported");
	doveadm_print_header_simple("bytes_imported");
	doveadm_print_header_simple("messages_per_sec");
	doveadm_print_header_simple("bytes_per_sec");
	doveadm_print_header_simple("messages_left");
	doveadm_print_header_simple("eta_secs");

	doveadm_print(status_time(stats.started_at));
	doveadm_print_num(stats.mailboxes_migrated);
	doveadm_print_num(stats.aliases_created);
	doveadm_print_num(stats.messages_migrated);
	doveadm_print_num(stats.bytes_migrated);
	doveadm_print(stats.last_mailbox);
	doveadm_print_num(stats.errors);
	for (i = MIGRATE_STATE_QUEUED; i < MIGRATE_STATE_COUNT; i++)
		doveadm_print_num(stats.state_counts[i]);
	doveadm_print_num(stats.imported_messages);
	doveadm_print_num(stats.imported_bytes);
	doveadm_print(t_strdup_printf("%.1f", mps));
	doveadm_print_num((uint64_t)(bps + 0.5));
	doveadm_print_num(status_backlog_estimate(&backlog));
	doveadm_print(status_eta(&backlog, mps) < 0 ? "" :
		      dec2str(status_eta(&backlog, mps)));
}

static void metric(string_t *out, const char *name, const char *type,
		   const char *help)
{
	str_printfa(out, "# TYPE dovecot_migrate_%s %s\n# HELP dovecot_migrate_%s %s\n",
		    name, type, name, help);
}

static void metric_value(string_t *out, const char *sample, uint64_t value)
{
	str_printfa(out, "dovecot_migrate_%s %"PRIu64"\n", sample, value);
}

int doveadm_migrate_openmetrics(struct migrate_store *store, string_t *out)
{
	struct migrate_stats stats;
	struct status_backlog backlog;
	double mps, bps;
	int64_t eta;
	unsigned int i;

	if (status_read(store, &stats, &backlog) < 0)
		return -1;
	migrate_stats_rate(&stats, time(NULL), &mps, &bps);
	metric(out, "accounts", "gauge", "Accounts in each migration state.");
	for (i = MIGRATE_STATE_QUEUED; i < MIGRATE_STATE_COUNT; i++) {
		str_printfa(out, "dovecot_migrate_accounts{state=\"%s\"} %"PRIu64"\n",
			    migrate_account_state_name(i), stats.state_counts[i]);
	}
	metric(out, "mailboxes_migrated", "counter", "Mailboxes cut over to the new server.");
	metric_value(out, "mailboxes_migrated_total", stats.mailboxes_migrated);
	metric(out, "aliases_created", "counter", "Aliases learnt from the accounts' mail.");
	metric_value(out, "aliases_created_total", stats.aliases_created);
	metric(out, "messages_migrated", "counter", "Messages of the mailboxes cut over.");
	metric_value(out, "messages_migrated_total", stats.messages_migrated);
	metric(out, "migrated_bytes", "counter", "Bytes of the mailboxes cut over.");
	str_append(out, "# UNIT dovecot_migrate_migrated_bytes bytes\n");
	metric_value(out, "migrated_bytes_total", stats.bytes_migrated);
	metric(out, "errors", "counter", "Failed imports and cut-overs.");
	metric_value(out, "errors_total", stats.errors);
	metric(out, "imported_messages", "counter", "Messages the import passes placed so far.");
	metric_value(out, "imported_messages_total", stats.imported_messages);
	metric(out, "imported_bytes", "counter", "Bytes the import passes placed so far.");
	str_append(out, "# UNIT dovecot_migrate_imported_bytes bytes\n");
	metric_value(out, "imported_bytes_total", stats.imported_bytes);
	metric(out, "import_messages_per_second", "gauge",
	       "Messages imported per second over the last minutes.");
	str_printfa(out, "dovecot_migrate_import_messages_per_second %.3f\n", mps);
	metric(out, "import_bytes_per_second", "gauge",
	       "Bytes imported per second over the last minutes.");
	str_printfa(out, "dovecot_migrate_import_bytes_per_second %.0f\n", bps);
	metric(out, "messages_left", "gauge",
	       "Messages still to import (uncounted mailboxes estimated).");
	metric_value(out, "messages_left", status_backlog_estimate(&backlog));
	metric(out, "eta_seconds", "gauge",
	       "Seconds until the backlog is imported at the current rate (NaN: no rate).");
	str_append(out, "# UNIT dovecot_migrate_eta_seconds seconds\n");
	eta = status_eta(&backlog, mps);
	if (eta < 0)
		str_append(out, "dovecot_migrate_eta_seconds NaN\n");
	else
		metric_value(out, "eta_seconds", (uint64_t)eta);
	metric(out, "started", "gauge", "When the first account was recorded (Unix time).");
	str_append(out, "# UNIT dovecot_migrate_started seconds\n");
	metric_value(out, "started", (uint64_t)stats.started_at);
	str_append(out, "# EOF\n");
	return 0;
}

static const char *status_duration(int64_t secs)
{
	if (secs < 0)
		return "?";
	return t_strdup_printf("%"PRId64":%02"PRId64":%02"PRId64,
			       secs / 3600, secs / 60 % 60, secs % 60);
}

/* One line: what an operator watches while the worker runs. */
static const char *status_line(const struct migrate_stats *stats,
			       const struct status_backlog *backlog)
{
	const uint64_t *n = stats->state_counts;
	uint64_t accounts = 0;
	double mps, bps;
	unsigned int i;

	for (i = MIGRATE_STATE_QUEUED; i < MIGRATE_STATE_COUNT; i++)
		accounts += n[i];
	migrate_stats_rate(stats, time(NULL), &mps, &bps);
	return t_strdup_printf("migrated %"PRIu64"/%"PRIu64" | queued %"PRIu64
		" importing %"PRIu64" synced %"PRIu64" failed %"PRIu64" | %"PRIu64
		" msgs %.1f MB | %.1f msg/s %.2f MB/s | ETA %s | errors %"PRIu64,
		n[MIGRATE_STATE_MIGRATED], accounts, n[MIGRATE_STATE_QUEUED],
		n[MIGRATE_STATE_IMPORTING], n[MIGRATE_STATE_SYNCED],
		n[MIGRATE_STATE_FAILED], stats->imported_messages,
		stats->imported_bytes / 1e6, mps, bps / 1e6,
		status_duration(status_eta(backlog, mps)), stats->errors);
}

static void status_watch_wake(struct ioloop *ioloop)
{
	io_loop_stop(ioloop);
}

/* Sleeps in the ioloop, where doveadm's SIGINT/SIGTERM handling runs. */
static void status_watch_wait(unsigned int secs)
{
	struct timeout *to = timeout_add(secs * 1000, status_watch_wake,
					 current_ioloop);

	io_loop_run(current_ioloop);
	timeout_remove(&to);
}

/* Refreshes the line every interval until no account is queued or
   importing, or until doveadm is told to stop (SIGINT, SIGTERM). On a terminal the line is rewritten in
   place; elsewhere each refresh is a line of its own. */
static void status_watch(struct migrate_store *store, unsigned int interval)
{
	bool tty = isatty(STDOUT_FILENO) != 0;
	struct migrate_stats stats;
	struct status_backlog backlog;

	while (status_read(store, &stats, &backlog) == 0) {
		T_BEGIN {
			printf(tty ? "\r%s\033[K" : "%s\n",
			       status_line(&stats, &backlog));
		} T_END;
		fflush(stdout);
		if (master_service_is_killed(master_service) ||
		    stats.state_counts[MIGRATE_STATE_QUEUED] +
		    stats.state_counts[MIGRATE_STATE_IMPORTING] == 0)
			break;
		status_watch_wait(interval);
	}
	if (tty)
		printf("\n");
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
	bool watch = FALSE, openmetrics = FALSE;

	if (!doveadm_migrate_cmd_open(cctx, MIGRATE_STORE_READ_ROUTING,
				      &config, &store))
		return;
	if (doveadm_cmd_param_bool(cctx, "openmetrics", &openmetrics) && openmetrics) {
		string_t *out = t_str_new(2048);

		if (doveadm_migrate_openmetrics(store, out) == 0) {
			if (write_full(STDOUT_FILENO, str_data(out), str_len(out)) < 0)
				i_error("write(stdout) failed: %m");
		}
	} else if (doveadm_cmd_param_bool(cctx, "watch", &watch) && watch) {
		int64_t interval = 2;

		(void)doveadm_cmd_param_int64(cctx, "interval", &interval);
		status_watch(store, interval < 1 ? 1 :
			     interval > 3600 ? 3600 : (unsigned int)interval);
	} else if (!doveadm_cmd_param_str(cctx, "user", &user)) {
		doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
		status_totals(store);
	} else {
		doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
		status_account(cctx, store, config);
	}
	doveadm_migrate_cmd_close(&config, &store);
}
