/* Unit tests for common/migrate-legacy-login.c: the IMAP and POP3 login
   dialogues byte by byte, every answer's result, and that the password
   never outlives its use (output buffer, reasons, errors). */

#include "lib.h"
#include "str.h"
#include "test-common.h"

#include "migrate-legacy-login.h"

#define IMAP MIGRATE_PROTOCOL_IMAP
#define POP3 MIGRATE_PROTOCOL_POP3
#define OK MIGRATE_LEGACY_OK
#define MISMATCH MIGRATE_LEGACY_MISMATCH
#define TEMPFAIL MIGRATE_LEGACY_TEMPFAIL

static struct migrate_legacy_login *
login_new(enum migrate_protocol protocol, bool starttls, const char *user,
	  const char *password)
{
	struct migrate_legacy_login_settings set = {
		.protocol = protocol,
		.starttls = starttls,
		.user = user,
		.password = password,
	};
	struct migrate_legacy_login *login;
	char error[256];

	test_assert(migrate_legacy_login_init(&set, &login, error, sizeof(error)) == 0);
	return login;
}

/* The output is exactly expected; once sent, it is gone, and (white box:
   the pointer stays valid until free) its bytes are zero. */
static void expect_output(struct migrate_legacy_login *login, const char *expected)
{
	const unsigned char *out;
	size_t len, i;
	bool wiped = TRUE;

	out = migrate_legacy_login_output(login, &len);
	test_assert_memcmp(out, len, expected, strlen(expected));
	migrate_legacy_login_output_sent(login);
	for (i = 0; i < len; i++)
		wiped = wiped && out[i] == '\0';
	test_assert(wiped);
	(void)migrate_legacy_login_output(login, &len);
	test_assert(len == 0);
}

/* A dialogue: "S<line>" the server sends a line (the machine must be
   reading), "I<line>" it sends one while the machine waits for TLS
   (plaintext injected after the STARTTLS answer), "T" the machine asked
   for TLS and the handshake completes, "C<bytes>" the client must send
   exactly these. The machine must be done
   after the last step, with nothing more to send. */
static void run_dialogue(struct migrate_legacy_login *login,
			 const char *const steps[],
			 enum migrate_legacy_result result, const char *reason)
{
	enum migrate_legacy_action action = MIGRATE_LEGACY_ACTION_READ;
	const char *reason_r;
	size_t len;
	unsigned int i;

	for (i = 0; steps[i] != NULL; i++) {
		const char *text = steps[i] + 1;

		switch (steps[i][0]) {
		case 'S':
			test_assert_idx(action == MIGRATE_LEGACY_ACTION_READ, i);
			test_assert_idx(migrate_legacy_login_result(login, NULL) ==
					MIGRATE_LEGACY_PENDING, i);
			action = migrate_legacy_login_input(login, text, strlen(text));
			break;
		case 'I':
			test_assert_idx(action == MIGRATE_LEGACY_ACTION_START_TLS, i);
			action = migrate_legacy_login_input(login, text, strlen(text));
			break;
		case 'T':
			test_assert_idx(action == MIGRATE_LEGACY_ACTION_START_TLS, i);
			action = migrate_legacy_login_tls_started(login);
			break;
		case 'C':
			expect_output(login, text);
			break;
		default:
			i_unreached();
		}
	}
	test_assert(action == MIGRATE_LEGACY_ACTION_DONE);
	test_assert(migrate_legacy_login_result(login, &reason_r) == result);
	test_assert_strcmp(reason_r, reason);
	(void)migrate_legacy_login_output(login, &len);
	test_assert(len == 0);
	migrate_legacy_login_free(&login);
	test_assert(login == NULL);
}

static void test_imap_login(void)
{
	test_begin("legacy login: IMAP without and with STARTTLS");
	run_dialogue(login_new(IMAP, FALSE, "user", "pa\"ss"), (const char *const[]) {
		"S* OK [CAPABILITY IMAP4rev1 LOGIN] ready",
		"CA1 LOGIN \"user\" \"pa\\\"ss\"\r\n",
		"S* CAPABILITY IMAP4rev1 IDLE",
		"S* OK [ALERT] be nice",
		"S* NO [ALERT] warning",
		"SA1 OK [CAPABILITY IMAP4rev1] Logged in",
		"CA2 LOGOUT\r\n",
		NULL }, OK, "legacy server answered OK [CAPABILITY IMAP4rev1] Logged in");
	run_dialogue(login_new(IMAP, TRUE, "user", "pa\"ss\\"), (const char *const[]) {
		"S* ok",
		"CA1 STARTTLS\r\n",
		"S* CAPABILITY IMAP4rev1 STARTTLS",
		"SA1 OK Begin TLS negotiation now.",
		"T",
		"CA2 LOGIN \"user\" \"pa\\\"ss\\\\\"\r\n",
		/* a lone trailing CR is stripped */
		"SA2 ok Logged in\r",
		"CA3 LOGOUT\r\n",
		NULL }, OK, "legacy server answered ok Logged in");
	/* a space is fine in a quoted IMAP user name */
	run_dialogue(login_new(IMAP, FALSE, "first last", "x"), (const char *const[]) {
		"S* OK",
		"CA1 LOGIN \"first last\" \"x\"\r\n",
		"SA1 OK",
		"CA2 LOGOUT\r\n",
		NULL }, OK, "legacy server answered OK");
	test_end();
}

static void test_imap_literals(void)
{
	test_begin("legacy login: IMAP literals for 8-bit and control bytes");
	run_dialogue(login_new(IMAP, FALSE, "j\xc3\xb6rg", "p\xc3\xa4sswort"), (const char *const[]) {
		"S* OK ready",
		"CA1 LOGIN {5}\r\n",
		"S* CAPABILITY IMAP4rev1",
		"S+ Ready for literal data",
		"Cj\xc3\xb6rg {9}\r\n",
		"S+",
		"Cp\xc3\xa4sswort\r\n",
		"SA1 OK done",
		"CA2 LOGOUT\r\n",
		NULL }, OK, "legacy server answered OK done");
	run_dialogue(login_new(IMAP, TRUE, "user", "gr\xfc\xdf"), (const char *const[]) {
		"S* OK",
		"CA1 STARTTLS\r\n",
		"SA1 OK",
		"T",
		"CA2 LOGIN \"user\" {4}\r\n",
		"S+ go ahead",
		"Cgr\xfc\xdf\r\n",
		"SA2 NO [AUTHENTICATIONFAILED] Authentication failed.",
		NULL }, MISMATCH, "legacy server answered NO [AUTHENTICATIONFAILED] Authentication failed.");
	run_dialogue(login_new(IMAP, FALSE, "tab\tuser", "x"), (const char *const[]) {
		"S* OK",
		"CA1 LOGIN {8}\r\n",
		"S+ ",
		"Ctab\tuser \"x\"\r\n",
		"SA1 NO",
		NULL }, MISMATCH, "legacy server answered NO");
	/* the server refuses the literal: the password was never checked */
	run_dialogue(login_new(IMAP, FALSE, "user", "\xe9t\xe9"), (const char *const[]) {
		"S* OK",
		"CA1 LOGIN \"user\" {3}\r\n",
		"SA1 NO [AUTHENTICATIONFAILED] no 8-bit here",
		NULL }, TEMPFAIL, "legacy server answered before the LOGIN literal: "
		"NO [AUTHENTICATIONFAILED] no 8-bit here");
	test_end();
}

static void imap_answer(const char *answer, enum migrate_legacy_result result,
			const char *reason)
{
	run_dialogue(login_new(IMAP, FALSE, "user", "s3cr3t"), (const char *const[]) {
		"S* OK",
		"CA1 LOGIN \"user\" \"s3cr3t\"\r\n",
		t_strconcat("S", answer, NULL),
		result == OK ? "CA2 LOGOUT\r\n" : NULL,
		NULL }, result, reason);
}

static void test_imap_results(void)
{
	test_begin("legacy login: IMAP answers and their results");
	imap_answer("A1 NO [AUTHENTICATIONFAILED] Authentication failed.", MISMATCH,
		    "legacy server answered NO [AUTHENTICATIONFAILED] Authentication failed.");
	imap_answer("A1 no [authenticationFailed] lower case", MISMATCH,
		    "legacy server answered no [authenticationFailed] lower case");
	imap_answer("A1 NO [AUTHORIZATIONFAILED] not you", MISMATCH,
		    "legacy server answered NO [AUTHORIZATIONFAILED] not you");
	imap_answer("A1 NO [EXPIRED] password expired", MISMATCH,
		    "legacy server answered NO [EXPIRED] password expired");
	imap_answer("A1 NO Login failed", MISMATCH, "legacy server answered NO Login failed");
	imap_answer("A1 NO [UNAVAILABLE] try later", TEMPFAIL,
		    "legacy server answered NO [UNAVAILABLE] try later");
	imap_answer("A1 NO [PRIVACYREQUIRED] use TLS", TEMPFAIL,
		    "legacy server answered NO [PRIVACYREQUIRED] use TLS");
	imap_answer("A1 NO [LIMIT] too many", TEMPFAIL, "legacy server answered NO [LIMIT] too many");
	imap_answer("A1 NO [SERVERBUG] oops", TEMPFAIL, "legacy server answered NO [SERVERBUG] oops");
	/* a code that only starts like a mismatch, or never ends */
	imap_answer("A1 NO [AUTHENTICATIONFAILEDX] x", TEMPFAIL,
		    "legacy server answered NO [AUTHENTICATIONFAILEDX] x");
	imap_answer("A1 NO [AUTHENTICATIONFAILED", TEMPFAIL,
		    "legacy server answered NO [AUTHENTICATIONFAILED");
	imap_answer("A1 BAD Invalid arguments", TEMPFAIL, "legacy server answered BAD Invalid arguments");
	imap_answer("* BYE Server shutting down", TEMPFAIL,
		    "legacy server answered * BYE Server shutting down");
	/* unexpected lines */
	imap_answer("A2 OK Logged in", TEMPFAIL, "unexpected line from legacy server: A2 OK Logged in");
	imap_answer("a1 OK Logged in", TEMPFAIL, "unexpected line from legacy server: a1 OK Logged in");
	imap_answer("A1 OKAY", TEMPFAIL, "unexpected line from legacy server: A1 OKAY");
	imap_answer("A1 PREAUTH", TEMPFAIL, "unexpected line from legacy server: A1 PREAUTH");
	imap_answer("A1", TEMPFAIL, "unexpected line from legacy server: A1");
	imap_answer("", TEMPFAIL, "unexpected line from legacy server: ");
	imap_answer("*", TEMPFAIL, "unexpected line from legacy server: *");
	imap_answer("+ more please", TEMPFAIL, "unexpected line from legacy server: + more please");
	test_end();
}

static void test_imap_greetings(void)
{
	test_begin("legacy login: IMAP greetings and STARTTLS failures");
	run_dialogue(login_new(IMAP, FALSE, "user", "pass"), (const char *const[]) {
		"S* PREAUTH IMAP4rev1 logged in as nobody",
		NULL }, TEMPFAIL, "unexpected greeting from legacy server: * PREAUTH IMAP4rev1 logged in as nobody");
	run_dialogue(login_new(IMAP, FALSE, "user", "pass"), (const char *const[]) {
		"S* BYE too many connections",
		NULL }, TEMPFAIL, "unexpected greeting from legacy server: * BYE too many connections");
	run_dialogue(login_new(IMAP, FALSE, "user", "pass"), (const char *const[]) {
		"S+OK POP3 ready",
		NULL }, TEMPFAIL, "unexpected greeting from legacy server: +OK POP3 ready");
	run_dialogue(login_new(IMAP, FALSE, "user", "pass"), (const char *const[]) {
		"S* OKAY",
		NULL }, TEMPFAIL, "unexpected greeting from legacy server: * OKAY");
	run_dialogue(login_new(IMAP, TRUE, "user", "pass"), (const char *const[]) {
		"S* OK",
		"CA1 STARTTLS\r\n",
		"SA1 NO STARTTLS not available",
		NULL }, TEMPFAIL, "legacy server refused STARTTLS: NO STARTTLS not available");
	run_dialogue(login_new(IMAP, TRUE, "user", "pass"), (const char *const[]) {
		"S* OK",
		"CA1 STARTTLS\r\n",
		"S* BYE going away",
		NULL }, TEMPFAIL, "legacy server answered * BYE going away");
	/* plaintext after the STARTTLS answer may be injected: no LOGIN */
	run_dialogue(login_new(IMAP, TRUE, "user", "pass"), (const char *const[]) {
		"S* OK",
		"CA1 STARTTLS\r\n",
		"SA1 OK Begin TLS",
		"IA2 OK injected",
		NULL }, TEMPFAIL, "unexpected line from legacy server: A2 OK injected");
	test_end();
}

static void test_pop3_login(void)
{
	test_begin("legacy login: POP3 without and with STLS");
	run_dialogue(login_new(POP3, FALSE, "x", "x y"), (const char *const[]) {
		"S+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>",
		"CUSER x\r\n",
		"S+OK",
		"CPASS x y\r\n",
		"S+OK Logged in.",
		"CQUIT\r\n",
		NULL }, OK, "legacy server answered +OK Logged in.");
	run_dialogue(login_new(POP3, TRUE, "user@example.com", "p\xc3\xa4ss \"word\""), (const char *const[]) {
		"S+OK",
		"CSTLS\r\n",
		"S+OK Begin TLS negotiation",
		"T",
		"CUSER user@example.com\r\n",
		"S+OK send PASS",
		"CPASS p\xc3\xa4ss \"word\"\r\n",
		"S+ok maildrop has 2 messages\r",
		"CQUIT\r\n",
		NULL }, OK, "legacy server answered +ok maildrop has 2 messages");
	test_end();
}

static void pop3_answer(const char *to_user, const char *to_pass,
			enum migrate_legacy_result result, const char *reason)
{
	const char *const after_user[] = {
		"S+OK", "CUSER user\r\n", t_strconcat("S", to_user, NULL), NULL
	};
	const char *const after_pass[] = {
		"S+OK", "CUSER user\r\n", "S+OK", "CPASS s3cr3t\r\n",
		t_strconcat("S", to_pass, NULL),
		result == OK ? "CQUIT\r\n" : NULL, NULL
	};

	run_dialogue(login_new(POP3, FALSE, "user", "s3cr3t"),
		     to_user != NULL ? after_user : after_pass, result, reason);
}

static void test_pop3_results(void)
{
	test_begin("legacy login: POP3 answers and their results");
	pop3_answer(NULL, "-ERR [AUTH] Authentication failed.", MISMATCH,
		    "legacy server answered -ERR [AUTH] Authentication failed.");
	pop3_answer(NULL, "-err [auth] lower case", MISMATCH,
		    "legacy server answered -err [auth] lower case");
	pop3_answer(NULL, "-ERR [AUTH/FOO] finer", MISMATCH, "legacy server answered -ERR [AUTH/FOO] finer");
	pop3_answer(NULL, "-ERR invalid password", MISMATCH, "legacy server answered -ERR invalid password");
	pop3_answer(NULL, "-ERR", MISMATCH, "legacy server answered -ERR");
	pop3_answer(NULL, "-ERR [IN-USE] Mailbox is locked", OK,
		    "legacy server answered -ERR [IN-USE] Mailbox is locked");
	pop3_answer(NULL, "-ERR [SYS/TEMP] try later", TEMPFAIL,
		    "legacy server answered -ERR [SYS/TEMP] try later");
	pop3_answer(NULL, "-ERR [SYS/PERM] broken", TEMPFAIL, "legacy server answered -ERR [SYS/PERM] broken");
	pop3_answer(NULL, "-ERR [LOGIN-DELAY] wait", TEMPFAIL, "legacy server answered -ERR [LOGIN-DELAY] wait");
	pop3_answer(NULL, "-ERR [AUTHX] x", TEMPFAIL, "legacy server answered -ERR [AUTHX] x");
	pop3_answer(NULL, "-ERR [AUTH", TEMPFAIL, "legacy server answered -ERR [AUTH");
	pop3_answer(NULL, "+ ", TEMPFAIL, "unexpected line from legacy server: + ");
	pop3_answer(NULL, "+OKAY", TEMPFAIL, "unexpected line from legacy server: +OKAY");
	pop3_answer(NULL, "* OK", TEMPFAIL, "unexpected line from legacy server: * OK");
	/* answers to USER: no password was checked, so IN-USE proves nothing */
	pop3_answer("-ERR no such user", NULL, MISMATCH, "legacy server answered -ERR no such user");
	pop3_answer("-ERR [AUTH] unknown", NULL, MISMATCH, "legacy server answered -ERR [AUTH] unknown");
	pop3_answer("-ERR [IN-USE] locked", NULL, TEMPFAIL, "legacy server answered -ERR [IN-USE] locked");
	pop3_answer("-ERR [SYS/TEMP] later", NULL, TEMPFAIL, "legacy server answered -ERR [SYS/TEMP] later");
	pop3_answer("hello", NULL, TEMPFAIL, "unexpected line from legacy server: hello");

	run_dialogue(login_new(POP3, FALSE, "user", "pass"), (const char *const[]) {
		"S-ERR busy", NULL }, TEMPFAIL, "unexpected greeting from legacy server: -ERR busy");
	run_dialogue(login_new(POP3, FALSE, "user", "pass"), (const char *const[]) {
		"S* OK IMAP4rev1", NULL }, TEMPFAIL, "unexpected greeting from legacy server: * OK IMAP4rev1");
	run_dialogue(login_new(POP3, TRUE, "user", "pass"), (const char *const[]) {
		"S+OK", "CSTLS\r\n", "S-ERR not supported", NULL },
		TEMPFAIL, "legacy server refused STLS: -ERR not supported");
	run_dialogue(login_new(POP3, TRUE, "user", "pass"), (const char *const[]) {
		"S+OK", "CSTLS\r\n", "S+OK go", "I+OK injected", NULL },
		TEMPFAIL, "unexpected line from legacy server: +OK injected");
	test_end();
}

static void test_abort(void)
{
	struct migrate_legacy_login *login;
	const char *reason;
	size_t len;
	char line[MIGRATE_LEGACY_LINE_MAX + 2];

	test_begin("legacy login: abort, overlong lines, TLS out of order");
	/* before the greeting */
	login = login_new(IMAP, FALSE, "user", "pass");
	test_assert(migrate_legacy_login_result(login, &reason) == MIGRATE_LEGACY_PENDING);
	test_assert_strcmp(reason, "");
	migrate_legacy_login_abort(login, "connection closed");
	test_assert(migrate_legacy_login_result(login, &reason) == TEMPFAIL);
	test_assert_strcmp(reason, "connection closed");
	test_assert(migrate_legacy_login_input(login, "* OK", 4) == MIGRATE_LEGACY_ACTION_DONE);
	test_assert(migrate_legacy_login_tls_started(login) == MIGRATE_LEGACY_ACTION_DONE);
	(void)migrate_legacy_login_output(login, &len);
	test_assert(len == 0);
	migrate_legacy_login_free(&login);

	/* with the LOGIN unsent: it is wiped, not left for the caller */
	login = login_new(IMAP, FALSE, "user", "secret123");
	test_assert(migrate_legacy_login_input(login, "* OK", 4) == MIGRATE_LEGACY_ACTION_READ);
	(void)migrate_legacy_login_output(login, &len);
	test_assert(len > 0);
	migrate_legacy_login_abort(login, "write failed for secret123\x01");
	(void)migrate_legacy_login_output(login, &len);
	test_assert(len == 0);
	test_assert(migrate_legacy_login_result(login, &reason) == TEMPFAIL);
	test_assert_strcmp(reason, "write failed for ?");
	migrate_legacy_login_abort(login, NULL);
	migrate_legacy_login_free(&login);

	/* after the result: no change, the LOGOUT stays */
	login = login_new(POP3, FALSE, "user", "pass");
	(void)migrate_legacy_login_input(login, "+OK", 3);
	migrate_legacy_login_output_sent(login);
	(void)migrate_legacy_login_input(login, "+OK", 3);
	migrate_legacy_login_output_sent(login);
	test_assert(migrate_legacy_login_input(login, "+OK", 3) == MIGRATE_LEGACY_ACTION_DONE);
	migrate_legacy_login_abort(login, "connection closed");
	test_assert(migrate_legacy_login_result(login, &reason) == OK);
	test_assert_strcmp(reason, "legacy server answered +OK");
	expect_output(login, "QUIT\r\n");
	migrate_legacy_login_free(&login);
	migrate_legacy_login_free(&login);

	/* an overlong line, even one the caller should have refused */
	login = login_new(IMAP, FALSE, "user", "pass");
	memset(line, 'x', sizeof(line));
	test_assert(migrate_legacy_login_input(login, line, sizeof(line)) ==
		    MIGRATE_LEGACY_ACTION_DONE);
	test_assert(migrate_legacy_login_result(login, &reason) == TEMPFAIL);
	test_assert_strcmp(reason, "legacy server sent an overlong line");
	migrate_legacy_login_free(&login);

	/* TLS reported without being asked for */
	login = login_new(POP3, TRUE, "user", "pass");
	test_assert(migrate_legacy_login_tls_started(login) == MIGRATE_LEGACY_ACTION_DONE);
	test_assert(migrate_legacy_login_result(login, &reason) == TEMPFAIL);
	test_assert_strcmp(reason, "TLS started without STARTTLS");
	(void)migrate_legacy_login_output(login, &len);
	test_assert(len == 0);
	migrate_legacy_login_free(&login);
	test_end();
}

static void test_init_refused(void)
{
	static const struct {
		enum migrate_protocol protocol;
		const char *user, *password, *error;
	} cases[] = {
		{ IMAP, "", "secret", "empty user name" },
		{ IMAP, NULL, "secret", "empty user name" },
		{ IMAP, "user", "", "empty password" },
		{ POP3, "user", NULL, "empty password" },
		{ IMAP, "us\rer", "secret", "user name contains CR or LF" },
		{ IMAP, "user", "sec\nret", "password contains CR or LF" },
		{ POP3, "user", "secret\r", "password contains CR or LF" },
		{ POP3, "first last", "secret", "POP3 user name contains a space" },
		{ (enum migrate_protocol)7, "user", "secret", "unknown protocol" },
	};
	struct migrate_legacy_login_settings set;
	struct migrate_legacy_login *login = (void *)1;
	char error[256], long_value[MIGRATE_LEGACY_CREDENTIAL_MAX + 2];
	unsigned int i;

	test_begin("legacy login: credentials that must never be sent");
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		i_zero(&set);
		set.protocol = cases[i].protocol;
		set.user = cases[i].user;
		set.password = cases[i].password;
		test_assert_idx(migrate_legacy_login_init(&set, &login, error, sizeof(error)) < 0, i);
		test_assert_idx(login == NULL, i);
		test_assert_strcmp_idx(error, cases[i].error, i);
	}

	memset(long_value, 'a', sizeof(long_value));
	long_value[MIGRATE_LEGACY_CREDENTIAL_MAX + 1] = '\0';
	i_zero(&set);
	set.user = long_value;
	set.password = "secret";
	test_assert(migrate_legacy_login_init(&set, &login, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "user name longer than 511 bytes");
	set.user = "user";
	set.password = long_value;
	test_assert(migrate_legacy_login_init(&set, &login, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "password longer than 511 bytes");

	/* the longest values fit, escaped or as literals */
	long_value[MIGRATE_LEGACY_CREDENTIAL_MAX] = '\0';
	memset(long_value, '"', MIGRATE_LEGACY_CREDENTIAL_MAX);
	set.user = long_value;
	test_assert(migrate_legacy_login_init(&set, &login, error, sizeof(error)) == 0);
	test_assert(migrate_legacy_login_input(login, "* OK", 4) == MIGRATE_LEGACY_ACTION_READ);
	migrate_legacy_login_free(&login);
	memset(long_value, '\xff', MIGRATE_LEGACY_CREDENTIAL_MAX);
	test_assert(migrate_legacy_login_init(&set, &login, error, sizeof(error)) == 0);
	test_assert(migrate_legacy_login_input(login, "* OK", 4) == MIGRATE_LEGACY_ACTION_READ);
	test_assert(migrate_legacy_login_input(login, "+", 1) == MIGRATE_LEGACY_ACTION_READ);
	test_assert(migrate_legacy_login_input(login, "+", 1) == MIGRATE_LEGACY_ACTION_READ);
	migrate_legacy_login_free(&login);
	test_end();
}

static void password_answer(const char *password, const char *answer, const char *reason)
{
	const char *reason_r;
	struct migrate_legacy_login *login = login_new(POP3, FALSE, "user", password);

	(void)migrate_legacy_login_input(login, "+OK", 3);
	migrate_legacy_login_output_sent(login);
	(void)migrate_legacy_login_input(login, "+OK", 3);
	migrate_legacy_login_output_sent(login);
	test_assert(migrate_legacy_login_input(login, answer, strlen(answer)) ==
		    MIGRATE_LEGACY_ACTION_DONE);
	(void)migrate_legacy_login_result(login, &reason_r);
	test_assert_strcmp(reason_r, reason);
	test_assert(strstr(reason_r, password) == NULL);
	migrate_legacy_login_free(&login);
}

static void test_reason_hides_password(void)
{
	string_t *answer = t_str_new(512), *expected = t_str_new(256);

	test_begin("legacy login: reasons never hold the password");
	run_dialogue(login_new(IMAP, FALSE, "user", "secret123"), (const char *const[]) {
		"S* OK",
		"CA1 LOGIN \"user\" \"secret123\"\r\n",
		"SA1 NO [AUTHENTICATIONFAILED] bad password secret123",
		NULL }, MISMATCH, "legacy server answered NO [AUTHENTICATIONFAILED] bad password ");
	run_dialogue(login_new(IMAP, FALSE, "user", "secret123"), (const char *const[]) {
		"S* OK",
		"CA1 LOGIN \"user\" \"secret123\"\r\n",
		"S* BYE \"secret123\" is wrong",
		NULL }, TEMPFAIL, "legacy server answered * BYE \"\" is wrong");
	password_answer("secret123", "-ERR nested secsecret123ret123!", "legacy server answered -ERR nested !");
	password_answer("p\xc3\xa4ss", "-ERR [AUTH] p\xc3\xa4ss p\xc3\xa4\xc3\xa4ss\x7f",
			"legacy server answered -ERR [AUTH]  p????ss?");
	/* a '?' in the password: a non-printable byte must not spell it */
	password_answer("ab?d", "-ERR ab\x01" "d", "legacy server answered -ERR ");
	/* even the fixed text goes, if it holds the password */
	password_answer("server", "-ERR x", "legacy  answered -ERR x");

	/* cut to MIGRATE_LEGACY_REASON_MAX, and no prefix of the password
	   survives at the cut */
	str_append(answer, "-ERR ");
	str_append(expected, "legacy server answered -ERR ");
	while (str_len(expected) < MIGRATE_LEGACY_REASON_MAX - 4) {
		str_append_c(answer, 'x');
		str_append_c(expected, 'x');
	}
	str_append(answer, "secret123 and more text after it");
	str_append(expected, " and");
	test_assert(str_len(expected) == MIGRATE_LEGACY_REASON_MAX);
	password_answer("secret123", str_c(answer), str_c(expected));
	test_end();
}

static void test_result_names(void)
{
	test_begin("legacy login: result names");
	test_assert_strcmp(migrate_legacy_result_name(MIGRATE_LEGACY_PENDING), "pending");
	test_assert_strcmp(migrate_legacy_result_name(OK), "ok");
	test_assert_strcmp(migrate_legacy_result_name(MISMATCH), "mismatch");
	test_assert_strcmp(migrate_legacy_result_name(TEMPFAIL), "tempfail");
	test_assert_strcmp(migrate_legacy_result_name((enum migrate_legacy_result)9), "invalid");
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_imap_login,
		test_imap_literals,
		test_imap_results,
		test_imap_greetings,
		test_pop3_login,
		test_pop3_results,
		test_abort,
		test_init_refused,
		test_reason_hides_password,
		test_result_names,
		NULL
	};
	return test_run(tests);
}
