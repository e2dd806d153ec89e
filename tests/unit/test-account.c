/* Unit tests for common/migrate-account.c: the state machine and the
   record encoding. */

#include "lib.h"
#include "test-common.h"

#include "migrate-account.h"

static void test_account_transitions(void)
{
	static const struct {
		enum migrate_account_state from, to;
		bool allowed;
	} cases[] = {
		{ MIGRATE_STATE_UNKNOWN, MIGRATE_STATE_QUEUED, TRUE },
		{ MIGRATE_STATE_UNKNOWN, MIGRATE_STATE_PASSWORDS_ONLY, TRUE },
		{ MIGRATE_STATE_UNKNOWN, MIGRATE_STATE_MIGRATED, FALSE },
		{ MIGRATE_STATE_QUEUED, MIGRATE_STATE_IMPORTING, TRUE },
		{ MIGRATE_STATE_QUEUED, MIGRATE_STATE_SYNCED, FALSE },
		{ MIGRATE_STATE_IMPORTING, MIGRATE_STATE_SYNCED, TRUE },
		{ MIGRATE_STATE_IMPORTING, MIGRATE_STATE_QUEUED, TRUE },
		{ MIGRATE_STATE_IMPORTING, MIGRATE_STATE_MIGRATED, FALSE },
		{ MIGRATE_STATE_SYNCED, MIGRATE_STATE_IMPORTING, TRUE },
		{ MIGRATE_STATE_SYNCED, MIGRATE_STATE_CUTOVER, TRUE },
		{ MIGRATE_STATE_CUTOVER, MIGRATE_STATE_MIGRATED, TRUE },
		{ MIGRATE_STATE_CUTOVER, MIGRATE_STATE_FAILED, TRUE },
		{ MIGRATE_STATE_MIGRATED, MIGRATE_STATE_QUEUED, FALSE },
		{ MIGRATE_STATE_MIGRATED, MIGRATE_STATE_FAILED, FALSE },
		{ MIGRATE_STATE_FAILED, MIGRATE_STATE_QUEUED, TRUE },
		{ MIGRATE_STATE_FAILED, MIGRATE_STATE_MIGRATED, FALSE },
		{ MIGRATE_STATE_PASSWORDS_ONLY, MIGRATE_STATE_QUEUED, TRUE },
		{ MIGRATE_STATE_COUNT, MIGRATE_STATE_QUEUED, FALSE },
	};
	enum migrate_account_state state;
	unsigned int i;

	test_begin("account: state machine and state names");
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		test_assert_idx(migrate_account_transition_allowed(cases[i].from, cases[i].to) ==
				cases[i].allowed, i);
	}
	for (i = 0; i < MIGRATE_STATE_COUNT; i++) {
		test_assert_idx(migrate_account_state_parse(migrate_account_state_name(i),
							    &state) == 0 && state == i, i);
	}
	test_assert_strcmp(migrate_account_state_name(MIGRATE_STATE_PASSWORDS_ONLY), "passwords-only");
	test_assert(migrate_account_state_parse("done", &state) < 0);
	test_end();
}

static void test_account_codec(void)
{
	struct migrate_account a, b;
	unsigned char buf[MIGRATE_ACCOUNT_RECORD_MAX], bad[MIGRATE_ACCOUNT_RECORD_MAX + 8];
	char error[256];
	size_t len;

	test_begin("account: record round trip and hostile records");
	i_zero(&a);
	a.state = MIGRATE_STATE_FAILED;
	a.protocol = MIGRATE_PROTOCOL_POP3;
	i_snprintf(a.domain, sizeof(a.domain), "example.com");
	i_snprintf(a.last_error, sizeof(a.last_error), "legacy server said NO");
	a.created = 1700000000;
	a.updated = -5;
	a.attempts = 3;
	a.progress.bytes_total = UINT64_MAX;
	a.quota_kbytes = 1024 * 1024;
	a.local = true;
	len = migrate_account_encode(&a, buf);
	test_assert(migrate_account_decode(buf, len, &b, error, sizeof(error)) == 0);
	test_assert(memcmp(&a, &b, sizeof(a)) == 0);

	/* every truncation is refused, none crashes */
	for (size_t i = 1; i < len; i++) {
		/* cutting exactly between fields leaves a valid shorter record */
		(void)migrate_account_decode(buf, i, &b, error, sizeof(error));
	}
	test_assert(migrate_account_decode(buf, 0, &b, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "corrupt account record: bad size (field 0)");
	test_assert(migrate_account_decode(buf, len - 1, &b, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "corrupt account record: truncated field (field 17)");

	/* unknown fields from a newer writer are skipped */
	memcpy(bad, buf, len);
	memcpy(bad + len, "\x63\x02xy", 4);
	test_assert(migrate_account_decode(bad, len + 4, &b, error, sizeof(error)) == 0);
	test_assert(b.attempts == 3);

	/* a repeated field, a bad state, another version */
	memcpy(bad, buf, len);
	memcpy(bad + len, "\x03\x01x", 3);
	test_assert(migrate_account_decode(bad, len + 3, &b, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "corrupt account record: repeated field (field 3)");
	test_assert(migrate_account_decode((const unsigned char *)"\x01\x01\x08\0\0\0\0\0\0\0\x63",
					   11, &b, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "corrupt account record: invalid value (field 1)");
	test_assert(migrate_account_decode((const unsigned char *)"\x02", 1, &b, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "corrupt account record: unsupported version (field 2)");
	test_assert(migrate_account_decode((const unsigned char *)"\x01", 1, &b, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "corrupt account record: no state (field 1)");
	/* NUL inside a string */
	test_assert(migrate_account_decode((const unsigned char *)"\x01\x03\x02" "a\0", 5,
					   &b, error, sizeof(error)) < 0);
	test_end();
}

static void test_account_retry_delay(void)
{
	test_begin("account: retry delay doubles from a minute up to six hours");
	test_assert(migrate_account_retry_delay(0) == 60);
	test_assert(migrate_account_retry_delay(1) == 60);
	test_assert(migrate_account_retry_delay(2) == 120);
	test_assert(migrate_account_retry_delay(3) == 240);
	test_assert(migrate_account_retry_delay(9) == 15360);
	test_assert(migrate_account_retry_delay(10) == 21600);
	test_assert(migrate_account_retry_delay(4000000000U) == 21600);
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_account_retry_delay,
		test_account_transitions,
		test_account_codec,
		NULL
	};
	return test_run(tests);
}
