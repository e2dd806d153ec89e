/* Unit tests for common/migrate-folder-status.c: the listings doveadm
   prints, and the cut-over's question whether the copy covers the legacy
   mailbox. */

#include "lib.h"
#include "test-common.h"

#include "migrate-folder-status.h"

static char error[256];

/* the cut-over's marks (doveadm-migrate-sweep.c -M) */
static const char *marks =
	"folder\tuidvalidity\tuidnext\tmessages\tvsize\n"
	"INBOX\t1700000000\t157\t150\t123456\n"
	"Sent Items\t1700000001\t12\t11\t999\n";

static bool covers(const char *legacy_text, bool pop3, char *why, size_t size)
{
	struct migrate_folder_listing copy, legacy;
	bool ret;

	test_assert(migrate_folder_listing_parse(marks, &copy, error, sizeof(error)) == 0);
	test_assert(migrate_folder_listing_parse(legacy_text, &legacy, error, sizeof(error)) == 0);
	ret = migrate_folder_listing_covers(&copy, &legacy, pop3, why, size);
	migrate_folder_listing_free(&copy);
	migrate_folder_listing_free(&legacy);
	return ret;
}

static void test_folder_status_covers(void)
{
	char why[256];

	test_begin("folder status: the copy covers the legacy mailbox");
	/* doveadm mailbox status orders its columns its own way */
	test_assert(covers("mailbox\tmessages\tuidnext\tuidvalidity\n"
			   "INBOX\t150\t157\t1700000000\n"
			   "Sent Items\t11\t12\t1700000001\n"
			   "Empty\t0\t1\t1700000002\n", FALSE, why, sizeof(why)));
	/* the legacy server got mail during the last pass */
	test_assert(!covers("mailbox\tmessages\tuidnext\tuidvalidity\n"
			    "INBOX\t151\t158\t1700000000\n", FALSE, why, sizeof(why)));
	test_assert_strcmp(why, "INBOX: UIDNEXT 158, the copy's 157");
	/* ... and lost it again: the UID was given, the copy must reserve it */
	test_assert(!covers("mailbox\tmessages\tuidnext\tuidvalidity\n"
			    "INBOX\t150\t158\t1700000000\n", FALSE, why, sizeof(why)));
	test_assert(!covers("mailbox\tmessages\tuidnext\tuidvalidity\n"
			    "INBOX\t149\t157\t1700000000\n", FALSE, why, sizeof(why)));
	test_assert_strcmp(why, "INBOX: 149 messages, the copy 150");
	test_assert(!covers("mailbox\tmessages\tuidnext\tuidvalidity\n"
			    "INBOX\t150\t157\t1800000000\n", FALSE, why, sizeof(why)));
	test_assert_strcmp(why, "INBOX: UIDVALIDITY 1800000000, the copy's 1700000000");
	test_assert(!covers("mailbox\tmessages\tuidnext\tuidvalidity\n"
			    "New\t1\t2\t1700000003\n", FALSE, why, sizeof(why)));
	test_assert_strcmp(why, "New: not in the copy");
	/* POP3: no UIDs to compare, the counts decide */
	test_assert(covers("mailbox\tmessages\tuidnext\tuidvalidity\n"
			   "INBOX\t150\t151\t5\n", TRUE, why, sizeof(why)));
	test_assert(!covers("mailbox\tmessages\n" "INBOX\t151\n", TRUE, why, sizeof(why)));
	test_end();
}

static void test_folder_status_hostile(void)
{
	static const char *const bad[] = {
		"",
		"\n\n",
		"mailbox\tuidnext\nINBOX\t5\n",			/* no messages column */
		"mailbox\tmessages\nINBOX\n",			/* a field short */
		"mailbox\tmessages\nINBOX\t1\t2\n",		/* a field too many */
		"mailbox\tmessages\nINBOX\t-1\n",
		"mailbox\tmessages\nINBOX\t1x\n",
		"mailbox\tmessages\tuidnext\nINBOX\t1\t4294967296\n",
		"a\tb\tc\td\te\tf\tg\th\ti\tj\tk\tl\tm\tn\to\tp\tq\n",
	};
	struct migrate_folder_listing listing;
	unsigned int i;

	test_begin("folder status: hostile listings are errors");
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		test_assert_idx(migrate_folder_listing_parse(bad[i], &listing,
			error, sizeof(error)) < 0, i);
		migrate_folder_listing_free(&listing);
	}
	test_assert(migrate_folder_listing_parse("mailbox\tmessages\nINBOX\t\n",
		&listing, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "folder listing line 2: a field is not a number");
	migrate_folder_listing_free(&listing);
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_folder_status_covers,
		test_folder_status_hostile,
		NULL
	};
	return test_run(tests);
}
