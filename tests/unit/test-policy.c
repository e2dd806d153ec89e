/* Unit tests for the policy delegation parser (postfix-policy/policy.c). */

#include "lib.h"
#include "str.h"
#include "test-common.h"

#include "policy.h"

static struct policy_request req;

static enum policy_parse_result parse(const char *input, size_t *consumed,
				      const char **error)
{
	return policy_parse_request(input, strlen(input), &req, consumed, error);
}

static void test_policy_parse_good(void)
{
	static const char two[] =
		"request=smtpd_access_policy\nprotocol_state=RCPT\n"
		"recipient=User+tag@Example.COM\nsender=\nclient_address=192.0.2.1\n"
		"instance=123.456.7\n\n"
		"request=smtpd_access_policy\nprotocol_state=DATA\n\n";
	const char *error;
	size_t consumed;

	test_begin("policy request: attributes, empty values, pipelining");
	test_assert(parse(two, &consumed, &error) == POLICY_PARSE_OK);
	test_assert_strcmp(req.request, "smtpd_access_policy");
	test_assert_strcmp(req.protocol_state, "RCPT");
	test_assert_strcmp(req.recipient, "User+tag@Example.COM");
	test_assert_strcmp(req.instance, "123.456.7");
	/* the second request starts where the first ended */
	test_assert(policy_parse_request(two + consumed, strlen(two) - consumed, &req,
					 &consumed, &error) == POLICY_PARSE_OK);
	test_assert_strcmp(req.protocol_state, "DATA");
	test_assert(req.recipient == NULL);
	/* values may hold '=' and spaces; an empty request is one line */
	test_assert(parse("ccert_subject=CN=a b\n\n", &consumed, &error) == POLICY_PARSE_OK);
	test_assert(parse("\n", &consumed, &error) == POLICY_PARSE_OK && consumed == 1);
	test_end();
}

static void test_policy_parse_incomplete(void)
{
	static const char *const partial[] = {
		"", "request=smtpd", "request=smtpd_access_policy\n",
		"request=x\nrecipient=a@b",
	};
	const char *error;
	size_t consumed;
	unsigned int i;

	test_begin("policy request: truncated input waits for more");
	for (i = 0; i < N_ELEMENTS(partial); i++)
		test_assert_idx(parse(partial[i], &consumed, &error) == POLICY_PARSE_INCOMPLETE, i);
	test_end();
}

static void test_policy_parse_bad(void)
{
	static const struct {
		const char *input, *error;
	} bad[] = {
		{ "no equals sign\n\n", "malformed attribute line (expected name=value)" },
		{ "=value\n\n", "malformed attribute line (expected name=value)" },
		{ "Request=x\n\n", "malformed attribute line (expected name=value)" },
		{ "recipient=a\rb\n\n", "control character in attribute value" },
	};
	const char *error = NULL;
	size_t consumed;
	string_t *many, *huge;
	unsigned int i;

	test_begin("policy request: malformed, too many attributes, oversize");
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		test_assert_idx(parse(bad[i].input, &consumed, &error) == POLICY_PARSE_ERROR, i);
		test_assert_strcmp_idx(error, bad[i].error, i);
	}
	test_assert(policy_parse_request("recipient=a\0b\n\n", 15, &req, &consumed,
					 &error) == POLICY_PARSE_ERROR);

	many = t_str_new(4096);
	for (i = 0; i <= POLICY_MAX_ATTRIBUTES; i++)
		str_printfa(many, "a%u=x\n", i);
	str_append_c(many, '\n');
	test_assert(parse(str_c(many), &consumed, &error) == POLICY_PARSE_ERROR);
	test_assert_strcmp(error, "too many attributes");

	/* no end in sight after POLICY_MAX_REQUEST bytes */
	huge = t_str_new(POLICY_MAX_REQUEST + 100);
	str_append(huge, "recipient=");
	while (str_len(huge) < POLICY_MAX_REQUEST + 50)
		str_append_c(huge, 'x');
	test_assert(parse(str_c(huge), &consumed, &error) == POLICY_PARSE_ERROR);
	test_assert_strcmp(error, "request longer than allowed");
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_policy_parse_good,
		test_policy_parse_incomplete,
		test_policy_parse_bad,
		NULL
	};
	return test_run(tests);
}
