/* libFuzzer target: the legacy login state machine against an arbitrary
   server. The first byte picks the setup (bit 0 POP3, bit 1 STARTTLS,
   bits 2-3 the password, bit 4 the user, bits 5-7 the line before which
   the caller aborts, 0 = at the end); the rest is the server's lines,
   split at LF. When the machine asks for TLS the handshake completes,
   unless the next line starts with '!': then it is fed as plaintext
   injected before the handshake.

   Invariants: the action and the result agree, a result never changes
   once known, reasons are short printable ASCII without the password,
   the password is never sent before TLS when STARTTLS was asked for, OK
   only follows a sent password, and after the result only LOGOUT / QUIT
   is left to send. */

#include "migrate-legacy-login.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(cond) do { if (!(cond)) __builtin_trap(); } while (0)

/* each password with its IMAP quoted form, NULL when it goes as a literal */
static const struct {
	const char *password, *quoted;
} passwords[] = {
	{ "secret123", "\"secret123\"" },
	{ "p\xc3\xa4ss", NULL },
	{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
	{ "x y", "\"x y\"" },
};
static const char *const users[] = { "user", "j\xc3\xb6rg" };

struct run {
	struct migrate_legacy_login *login;
	const char *password;
	const char *quoted;
	bool starttls, tls_done, password_sent;
	enum migrate_legacy_result result;
	char reason[MIGRATE_LEGACY_REASON_MAX + 1];
};

static bool contains(const unsigned char *hay, size_t hay_len, const char *needle)
{
	size_t i, len = strlen(needle);

	for (i = 0; len <= hay_len && i <= hay_len - len; i++) {
		if (memcmp(hay + i, needle, len) == 0)
			return true;
	}
	return false;
}

static void check_output(struct run *r)
{
	const unsigned char *out;
	size_t len;
	bool has_password;

	out = migrate_legacy_login_output(r->login, &len);
	check(len <= 4 * MIGRATE_LEGACY_CREDENTIAL_MAX + 128);
	has_password = contains(out, len, r->password) ||
		(r->quoted != NULL && contains(out, len, r->quoted));
	check(!has_password || !r->starttls || r->tls_done);
	r->password_sent = r->password_sent || has_password;
	migrate_legacy_login_output_sent(r->login);
	(void)migrate_legacy_login_output(r->login, &len);
	check(len == 0);
}

static void check_state(struct run *r, enum migrate_legacy_action action)
{
	const char *reason;
	enum migrate_legacy_result result;
	size_t i, len;

	result = migrate_legacy_login_result(r->login, &reason);
	check(reason != NULL);
	len = strlen(reason);
	check(len <= MIGRATE_LEGACY_REASON_MAX);
	for (i = 0; i < len; i++)
		check(reason[i] >= 0x20 && reason[i] < 0x7f);
	check(!contains((const unsigned char *)reason, len, r->password));
	check((action == MIGRATE_LEGACY_ACTION_DONE) == (result != MIGRATE_LEGACY_PENDING));
	if (r->result != MIGRATE_LEGACY_PENDING) {
		/* known: nothing changes any more */
		check(result == r->result && strcmp(reason, r->reason) == 0);
	} else if (result != MIGRATE_LEGACY_PENDING) {
		const unsigned char *out;
		size_t out_len;

		check(result != MIGRATE_LEGACY_OK || r->password_sent);
		out = migrate_legacy_login_output(r->login, &out_len);
		check(result == MIGRATE_LEGACY_OK ? out_len > 0 : out_len == 0);
		check(!contains(out, out_len, r->password));
		check(out_len == 0 || (out_len == 6 && memcmp(out, "QUIT\r\n", 6) == 0) ||
		      (out_len > 9 && memcmp(out + out_len - 9, " LOGOUT\r\n", 9) == 0));
		r->result = result;
		memcpy(r->reason, reason, len + 1);
	}
	check_output(r);
}

static void do_abort(struct run *r)
{
	char reason[64];

	snprintf(reason, sizeof(reason), "aborted with %s\x01", r->password);
	migrate_legacy_login_abort(r->login, reason);
	check_state(r, MIGRATE_LEGACY_ACTION_DONE);
	check(r->result != MIGRATE_LEGACY_PENDING);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct migrate_legacy_login_settings set;
	enum migrate_legacy_action action = MIGRATE_LEGACY_ACTION_READ;
	struct run r;
	const char *p, *end, *nl;
	char error[256];
	unsigned int line_no = 0, abort_at;

	if (size == 0)
		return 0;
	memset(&r, 0, sizeof(r));
	memset(&set, 0, sizeof(set));
	set.protocol = (data[0] & 1) != 0 ? MIGRATE_PROTOCOL_POP3 : MIGRATE_PROTOCOL_IMAP;
	set.starttls = r.starttls = (data[0] & 2) != 0;
	set.password = r.password = passwords[(data[0] >> 2) & 3].password;
	r.quoted = passwords[(data[0] >> 2) & 3].quoted;
	set.user = users[(data[0] >> 4) & 1];
	abort_at = data[0] >> 5;
	check(migrate_legacy_login_init(&set, &r.login, error, sizeof(error)) == 0);

	p = (const char *)data + 1;
	end = (const char *)data + size;
	for (; p < end; p = nl + 1, line_no++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (abort_at != 0 && line_no + 1 == abort_at)
			do_abort(&r);
		if (action == MIGRATE_LEGACY_ACTION_START_TLS && (nl == p || *p != '!')) {
			r.tls_done = true;
			action = migrate_legacy_login_tls_started(r.login);
			check_state(&r, action);
		}
		action = migrate_legacy_login_input(r.login, p, (size_t)(nl - p));
		check_state(&r, action);
	}
	if (action == MIGRATE_LEGACY_ACTION_START_TLS) {
		r.tls_done = true;
		check_state(&r, migrate_legacy_login_tls_started(r.login));
	}
	do_abort(&r);
	migrate_legacy_login_free(&r.login);
	check(r.login == NULL);
	return 0;
}
