/* Unit tests for postfix-policy/socketmap.c */

#include "lib.h"
#include "test-common.h"

#include "dovecot-migrate-config.h"
#include "policyd.h"
#include "socketmap.h"

static int parse(const char *data, char *buf, size_t size,
		 struct socketmap_request *req, const char **error)
{
	return socketmap_parse_request(data, strlen(data), buf, size, req, error);
}

static void test_socketmap_parse_good(void)
{
	struct socketmap_request req;
	const char *error;
	char buf[128];

	test_begin("socketmap request: name and key");
	test_assert(parse("transport User+tag@Example.COM", buf, sizeof(buf), &req, &error) == 0);
	test_assert_strcmp(req.name, "transport");
	test_assert_strcmp(req.key, "User+tag@Example.COM");
	/* only the first space separates: keys may hold spaces (quoted
	   local parts) and raw UTF-8 */
	test_assert(parse("mailbox \"a b\"@x.example", buf, sizeof(buf), &req, &error) == 0);
	test_assert_strcmp(req.key, "\"a b\"@x.example");
	test_assert(parse("mailbox j\xc3\xb6rg@b\xc3\xbc""cher.example", buf, sizeof(buf), &req, &error) == 0);
	test_assert_strcmp(req.key, "j\xc3\xb6rg@b\xc3\xbc""cher.example");
	test_end();
}

static void test_socketmap_parse_bad(void)
{
	static const struct {
		const char *input, *error;
	} bad[] = {
		{ "transport", "request has no space between name and key" },
		{ "transport ", "empty lookup key" },
		{ " key", "invalid map name" },
		{ "Transport key", "invalid map name" },
		{ "trans/port key", "invalid map name" },
		{ "transport a\tb", "control character in lookup key" },
		{ "transport a\x7f", "control character in lookup key" },
	};
	struct socketmap_request req;
	const char *error = NULL;
	char buf[128];
	unsigned int i;

	test_begin("socketmap request: malformed");
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		test_assert_idx(parse(bad[i].input, buf, sizeof(buf), &req, &error) < 0, i);
		test_assert_strcmp_idx(error, bad[i].error, i);
	}
	/* NUL inside the key (netstrings can carry one) */
	test_assert(socketmap_parse_request("mailbox a\0b", 11, buf, sizeof(buf), &req, &error) < 0);
	test_assert_strcmp(error, "control character in lookup key");
	/* a request longer than the caller's buffer */
	test_assert(parse("transport abcdefgh", buf, 10, &req, &error) < 0);
	test_assert_strcmp(error, "request too long");
	test_end();
}

static void test_socketmap_answer(void)
{
	struct socketmap_request req;
	struct policyd d;
	const char *error;
	char buf[128], out[256], cfg_error[256];
	size_t len;

	test_begin("socketmap answers: health and unknown map");
	i_zero(&d);
	test_assert(migrate_config_parse("t", "", 0, &d.config, cfg_error, sizeof(cfg_error)) == 0);
	test_assert(parse("health ping", buf, sizeof(buf), &req, &error) == 0);
	len = socketmap_answer(&d, &req, out, sizeof(out));
	test_assert(len == strlen("OK dovecot-migrate " MIGRATE_VERSION));
	test_assert(memcmp(out, "OK dovecot-migrate " MIGRATE_VERSION, len) == 0);
	/* unknown maps must be a lookup error (Postfix defers), never
	   NOTFOUND (Postfix would fall back to a default route) */
	test_assert(parse("nosuchmap user@example.com", buf, sizeof(buf), &req, &error) == 0);
	len = socketmap_answer(&d, &req, out, sizeof(out));
	test_assert(len == strlen("PERM unknown map name"));
	test_assert(memcmp(out, "PERM unknown map name", len) == 0);
	/* a reply never overruns a small buffer */
	test_assert(parse("health ping", buf, sizeof(buf), &req, &error) == 0);
	len = socketmap_answer(&d, &req, out, 8);
	test_assert(len == 7);
	policyd_deinit(&d);
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_socketmap_parse_good,
		test_socketmap_parse_bad,
		test_socketmap_answer,
		NULL
	};
	return test_run(tests);
}
