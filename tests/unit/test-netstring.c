/* Unit tests for postfix-policy/netstring.c */

#include "lib.h"
#include "test-common.h"

#include "netstring.h"

static enum netstring_result
decode(const char *input, size_t max, const char **data_r, size_t *len_r,
       size_t *consumed_r, const char **error_r)
{
	return netstring_decode(input, strlen(input), max, data_r, len_r,
				consumed_r, error_r);
}

static void test_netstring_decode_good(void)
{
	const char *data, *error;
	size_t len, consumed;

	test_begin("netstring decode: whole, empty and pipelined");
	test_assert(decode("5:hello,", 100, &data, &len, &consumed, &error) == NETSTRING_OK);
	test_assert(len == 5 && memcmp(data, "hello", 5) == 0 && consumed == 8);
	test_assert(decode("0:,", 100, &data, &len, &consumed, &error) == NETSTRING_OK);
	test_assert(len == 0 && consumed == 3);
	/* two requests in one read: the first is decoded, the rest left */
	test_assert(decode("3:abc,2:de,", 100, &data, &len, &consumed, &error) == NETSTRING_OK);
	test_assert(len == 3 && consumed == 6 && memcmp(data, "abc", 3) == 0);
	/* payload bytes are opaque, including ':' and ',' */
	test_assert(decode("3:,:,,", 100, &data, &len, &consumed, &error) == NETSTRING_OK);
	test_assert(len == 3 && memcmp(data, ",:,", 3) == 0);
	test_end();
}

static void test_netstring_decode_incomplete(void)
{
	static const char *const partial[] = { "", "1", "12", "5:", "5:hel", "5:hello" };
	const char *data, *error;
	size_t len, consumed;
	unsigned int i;

	test_begin("netstring decode: truncated input waits for more");
	for (i = 0; i < N_ELEMENTS(partial); i++) {
		test_assert_idx(decode(partial[i], 100, &data, &len, &consumed,
				       &error) == NETSTRING_INCOMPLETE, i);
	}
	test_end();
}

static void test_netstring_decode_bad(void)
{
	static const struct {
		const char *input, *error;
	} bad[] = {
		{ ":abc,", "netstring length is missing" },
		{ "x:abc,", "netstring length is not a number" },
		{ "-1:a,", "netstring length is not a number" },
		{ "3:abc;", "netstring is not terminated by ','" },
		{ "01:a,", "netstring length is malformed" },
		{ "1234567890:", "netstring is longer than allowed" },
		{ "101:", "netstring is longer than allowed" },
	};
	const char *data, *error = NULL;
	size_t len, consumed;
	unsigned int i;

	test_begin("netstring decode: malformed and oversize input");
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		test_assert_idx(decode(bad[i].input, 100, &data, &len,
				       &consumed, &error) == NETSTRING_ERROR, i);
		test_assert_strcmp_idx(error, bad[i].error, i);
	}
	/* even with no length limit, ten digits are refused */
	test_assert(decode("1234567890:", SIZE_MAX, &data, &len, &consumed,
			   &error) == NETSTRING_ERROR);
	test_assert_strcmp(error, "netstring length is malformed");
	test_end();
}

static void test_netstring_encode(void)
{
	char out[16];

	test_begin("netstring encode");
	test_assert(netstring_encode(out, sizeof(out), "OK x", 4) == 7);
	test_assert(memcmp(out, "4:OK x,", 7) == 0);
	test_assert(netstring_encode(out, sizeof(out), "", 0) == 3);
	test_assert(memcmp(out, "0:,", 3) == 0);
	/* 12 bytes + "12:" + "," = 16: fits exactly; 13 does not */
	test_assert(netstring_encode(out, sizeof(out), "abcdefghijkl", 12) == 16);
	test_assert(netstring_encode(out, sizeof(out), "abcdefghijklm", 13) == 0);
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_netstring_decode_good,
		test_netstring_decode_incomplete,
		test_netstring_decode_bad,
		test_netstring_encode,
		NULL
	};
	return test_run(tests);
}
