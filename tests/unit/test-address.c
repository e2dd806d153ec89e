/* Unit tests for common/migrate-address.c */

#include "lib.h"
#include "str.h"
#include "test-common.h"

#include "migrate-address.h"

enum settings_id { S_NONE, S_PLUS, S_PLUS_MINUS, S_FOLD };

static const struct migrate_address_settings settings[] = {
	[S_NONE] = { NULL, FALSE },
	[S_PLUS] = { "+", FALSE },
	[S_PLUS_MINUS] = { "+-", FALSE },
	[S_FOLD] = { "+", TRUE },
};

struct good_case {
	const char *input;
	enum settings_id set;
	const char *address, *local, *extension, *domain;
	bool utf8_local;
};

static const struct good_case good[] = {
	/* case and extensions */
	{ "User+Tag@Example.COM", S_PLUS, "User@example.com", "User", "Tag", "example.com", FALSE },
	{ "User+Tag@Example.COM", S_FOLD, "user@example.com", "user", "Tag", "example.com", FALSE },
	{ "User+Tag@Example.COM", S_NONE, "User+Tag@example.com", "User+Tag", "", "example.com", FALSE },
	{ "first.last-news@example.org", S_PLUS_MINUS, "first.last@example.org", "first.last", "news", "example.org", FALSE },
	/* several delimiters: the first one found splits */
	{ "a-b+c@example.org", S_PLUS_MINUS, "a@example.org", "a", "b+c", "example.org", FALSE },
	{ "a+b-c@example.org", S_PLUS_MINUS, "a@example.org", "a", "b-c", "example.org", FALSE },
	/* Postfix does not split into an empty local part */
	{ "+tag@example.org", S_PLUS, "+tag@example.org", "+tag", "", "example.org", FALSE },
	{ "+@example.org", S_PLUS, "+@example.org", "+", "", "example.org", FALSE },
	{ "user+@example.org", S_PLUS, "user@example.org", "user", "", "example.org", FALSE },
	/* Postfix's reserved names and owner_request_special */
	{ "owner-list@example.org", S_PLUS_MINUS, "owner-list@example.org", "owner-list", "", "example.org", FALSE },
	{ "list-request@example.org", S_PLUS_MINUS, "list-request@example.org", "list-request", "", "example.org", FALSE },
	{ "list-request+x@example.org", S_PLUS_MINUS, "list@example.org", "list", "request+x", "example.org", FALSE },
	{ "MAILER-DAEMON@example.org", S_PLUS_MINUS, "MAILER-DAEMON@example.org", "MAILER-DAEMON", "", "example.org", FALSE },
	{ "double-bounce@example.org", S_PLUS_MINUS, "double-bounce@example.org", "double-bounce", "", "example.org", FALSE },
	{ "Postmaster@Example.org", S_NONE, "postmaster@example.org", "postmaster", "", "example.org", FALSE },
	{ "PostMaster+x@example.org", S_PLUS, "postmaster@example.org", "postmaster", "x", "example.org", FALSE },
	/* IDN domains */
	{ "user@B\xc3\xbc" "cher.Example", S_NONE, "user@xn--bcher-kva.example", "user", "", "xn--bcher-kva.example", FALSE },
	{ "user@XN--BCHER-KVA.example", S_NONE, "user@xn--bcher-kva.example", "user", "", "xn--bcher-kva.example", FALSE },
	{ "user@stra\xc3\x9f" "e.de", S_NONE, "user@xn--strae-oqa.de", "user", "", "xn--strae-oqa.de", FALSE },
	{ "user@xn--ls8h.la", S_NONE, "user@xn--ls8h.la", "user", "", "xn--ls8h.la", FALSE },
	{ "user@\xef\xbd\x81\xef\xbd\x82\xef\xbd\x83.example", S_NONE, "user@abc.example", "user", "", "abc.example", FALSE },
	{ "user@a\xe3\x80\x82" "b.example", S_NONE, "user@a.b.example", "user", "", "a.b.example", FALSE },
	{ "user@ab--cd.b\xc3\xbc" "cher.example", S_NONE, "user@ab--cd.xn--bcher-kva.example", "user", "", "ab--cd.xn--bcher-kva.example", FALSE },
	/* plain domains */
	{ "user@example.com.", S_NONE, "user@example.com", "user", "", "example.com", FALSE },
	{ "user@localhost", S_NONE, "user@localhost", "user", "", "localhost", FALSE },
	{ "user@123.example", S_NONE, "user@123.example", "user", "", "123.example", FALSE },
	{ "<User@Example.com>", S_FOLD, "user@example.com", "user", "", "example.com", FALSE },
	/* SMTPUTF8 local parts: kept byte for byte, only ASCII folds */
	{ "j\xc3\xb6rg@example.com", S_FOLD, "j\xc3\xb6rg@example.com", "j\xc3\xb6rg", "", "example.com", TRUE },
	{ "J\xc3\x96RG@example.com", S_FOLD, "j\xc3\x96rg@example.com", "j\xc3\x96rg", "", "example.com", TRUE },
	{ "\xe7\x94\xa8\xe6\x88\xb7+x@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", S_PLUS,
	  "\xe7\x94\xa8\xe6\x88\xb7@xn--fsqu00a.xn--4rr70v", "\xe7\x94\xa8\xe6\x88\xb7", "x",
	  "xn--fsqu00a.xn--4rr70v", TRUE },
	/* quoted local parts */
	{ "\"john.doe\"@example.com", S_NONE, "john.doe@example.com", "john.doe", "", "example.com", FALSE },
	{ "\"\\j\\o\\e\"@example.com", S_NONE, "joe@example.com", "joe", "", "example.com", FALSE },
	{ "\"John Doe\"@example.com", S_FOLD, "\"john doe\"@example.com", "\"john doe\"", "", "example.com", FALSE },
	{ "\"john doe+x y\"@example.com", S_PLUS, "\"john doe\"@example.com", "\"john doe\"", "x y", "example.com", FALSE },
	{ "\"a\\\"b\\\\c\"@example.com", S_NONE, "\"a\\\"b\\\\c\"@example.com", "\"a\\\"b\\\\c\"", "", "example.com", FALSE },
	{ "\"a@b\"@example.com", S_NONE, "\"a@b\"@example.com", "\"a@b\"", "", "example.com", FALSE },
	{ "\"john..doe\"@example.com", S_NONE, "\"john..doe\"@example.com", "\"john..doe\"", "", "example.com", FALSE },
	{ "\"j\xc3\xb6rg\"@example.com", S_NONE, "j\xc3\xb6rg@example.com", "j\xc3\xb6rg", "", "example.com", TRUE },
	/* a split that leaves no dot-atom is quoted, as Postfix does */
	{ "a.+b@example.com", S_PLUS, "\"a.\"@example.com", "\"a.\"", "b", "example.com", FALSE },
	{ "!#$%&'*/=?^_`{|}~@example.com", S_NONE, "!#$%&'*/=?^_`{|}~@example.com", "!#$%&'*/=?^_`{|}~", "", "example.com", FALSE },
};

struct bad_case {
	const char *input;
	size_t len;		/* 0: strlen(input) */
	enum settings_id set;
	const char *error;	/* ending in '*': the rest comes from libidn2 */
};

static const struct bad_case bad[] = {
	/* the whole input */
	{ "", 0, S_NONE, "empty address" },
	{ "<>", 0, S_NONE, "empty address" },
	{ "<a@example.com", 0, S_NONE, "unbalanced angle brackets" },
	{ "a@example.com>", 0, S_NONE, "unbalanced angle brackets" },
	{ "<", 0, S_NONE, "unbalanced angle brackets" },
	{ " a@example.com", 0, S_NONE, "leading or trailing white space" },
	{ "a@example.com ", 0, S_NONE, "leading or trailing white space" },
	{ "a@example.com\r\n", 0, S_NONE, "leading or trailing white space" },
	{ "< a@example.com>", 0, S_NONE, "leading or trailing white space" },
	{ "<@relay.example:a@example.com>", 0, S_NONE, "source routes are not supported" },
	{ "a", 0, S_NONE, "missing @domain" },
	{ "\"a\"", 0, S_NONE, "missing @domain" },
	{ "a@b@example.com", 0, S_NONE, "more than one unquoted @" },
	{ "\"a\"@b@example.com", 0, S_NONE, "more than one unquoted @" },
	/* local part */
	{ "@example.com", 0, S_NONE, "empty local part" },
	{ "\"\"@example.com", 0, S_NONE, "empty local part" },
	{ "\"abc@example.com", 0, S_NONE, "unbalanced quote in local part" },
	{ "\"abc\\\"@example.com", 0, S_NONE, "unbalanced quote in local part" },
	{ "\"abc\\", 0, S_NONE, "unbalanced quote in local part" },
	{ "a\"b\"@example.com", 0, S_NONE, "misplaced quote in local part" },
	{ "\"a\"b@example.com", 0, S_NONE, "text after quoted local part" },
	{ "\"a\".\"b\"@example.com", 0, S_NONE, "text after quoted local part" },
	{ "a b@example.com", 0, S_NONE, "invalid character ' ' in local part" },
	{ "a\\b@example.com", 0, S_NONE, "invalid character '\\' in local part" },
	{ "a(b)@example.com", 0, S_NONE, "invalid character '(' in local part" },
	{ "a,b@example.com", 0, S_NONE, "invalid character ',' in local part" },
	{ ".a@example.com", 0, S_NONE, "local part starts with a dot" },
	{ "a.@example.com", 0, S_NONE, "local part ends with a dot" },
	{ "a..b@example.com", 0, S_NONE, "two consecutive dots in local part" },
	{ "a\tb@example.com", 0, S_NONE, "control character in local part" },
	{ "a\x7f@example.com", 0, S_NONE, "control character in local part" },
	{ "a\0b@example.com", 15, S_NONE, "NUL byte in local part" },
	{ "\"a\x01\"@example.com", 0, S_NONE, "control character in local part" },
	{ "\"a\\\x01\"@example.com", 0, S_NONE, "control character in local part" },
	{ "\"a\\\xc3\xbc\"@example.com", 0, S_NONE, "backslash before a non-ASCII character in local part" },
	/* UTF-8 in the local part */
	{ "a\xc3@example.com", 0, S_NONE, "invalid UTF-8 in local part: truncated sequence" },
	{ "a\xe2\x82@example.com", 0, S_NONE, "invalid UTF-8 in local part: truncated sequence" },
	{ "\xc0\xaf@example.com", 0, S_NONE, "invalid UTF-8 in local part: overlong encoding" },
	{ "\xe0\x80\xaf@example.com", 0, S_NONE, "invalid UTF-8 in local part: overlong encoding" },
	{ "\xf0\x80\x80\xaf@example.com", 0, S_NONE, "invalid UTF-8 in local part: overlong encoding" },
	{ "\xed\xa0\x80@example.com", 0, S_NONE, "invalid UTF-8 in local part: UTF-16 surrogate" },
	{ "\xf4\x90\x80\x80@example.com", 0, S_NONE, "invalid UTF-8 in local part: code point beyond U+10FFFF" },
	{ "\xf5\x80\x80\x80@example.com", 0, S_NONE, "invalid UTF-8 in local part: code point beyond U+10FFFF" },
	{ "\xff@example.com", 0, S_NONE, "invalid UTF-8 in local part: invalid byte" },
	{ "\x80@example.com", 0, S_NONE, "invalid UTF-8 in local part: unexpected continuation byte" },
	{ "\"a\xc2\x85\"@example.com", 0, S_NONE, "control character in local part" },
	/* domain */
	{ "a@", 0, S_NONE, "empty domain" },
	{ "a@.", 0, S_NONE, "empty domain" },
	{ "a@[192.0.2.1]", 0, S_NONE, "address literals are not supported" },
	{ "a@[IPv6:2001:db8::1]", 0, S_NONE, "address literals are not supported" },
	{ "a@192.0.2.1", 0, S_NONE, "last label of domain is all-numeric" },
	{ "a@.example.com", 0, S_NONE, "domain starts with a dot" },
	{ "a@example..com", 0, S_NONE, "two consecutive dots in domain" },
	{ "a@example.com..", 0, S_NONE, "two consecutive dots in domain" },
	{ "a@-example.com", 0, S_NONE, "domain label starts or ends with a hyphen" },
	{ "a@example-.com", 0, S_NONE, "domain label starts or ends with a hyphen" },
	{ "a@exa_mple.com", 0, S_NONE, "invalid character '_' in domain" },
	{ "a@exa mple.com", 0, S_NONE, "invalid character ' ' in domain" },
	{ "a@exa\x01mple.com", 0, S_NONE, "control character in domain" },
	{ "a@example.com\0", 14, S_NONE, "NUL byte in domain" },
	{ "a@b\xc3.example", 0, S_NONE, "invalid UTF-8 in domain: truncated sequence" },
	{ "a@\xc2\xad.example", 0, S_NONE, "empty label in domain" },
	{ "a@xn--zz.example", 0, S_NONE, "invalid A-label in domain: *" },
	{ "a@xn--abc.example", 0, S_NONE, "invalid A-label in domain: *" },
	{ "a@\xf0\x9f\x92\xa9.la", 0, S_NONE, "invalid international domain name: *" },
	{ "a@ab--cd\xc3\xbc.example", 0, S_NONE, "invalid international domain name: *" },
};

static void check_good(const struct good_case *c, unsigned int i)
{
	const struct migrate_address_settings *set = &settings[c->set];
	struct migrate_address addr, again;
	char error[256] = "";
	int ret;

	ret = migrate_address_normalize(c->input, strlen(c->input), set,
					&addr, error, sizeof(error));
	test_assert_idx(ret == 0, i);
	if (ret < 0) {
		i_error("good[%u]: %s", i, error);
		return;
	}
	test_assert_strcmp_idx(addr.address, c->address, i);
	test_assert_strcmp_idx(addr.local, c->local, i);
	test_assert_strcmp_idx(addr.extension, c->extension, i);
	test_assert_strcmp_idx(addr.domain, c->domain, i);
	test_assert_idx(addr.utf8_local == c->utf8_local, i);

	/* a key fed back in stays the same key */
	test_assert_idx(migrate_address_normalize(addr.address, strlen(addr.address),
		set, &again, error, sizeof(error)) == 0, i);
	test_assert_strcmp_idx(again.address, addr.address, i);
	test_assert_strcmp_idx(again.extension, "", i);
}

static void test_address_good(void)
{
	unsigned int i;

	test_begin("address: normalised forms");
	for (i = 0; i < N_ELEMENTS(good); i++)
		check_good(&good[i], i);
	test_end();
}

static void check_error(const char *error, const char *expected, unsigned int i)
{
	size_t len = strlen(expected);

	if (len > 0 && expected[len - 1] == '*') {
		test_assert_idx(strncmp(error, expected, len - 1) == 0 &&
				strlen(error) > len - 1, i);
		if (strncmp(error, expected, len - 1) != 0)
			i_error("bad[%u]: '%s'", i, error);
	} else {
		test_assert_strcmp_idx(error, expected, i);
	}
}

static void test_address_bad(void)
{
	struct migrate_address addr;
	char error[256];
	unsigned int i;
	size_t len;

	test_begin("address: rejections name the reason");
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		len = bad[i].len != 0 ? bad[i].len : strlen(bad[i].input);
		error[0] = '\0';
		test_assert_idx(migrate_address_normalize(bad[i].input, len,
			&settings[bad[i].set], &addr, error, sizeof(error)) < 0, i);
		check_error(error, bad[i].error, i);
		test_assert_idx(addr.address[0] == '\0' && addr.local[0] == '\0' &&
				addr.domain[0] == '\0', i);
	}
	test_end();
}

static const char *repeat(char c, size_t n)
{
	char *s = t_malloc0(n + 1);

	memset(s, c, n);
	return s;
}

static int normalize(const char *input, enum settings_id set,
		     struct migrate_address *addr_r, char *error, size_t error_size)
{
	return migrate_address_normalize(input, strlen(input), &settings[set],
					 addr_r, error, error_size);
}

static void test_address_local_limits(void)
{
	struct migrate_address addr;
	const char *input;
	char error[256];

	test_begin("address: local part length limits");
	/* 64 octets as written: fine, also quoted */
	input = t_strconcat(repeat('a', 64), "@example.com", NULL);
	test_assert(normalize(input, S_NONE, &addr, error, sizeof(error)) == 0);
	test_assert(strlen(addr.local) == 64);
	input = t_strconcat("\"", repeat('a', 62), "\"@example.com", NULL);
	test_assert(normalize(input, S_NONE, &addr, error, sizeof(error)) == 0);
	test_assert_strcmp(addr.local, repeat('a', 62));
	input = t_strconcat("\"", repeat(' ', 62), "\"@example.com", NULL);
	test_assert(normalize(input, S_NONE, &addr, error, sizeof(error)) == 0);
	test_assert(strlen(addr.local) == 64);

	/* 65 */
	input = t_strconcat(repeat('a', 65), "@example.com", NULL);
	test_assert(normalize(input, S_NONE, &addr, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "local part longer than 64 octets");
	/* 65 only because of unnecessary quotes: the limit is on what is written */
	input = t_strconcat("\"", repeat('a', 63), "\"@example.com", NULL);
	test_assert(normalize(input, S_NONE, &addr, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "local part longer than 64 octets");
	/* 64 with the extension, shorter without it */
	input = t_strconcat(repeat('a', 60), "+tag@example.com", NULL);
	test_assert(normalize(input, S_PLUS, &addr, error, sizeof(error)) == 0);
	test_assert_strcmp(addr.local, repeat('a', 60));
	/* the split leaves "aaa.", 63 octets, which needs quotes: 65 */
	input = t_strconcat(repeat('a', 62), ".+@example.com", NULL);
	test_assert(normalize(input, S_PLUS, &addr, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "local part longer than 64 octets once quoted");
	input = t_strconcat(repeat('a', 61), ".+@example.com", NULL);
	test_assert(normalize(input, S_PLUS, &addr, error, sizeof(error)) == 0);
	test_assert(strlen(addr.local) == 64);
	test_end();
}

static const char *domain_of(size_t len)
{
	/* labels of 63 octets and a shorter last one: "aaa.bbb...." */
	string_t *str = t_str_new(len + 1);
	char c = 'a';

	while (str_len(str) < len) {
		size_t left = len - str_len(str);

		if (str_len(str) > 0) {
			str_append_c(str, '.');
			left--;
		}
		str_append(str, repeat(c++, I_MIN(left, 63)));
	}
	return str_c(str);
}

static void test_address_domain_limits(void)
{
	struct migrate_address addr;
	const char *input;
	char error[256];

	test_begin("address: domain length limits");
	input = t_strconcat(repeat('u', 64), "@", domain_of(253), NULL);
	test_assert(normalize(input, S_NONE, &addr, error, sizeof(error)) == 0);
	test_assert(strlen(addr.address) == MIGRATE_ADDRESS_MAX);
	test_assert(strlen(addr.domain) == 253);
	/* with the root dot: 254 as written, 253 without */
	input = t_strconcat("u@", domain_of(253), ".", NULL);
	test_assert(normalize(input, S_NONE, &addr, error, sizeof(error)) == 0);
	test_assert(strlen(addr.domain) == 253);

	input = t_strconcat("u@", domain_of(254), NULL);
	test_assert(normalize(input, S_NONE, &addr, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "domain longer than 253 octets");
	input = t_strconcat("u@", domain_of(256), NULL);
	test_assert(normalize(input, S_NONE, &addr, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "domain longer than 255 octets as written");

	input = t_strconcat("u@", repeat('a', 63), ".example", NULL);
	test_assert(normalize(input, S_NONE, &addr, error, sizeof(error)) == 0);
	input = t_strconcat("u@", repeat('a', 64), ".example", NULL);
	test_assert(normalize(input, S_NONE, &addr, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "domain label longer than 63 octets");

	/* ACE grows beyond 253 from fewer UTF-8 octets */
	input = t_strconcat("u@\xc3\xbc", repeat('a', 50), ".", domain_of(197), NULL);
	test_assert(strlen(input) - 2 == 250);
	test_assert(normalize(input, S_NONE, &addr, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "domain longer than 253 octets");
	test_end();
}

static void test_domain_normalize(void)
{
	char out[MIGRATE_ADDRESS_DOMAIN_MAX + 1], small[8], error[256];

	test_begin("domain: config and login domains");
	test_assert(migrate_domain_normalize("Example.COM.", out, sizeof(out),
					     error, sizeof(error)) == 0);
	test_assert_strcmp(out, "example.com");
	test_assert(migrate_domain_normalize("B\xc3\xbc" "cher.example", out,
					     sizeof(out), error, sizeof(error)) == 0);
	test_assert_strcmp(out, "xn--bcher-kva.example");
	test_assert(migrate_domain_normalize("", out, sizeof(out),
					     error, sizeof(error)) < 0);
	test_assert_strcmp(error, "empty domain");
	test_assert(migrate_domain_normalize("[192.0.2.1]", out, sizeof(out),
					     error, sizeof(error)) < 0);
	test_assert_strcmp(error, "address literals are not supported");
	test_assert(migrate_domain_normalize("a@b", out, sizeof(out),
					     error, sizeof(error)) < 0);
	test_assert_strcmp(error, "invalid character '@' in domain");
	test_assert(migrate_domain_normalize("example.com", small, sizeof(small),
					     error, sizeof(error)) < 0);
	test_assert_strcmp(error, "domain does not fit the output buffer");
	test_assert(small[0] == '\0');
	test_end();
}

static void test_address_api_edges(void)
{
	struct migrate_address addr;
	char error[8];

	test_begin("address: NULL settings, short and absent error buffers");
	test_assert(migrate_address_normalize("A+b@X.org", 9, NULL, &addr,
					      error, sizeof(error)) == 0);
	test_assert_strcmp(addr.address, "A+b@x.org");
	/* not NUL-terminated: only input_len counts */
	test_assert(migrate_address_normalize("a@x.orgJUNK", 7, NULL, &addr,
					      error, sizeof(error)) == 0);
	test_assert_strcmp(addr.address, "a@x.org");
	test_assert(migrate_address_normalize("a", 1, NULL, &addr,
					      error, sizeof(error)) < 0);
	test_assert_strcmp(error, "missing");
	test_assert(migrate_address_normalize("a", 1, NULL, &addr, NULL, 0) < 0);
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_address_good,
		test_address_bad,
		test_address_local_limits,
		test_address_domain_limits,
		test_domain_normalize,
		test_address_api_edges,
		NULL
	};
	return test_run(tests);
}
