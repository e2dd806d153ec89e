/* Unit tests for common/migrate-account-list.c (the `add -F` formats) and
   common/migrate-password-policy.c. */

#include "lib.h"
#include "test-common.h"

#include "migrate-account-list.h"
#include "migrate-password-policy.h"

#include <string.h>

struct parsed {
	int ret;
	struct migrate_account_list_entry entry;
	char error[256];
};

/* Every result of a list, up to max. */
static unsigned int parse_all(const char *text, bool csv, struct parsed *out,
			      unsigned int max)
{
	struct migrate_account_list list;
	unsigned int n = 0;

	migrate_account_list_init(&list, text, strlen(text), csv);
	while (n < max) {
		out[n].error[0] = '\0';
		out[n].ret = migrate_account_list_next(&list, &out[n].entry,
						       out[n].error,
						       sizeof(out[n].error));
		if (out[n].ret == 0)
			break;
		n++;
	}
	return n;
}

static void test_colon_format(void)
{
	struct parsed r[16];
	unsigned int n;

	test_begin("account list: user:password[:domain] lines");
	n = parse_all("# a comment\n"
		      "ana@example.com:s3cret\r\n"
		      "\n"
		      "bob:pa:ss:example.com\n"
		      "carla:pw:example.com\n"
		      "nopassword\n"
		      ":pw\n"
		      "dan@example.com:\n"
		      "eve@a.com:pw:b.com\n"
		      "fay:pw:\n"
		      "gus hill:pw\n"
		      "hal@example.com:pw\x01x\n"
		      "ida:tail", FALSE, r, N_ELEMENTS(r));
	test_assert(n == 11);
	test_assert(r[0].ret == 1 && r[0].entry.line == 2);
	test_assert_strcmp(r[0].entry.user, "ana@example.com");
	test_assert_strcmp(r[0].entry.password, "s3cret");
	test_assert(r[0].entry.domain[0] == '\0' && !r[0].entry.csv);
	/* the domain follows the last ':', the password keeps the others */
	test_assert(r[1].ret == 1 && r[1].entry.line == 4);
	test_assert_strcmp(r[1].entry.user, "bob");
	test_assert_strcmp(r[1].entry.password, "pa:ss");
	test_assert_strcmp(r[1].entry.domain, "example.com");
	test_assert(r[2].ret == 1);
	test_assert_strcmp(r[2].entry.domain, "example.com");
	test_assert(r[3].ret == -1);
	test_assert_strcmp(r[3].error, "line 6: no password (expected "
			   "user:password or user:password:domain)");
	test_assert_strcmp(r[4].error, "line 7: empty user");
	test_assert_strcmp(r[5].error, "line 8: empty password");
	test_assert_strcmp(r[6].error, "line 9: user 'eve@a.com' and domain "
			   "'b.com' disagree");
	test_assert_strcmp(r[7].error, "line 10: empty domain");
	test_assert_strcmp(r[8].error, "line 11: user holds a space or a "
			   "control character");
	test_assert_strcmp(r[9].error, "line 12: password holds a control character");
	/* the last line needs no newline */
	test_assert(r[10].ret == 1 && r[10].entry.line == 13);
	test_assert_strcmp(r[10].entry.password, "tail");
	test_end();
}

static void test_csv_format(void)
{
	struct parsed r[16];
	unsigned int n;

	test_begin("account list: the CSV account template");
	n = parse_all("Username,Domain,Password,Quota_GB,Type,Full name,Language,"
		      "Timezone,Date format\n"
		      "joao,example.com,Abc-1234,2,0,João Silva,pt-br,"
		      "America/Sao_Paulo,dd/mm/yyyy\n"
		      "\"maria\",example.com,\"p,\"\"q\"\"\",0.5,1,\"Maria da Silva\",pt-br,,\n"
		      "a,b,c\n"
		      "x@example.com,example.com,Pw-12345a,1,0,X,pt,,\n"
		      "y,example.com,Pw-12345a,lots,0,Y,pt,,\n"
		      "z,example.com,Pw-12345a,1,2,Z,pt,,\n"
		      "w,example.com,Pw-12345a,,0,W<script>,pt,,\n"
		      "v,example.com,\"Pw-1,,0,V,pt,,\n"
		      "u,example.com,Pw-12345a,,,,,,\n", FALSE, r, N_ELEMENTS(r));
	test_assert(n == 9);
	test_assert(r[0].ret == 1 && r[0].entry.csv && r[0].entry.line == 2);
	test_assert_strcmp(r[0].entry.user, "joao@example.com");
	test_assert_strcmp(r[0].entry.password, "Abc-1234");
	test_assert(r[0].entry.quota_kbytes == 2ULL * 1024 * 1024);
	test_assert_strcmp(r[0].entry.full_name, "João Silva");
	/* quoted fields: commas and doubled quotes inside */
	test_assert(r[1].ret == 1);
	test_assert_strcmp(r[1].entry.user, "maria@example.com");
	test_assert_strcmp(r[1].entry.password, "p,\"q\"");
	test_assert(r[1].entry.quota_kbytes == 512 * 1024);
	test_assert_strcmp(r[1].entry.full_name, "Maria da Silva");
	test_assert_strcmp(r[1].error, "");
	test_assert_strcmp(r[2].error, "line 4: 3 fields, the CSV template has 9 "
		"(username,domain,password,quota_gb,type,full name,language,"
		"timezone,date format)");
	test_assert_strcmp(r[3].error, "line 5: username 'x@example.com': the "
			   "template wants the part before the @");
	test_assert_strcmp(r[4].error, "line 6: quota_gb 'lots' is not a number "
			   "of GB (0-1048576, up to 3 decimals)");
	test_assert_strcmp(r[5].error, "line 7: type must be 0 or 1");
	test_assert_strcmp(r[6].error, "line 8: full name holds '<' (letters, "
			   "digits, spaces and ' . @ - only)");
	test_assert_strcmp(r[7].error, "line 9: unbalanced quotes");
	test_assert(r[8].ret == 1 && r[8].entry.quota_kbytes == 0);

	/* a .csv file needs no header; the header only counts first */
	n = parse_all("k,example.com,Pw-12345a,1,0,K,pt,,\n", TRUE, r, N_ELEMENTS(r));
	test_assert(n == 1 && r[0].ret == 1 && r[0].entry.csv);
	n = parse_all("k:pw\nusername,domain,password,quota_gb,type,n,l,t,d\n",
		      FALSE, r, N_ELEMENTS(r));
	test_assert(n == 2 && r[0].ret == 1 && !r[0].entry.csv);
	test_assert(r[1].ret == -1);
	test_end();
}

static void test_hostile_lines(void)
{
	struct parsed r[4];
	char text[5100];
	unsigned int n;

	test_begin("account list: over-long lines and NUL bytes");
	memset(text, 'a', 5000);
	i_snprintf(text + 5000, sizeof(text) - 5000, "\nok:pw\n");
	n = parse_all(text, FALSE, r, N_ELEMENTS(r));
	test_assert(n == 2);
	test_assert_strcmp(r[0].error, "line 1: longer than 4096 bytes");
	test_assert(r[1].ret == 1 && r[1].entry.line == 2);

	{
		static const char nul[] = "a:b\0c\nd:e\n";
		struct migrate_account_list list;
		struct migrate_account_list_entry e;
		char error[128];

		migrate_account_list_init(&list, nul, sizeof(nul) - 1, FALSE);
		test_assert(migrate_account_list_next(&list, &e, error, sizeof(error)) == -1);
		test_assert_strcmp(error, "line 1: NUL byte");
		test_assert(migrate_account_list_next(&list, &e, error, sizeof(error)) == 1);
		test_assert_strcmp(e.user, "d");
		test_assert(migrate_account_list_next(&list, &e, error, sizeof(error)) == 0);
	}
	test_end();
}

static void test_password_policy(void)
{
	const struct migrate_password_policy policy = { 8, TRUE, TRUE, TRUE, TRUE };
	const struct migrate_password_policy none = { 0, FALSE, FALSE, FALSE, FALSE };
	const struct migrate_password_policy digits = { 12, FALSE, FALSE, TRUE, FALSE };
	char error[256];

	test_begin("password policy: checks");
	test_assert(migrate_password_policy_check(&policy, "Abcdef1!", error,
						  sizeof(error)) == 0);
	test_assert(migrate_password_policy_check(&policy, "abc", error,
						  sizeof(error)) == -1);
	test_assert_strcmp(error, "password does not meet the policy (fewer than 8 "
			   "characters, no upper-case letter, no digit, no special "
			   "character)");
	/* characters, not bytes; a non-ASCII letter is "special" */
	test_assert(migrate_password_policy_check(&policy, "çççççxA1", error,
						  sizeof(error)) == 0);
	test_assert(migrate_password_policy_check(&policy, "ççxA1", error,
						  sizeof(error)) == -1);
	test_assert_strcmp(error, "password does not meet the policy (fewer than 8 "
			   "characters)");
	test_assert(migrate_password_policy_check(&none, "x", error,
						  sizeof(error)) == 0);
	test_assert(migrate_password_policy_check(&digits, "abcdefghijk1", error,
						  sizeof(error)) == 0);
	test_assert(migrate_password_policy_check(&digits, "abcdefghijkl", error,
						  sizeof(error)) == -1);
	test_assert_strcmp(error, "password does not meet the policy (no digit)");
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_colon_format,
		test_csv_format,
		test_hostile_lines,
		test_password_policy,
		NULL
	};
	return test_run(tests);
}
