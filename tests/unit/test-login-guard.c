/* Unit tests for dovecot-plugin/auth/login-guard.c: per-account and
   per-IP windows, the failure cache, fingerprints. */

#include "lib.h"
#include "ioloop.h"
#include "test-common.h"

#include "login-guard.h"

static struct migrate_config config = {
	.legacy_checks_per_user = 3,
	.legacy_checks_per_ip = 5,
	.legacy_failure_cache_secs = 60,
};

static void test_guard_account_and_ip_limits(void)
{
	struct login_guard *guard;
	struct ip_addr ip1, ip2, none;
	const char *limit = NULL;
	unsigned int i;

	test_begin("login guard: per-account and per-IP limits, per minute");
	ioloop_time = 1000000;
	guard = login_guard_init(&config);
	test_assert(net_addr2ip("192.0.2.1", &ip1) == 0);
	test_assert(net_addr2ip("2001:db8::2", &ip2) == 0);
	i_zero(&none);
	for (i = 0; i < 3; i++)
		test_assert_idx(login_guard_allow_check(guard, "a@x", &ip1, &limit), i);
	test_assert(!login_guard_allow_check(guard, "a@x", &ip2, &limit));
	test_assert_strcmp(limit, "account");
	/* a refused check counts against nothing: ip1 has 3 of 5 */
	test_assert(login_guard_allow_check(guard, "b@x", &ip1, &limit));
	test_assert(login_guard_allow_check(guard, "c@x", &ip1, &limit));
	test_assert(!login_guard_allow_check(guard, "d@x", &ip1, &limit));
	test_assert_strcmp(limit, "client IP");
	/* another IP, and no IP at all, are not limited by ip1's window */
	test_assert(login_guard_allow_check(guard, "d@x", &ip2, &limit));
	test_assert(login_guard_allow_check(guard, "e@x", &none, &limit));
	/* a minute later every window is open again */
	ioloop_time += 60;
	test_assert(login_guard_allow_check(guard, "a@x", &ip1, &limit));
	test_assert(login_guard_allow_check(guard, "d@x", &ip1, &limit));
	login_guard_deinit(&guard);
	test_end();
}

static void test_guard_failure_cache(void)
{
	unsigned char fp1[LOGIN_GUARD_FINGERPRINT_SIZE], fp2[LOGIN_GUARD_FINGERPRINT_SIZE];
	unsigned char fp3[LOGIN_GUARD_FINGERPRINT_SIZE];
	struct login_guard *guard, *other;

	test_begin("login guard: failures remembered per account and password");
	ioloop_time = 2000000;
	guard = login_guard_init(&config);
	login_guard_fingerprint(guard, "a@x", "secret-1", fp1);
	login_guard_fingerprint(guard, "a@x", "secret-2", fp2);
	test_assert(memcmp(fp1, fp2, sizeof(fp1)) != 0);
	/* account and password are kept apart: "a@xs" + "ecret-1" differs */
	login_guard_fingerprint(guard, "a@xs", "ecret-1", fp3);
	test_assert(memcmp(fp1, fp3, sizeof(fp1)) != 0);
	test_assert(!login_guard_failed_recently(guard, fp1));
	login_guard_remember_failure(guard, fp1);
	test_assert(login_guard_failed_recently(guard, fp1));
	test_assert(!login_guard_failed_recently(guard, fp2));
	ioloop_time += 59;
	test_assert(login_guard_failed_recently(guard, fp1));
	ioloop_time += 1;
	test_assert(!login_guard_failed_recently(guard, fp1));
	/* the key is per process: another guard's fingerprint differs */
	other = login_guard_init(&config);
	login_guard_fingerprint(other, "a@x", "secret-1", fp3);
	test_assert(memcmp(fp1, fp3, sizeof(fp1)) != 0);
	login_guard_deinit(&other);
	login_guard_deinit(&guard);
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_guard_account_and_ip_limits,
		test_guard_failure_cache,
		NULL
	};
	return test_run(tests);
}
