/* Unit tests for the import engine's pure parts (dovecot-plugin/import/):
   the matchers on Dovecot's error texts, the parsers of a step's tab
   output, and the per-host back-off. The error texts below are the ones
   Dovecot 2.3.19's imapc, pop3c and dsync print: a Dovecot upgrade that
   rewords one fails here first. */

#include "lib.h"
#include "test-common.h"

#include "import-hosts.h"
#include "import-output.h"
#include "import-reasons.h"

#include <time.h>

static void test_reasons(void)
{
	test_begin("import reasons: credential refused");
	test_assert(import_reason_is_auth("imapc(127.0.0.1:143): Login failed: "
		"NO [AUTHENTICATIONFAILED] Authentication failed."));
	test_assert(import_reason_is_auth("pop3c(127.0.0.1:110): Authentication "
		"failed: -ERR [AUTH] Authentication failed."));
	test_assert(!import_reason_is_auth("imapc(127.0.0.1:143): Connection "
		"refused"));
	test_assert(!import_reason_is_auth("NO [LIMIT] Too many connections"));
	test_end();

	test_begin("import reasons: throttling");
	test_assert(import_reason_is_throttle("imapc(h:143): Login failed: "
		"NO [LIMIT] Too many connections from your IP"));
	test_assert(import_reason_is_throttle("Server disconnected with "
		"message: BYE Too many connections"));
	test_assert(import_reason_is_throttle("NO [UNAVAILABLE] Try later"));
	test_assert(import_reason_is_throttle("NO [INUSE] Mailbox locked"));
	test_assert(!import_reason_is_throttle("NO [AUTHENTICATIONFAILED] no"));
	test_assert(!import_reason_is_throttle("Connection refused"));
	/* "BYE" inside a word is not the response */
	test_assert(!import_reason_is_throttle("Goodbye"));
	test_end();

	test_begin("import reasons: dsync cannot recreate a folder");
	test_assert(import_reason_cannot_recreate("dsync(u): Error: Couldn't "
		"delete mailbox INBOX: INBOX can't be deleted."));
	test_assert(import_reason_cannot_recreate("Mailbox INBOX sync: "
		"mailbox_delete failed: INBOX can't be deleted."));
	test_assert(!import_reason_cannot_recreate("Mailbox INBOX: "
		"UIDVALIDITY changed"));
	test_end();
}

static void test_output(void)
{
	uint32_t folders;
	uint64_t messages, bytes;
	const char *const *rows;

	test_begin("import output: local counts");
	test_assert(import_output_sum("mailbox\tmessages\tvsize\n"
		"INBOX\t28\t730115\nSent\t6\t149678\n\n", "mailbox\t", 3, 1, TRUE,
		&folders, &messages, &bytes));
	test_assert(folders == 2 && messages == 34 && bytes == 879793);
	/* an empty mailbox: the titles alone */
	test_assert(import_output_sum("mailbox\tmessages\tvsize\n", "mailbox\t",
		3, 1, TRUE, &folders, &messages, &bytes));
	test_assert(folders == 0 && messages == 0 && bytes == 0);
	test_end();

	test_begin("import output: not a listing");
	/* a stray line before the titles (what a printer flushed before
	   any header wrote) is not taken for one */
	test_assert(!import_output_sum("\nmailbox\tmessages\tvsize\nINBOX\t1\t2\n",
		"mailbox\t", 3, 1, TRUE, &folders, &messages, &bytes));
	test_assert(!import_output_sum("", "mailbox\t", 3, 1, TRUE,
		&folders, &messages, &bytes));
	test_assert(!import_output_sum("mailbox\tmessages\tvsize\nINBOX\t1\n",
		"mailbox\t", 3, 1, TRUE, &folders, &messages, &bytes));
	test_assert(!import_output_sum("mailbox\tmessages\tvsize\nINBOX\tx\t2\n",
		"mailbox\t", 3, 1, TRUE, &folders, &messages, &bytes));
	test_end();

	test_begin("import output: the marks and a legacy count");
	test_assert(import_output_sum("folder\tuidvalidity\tuidnext\tmessages\t"
		"vsize\nINBOX\t1796227097\t4\t3\t13175\n", "folder\tuidvalidity\t",
		5, 3, TRUE, &folders, &messages, &bytes));
	test_assert(folders == 1 && messages == 3 && bytes == 13175);
	test_assert(import_output_sum("mailbox\tmessages\nVazia\t0\n"
		"Contas & Faturas\t2\n", "mailbox\t", 2, 1, FALSE,
		&folders, &messages, &bytes));
	test_assert(folders == 2 && messages == 2 && bytes == 0);
	test_end();

	test_begin("import output: rows and a sweep's copies");
	rows = import_output_rows("account\tcopied\tfolders\na\t3\t1\n\nb\t4\t2\n");
	test_assert(str_array_length(rows) == 2);
	test_assert(strcmp(rows[1], "b\t4\t2") == 0);
	test_assert(import_output_sweep_copied("account\tcopied\tfolders\n"
		"a\t3\t1\nb\t4\t2\nbad\tx\t1\n") == 7);
	test_end();
}

static void test_hosts(void)
{
	struct legacy_hosts *hosts = legacy_hosts_init(4);
	time_t retry_at, now = time(NULL);

	test_begin("import hosts: a cap, halved by a throttle, given back");
	test_assert(legacy_hosts_admit(hosts, "old", 3, &retry_at));
	test_assert(!legacy_hosts_admit(hosts, "old", 4, &retry_at));
	/* each change of pace is logged as a warning */
	test_expect_errors(1);
	test_assert(legacy_hosts_report(hosts, "old", LEGACY_HOST_THROTTLED,
					"NO [LIMIT]"));
	test_assert(legacy_hosts_limit(hosts, "old") == 2);
	/* backing off: nothing new, not even with nothing running */
	test_assert(!legacy_hosts_admit(hosts, "old", 0, &retry_at));
	test_assert(retry_at >= now + 2 && retry_at <= time(NULL) + 2);
	/* a second answer of the same moment changes nothing */
	test_assert(legacy_hosts_report(hosts, "old", LEGACY_HOST_THROTTLED,
					"BYE "));
	test_assert(legacy_hosts_limit(hosts, "old") == 2);
	/* another host is not affected */
	test_assert(legacy_hosts_admit(hosts, "other", 3, &retry_at));
	test_assert(legacy_hosts_report(hosts, "old", LEGACY_HOST_OK, ""));
	test_assert(legacy_hosts_limit(hosts, "old") == 3);
	test_assert(legacy_hosts_report(hosts, "old", LEGACY_HOST_OK, ""));
	test_assert(legacy_hosts_report(hosts, "old", LEGACY_HOST_OK, ""));
	test_assert(legacy_hosts_limit(hosts, "old") == 4);
	test_end();

	test_begin("import hosts: slow halves, never below one");
	test_expect_errors(3);
	test_assert(legacy_hosts_report(hosts, "slow", LEGACY_HOST_SLOW, "x"));
	test_assert(legacy_hosts_report(hosts, "slow", LEGACY_HOST_SLOW, "x"));
	test_assert(legacy_hosts_report(hosts, "slow", LEGACY_HOST_SLOW, "x"));
	test_assert(legacy_hosts_limit(hosts, "slow") == 1);
	test_assert(legacy_hosts_admit(hosts, "slow", 0, &retry_at));
	test_assert(!legacy_hosts_admit(hosts, "slow", 1, &retry_at));
	test_end();
	legacy_hosts_deinit(&hosts);
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_reasons,
		test_output,
		test_hosts,
		NULL
	};
	return test_run(tests);
}
