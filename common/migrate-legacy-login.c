/* The client side of a legacy IMAP / POP3 login (see
   migrate-legacy-login.h). Plain C, no Dovecot dependency, no I/O.

   Every line is hostile: anything outside the expected dialogue ends in
   TEMPFAIL, never in OK or MISMATCH. The credentials and every byte that
   held them (the output buffer, the scratch buffer of a reason) are wiped
   as soon as they are no longer needed. */

#include "migrate-legacy-login.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest fixed text put in front of a reason. */
#define REASON_PREFIX_MAX 64
#define ANSWERED "legacy server answered "

enum login_state {
	STATE_GREETING,
	STATE_STARTTLS,		/* STARTTLS / STLS sent */
	STATE_TLS,		/* START_TLS asked for, handshake not done */
	STATE_LITERAL,		/* IMAP: literal announced, waiting for "+" */
	STATE_USER,		/* POP3: USER sent */
	STATE_LOGIN,		/* IMAP LOGIN / POP3 PASS sent */
	STATE_DONE,
};

struct migrate_legacy_login {
	enum migrate_protocol protocol;
	bool starttls;
	enum login_state state;
	enum migrate_legacy_result result;
	unsigned int tag;		/* IMAP: the last tag sent, "A<tag>" */
	unsigned int literal_arg;	/* STATE_LITERAL: 0 user, 1 password */
	size_t user_len, password_len;
	char user[MIGRATE_LEGACY_CREDENTIAL_MAX + 1];
	char password[MIGRATE_LEGACY_CREDENTIAL_MAX + 1];
	char reason[MIGRATE_LEGACY_REASON_MAX + 1];
	/* sized at init for the whole dialogue, even if the caller never
	   sends: growing by realloc would leave password copies in freed
	   memory */
	size_t out_len, out_size;
	unsigned char out[];
};

static int init_error(char *error, size_t error_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int init_error(char *error, size_t error_size, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(error, error_size, fmt, args);
	va_end(args);
	return -1;
}

static int check_credential(const char *value, const char *what,
			    size_t *len_r, char *error, size_t error_size)
{
	size_t len = value == NULL ? 0 : strnlen(value, MIGRATE_LEGACY_CREDENTIAL_MAX + 1);

	/* the messages never quote the value: it may be the password */
	if (len == 0)
		return init_error(error, error_size, "empty %s", what);
	if (len > MIGRATE_LEGACY_CREDENTIAL_MAX) {
		return init_error(error, error_size, "%s longer than %u bytes", what,
				  MIGRATE_LEGACY_CREDENTIAL_MAX);
	}
	if (strpbrk(value, "\r\n") != NULL)
		return init_error(error, error_size, "%s contains CR or LF", what);
	*len_r = len;
	return 0;
}

int migrate_legacy_login_init(const struct migrate_legacy_login_settings *set,
			      struct migrate_legacy_login **login_r,
			      char *error, size_t error_size)
{
	struct migrate_legacy_login *login;
	size_t user_len, password_len, out_size;

	*login_r = NULL;
	if (set->protocol != MIGRATE_PROTOCOL_IMAP &&
	    set->protocol != MIGRATE_PROTOCOL_POP3)
		return init_error(error, error_size, "unknown protocol");
	if (check_credential(set->user, "user name", &user_len, error, error_size) < 0 ||
	    check_credential(set->password, "password", &password_len, error, error_size) < 0)
		return -1;
	/* POP3 arguments are separated by spaces: "USER a b" is another user */
	if (set->protocol == MIGRATE_PROTOCOL_POP3 && strchr(set->user, ' ') != NULL)
		return init_error(error, error_size, "POP3 user name contains a space");

	/* worst case: both values quoted with every byte escaped, plus the
	   commands around them */
	out_size = 2 * (user_len + password_len) + 128;
	login = calloc(1, sizeof(*login) + out_size);
	if (login == NULL)
		abort();
	login->protocol = set->protocol;
	login->starttls = set->starttls;
	login->state = STATE_GREETING;
	login->out_size = out_size;
	login->user_len = user_len;
	login->password_len = password_len;
	memcpy(login->user, set->user, user_len);
	memcpy(login->password, set->password, password_len);
	*login_r = login;
	return 0;
}

void migrate_legacy_login_free(struct migrate_legacy_login **_login)
{
	struct migrate_legacy_login *login = *_login;

	if (login == NULL)
		return;
	*_login = NULL;
	explicit_bzero(login, sizeof(*login) + login->out_size);
	free(login);
}

static void out_add(struct migrate_legacy_login *login, const void *data,
		    size_t len)
{
	/* out_size covers the whole dialogue; running out is a bug */
	if (len > login->out_size - login->out_len)
		abort();
	memcpy(login->out + login->out_len, data, len);
	login->out_len += len;
}

static void out_str(struct migrate_legacy_login *login, const char *str)
{
	out_add(login, str, strlen(str));
}

static void out_wipe(struct migrate_legacy_login *login)
{
	explicit_bzero(login->out, login->out_len);
	login->out_len = 0;
}

/* Removes every occurrence of the password, also those that only appear
   once an inner one is gone ("pa" "password" "ssword"): a stack that
   drops the password whenever its top spells it. */
static size_t strip_password(const struct migrate_legacy_login *login,
			     char *buf, size_t len)
{
	size_t i, n = 0, plen = login->password_len;

	if (plen == 0)
		return len;
	for (i = 0; i < len; i++) {
		buf[n++] = buf[i];
		if (n >= plen && buf[n - 1] == login->password[plen - 1] &&
		    memcmp(buf + n - plen, login->password, plen) == 0)
			n -= plen;
	}
	return n;
}

/* The reason is prefix + text, stripped of the password before it is cut
   (so no piece of it survives at the cut) and again after non-printable
   bytes became '?' (a password may contain '?'). */
static void set_reason(struct migrate_legacy_login *login, const char *prefix,
		       const char *text, size_t len)
{
	char buf[REASON_PREFIX_MAX + MIGRATE_LEGACY_LINE_MAX];
	size_t i, n = strnlen(prefix, REASON_PREFIX_MAX);

	if (len > MIGRATE_LEGACY_LINE_MAX)
		len = MIGRATE_LEGACY_LINE_MAX;
	memcpy(buf, prefix, n);
	memcpy(buf + n, text, len);
	n = strip_password(login, buf, n + len);
	for (i = 0; i < n; i++) {
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e)
			buf[i] = '?';
	}
	n = strip_password(login, buf, n);
	if (n > MIGRATE_LEGACY_REASON_MAX)
		n = MIGRATE_LEGACY_REASON_MAX;
	memcpy(login->reason, buf, n);
	login->reason[n] = '\0';
	explicit_bzero(buf, sizeof(buf));
}

static void finish(struct migrate_legacy_login *login,
		   enum migrate_legacy_result result, const char *prefix,
		   const char *text, size_t len)
{
	char cmd[32];

	set_reason(login, prefix, text, len);
	/* unsent bytes (a LOGIN the server answered before it was sent, or
	   anything after an abort) are no use any more */
	out_wipe(login);
	explicit_bzero(login->user, sizeof(login->user));
	explicit_bzero(login->password, sizeof(login->password));
	login->user_len = login->password_len = 0;
	login->result = result;
	login->state = STATE_DONE;
	if (result != MIGRATE_LEGACY_OK)
		return;
	if (login->protocol == MIGRATE_PROTOCOL_IMAP) {
		snprintf(cmd, sizeof(cmd), "A%u LOGOUT\r\n", ++login->tag);
		out_str(login, cmd);
	} else {
		out_str(login, "QUIT\r\n");
	}
}

static void unexpected(struct migrate_legacy_login *login, const char *line,
		       size_t len)
{
	const char *prefix = login->state == STATE_GREETING ?
		"unexpected greeting from legacy server: " :
		"unexpected line from legacy server: ";

	finish(login, MIGRATE_LEGACY_TEMPFAIL, prefix, line, len);
}

static char ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static bool ascii_eq(const char *a, const char *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (ascii_upper(a[i]) != ascii_upper(b[i]))
			return false;
	}
	return true;
}

/* Does line start with word (ASCII case-insensitively) followed by a
   space or its end? Returns the length to skip (the space included),
   0 when it does not. */
static size_t keyword(const char *line, size_t len, const char *word)
{
	size_t wlen = strlen(word);

	if (len < wlen || !ascii_eq(line, word, wlen))
		return 0;
	if (len == wlen)
		return wlen;
	return line[wlen] == ' ' ? wlen + 1 : 0;
}

/* Is text's response code ("[CODE ...]") code? With hierarchical (POP3,
   RFC 2449) "CODE/SUB" counts as CODE. An unterminated code is no code
   this matches. */
static bool code_is(const char *text, size_t len, const char *code,
		    bool hierarchical)
{
	size_t clen = strlen(code);

	if (len < clen + 2 || text[0] != '[' || !ascii_eq(text + 1, code, clen))
		return false;
	text += 1 + clen;
	len -= 1 + clen;
	if (text[0] == ' ' || (hierarchical && text[0] == '/'))
		return memchr(text, ']', len) != NULL;
	return text[0] == ']';
}

static bool quotable(const char *value, size_t len)
{
	size_t i;

	/* RFC 3501 allows controls in quoted strings, servers often do not;
	   a literal is always right */
	for (i = 0; i < len; i++) {
		if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] > 0x7e)
			return false;
	}
	return true;
}

/* Continues the LOGIN command from argument arg (0 user, 1 password),
   up to the next literal's announcement or the end. */
static void imap_login_args(struct migrate_legacy_login *login, unsigned int arg)
{
	char literal[32];

	for (; arg < 2; arg++) {
		const char *value = arg == 0 ? login->user : login->password;
		size_t i, len = arg == 0 ? login->user_len : login->password_len;

		if (!quotable(value, len)) {
			snprintf(literal, sizeof(literal), " {%zu}\r\n", len);
			out_str(login, literal);
			login->literal_arg = arg;
			login->state = STATE_LITERAL;
			return;
		}
		out_str(login, " \"");
		for (i = 0; i < len; i++) {
			if (value[i] == '"' || value[i] == '\\')
				out_add(login, "\\", 1);
			out_add(login, &value[i], 1);
		}
		out_str(login, "\"");
	}
	out_str(login, "\r\n");
	login->state = STATE_LOGIN;
}

static void imap_send(struct migrate_legacy_login *login, const char *command)
{
	char cmd[32];

	snprintf(cmd, sizeof(cmd), "A%u %s", ++login->tag, command);
	out_str(login, cmd);
}

static void imap_start_login(struct migrate_legacy_login *login)
{
	imap_send(login, "LOGIN");
	imap_login_args(login, 0);
}

static void imap_continuation(struct migrate_legacy_login *login,
			      const char *line, size_t len)
{
	unsigned int arg = login->literal_arg;

	if (login->state != STATE_LITERAL)
		unexpected(login, line, len);
	else {
		out_add(login, arg == 0 ? login->user : login->password,
			arg == 0 ? login->user_len : login->password_len);
		imap_login_args(login, arg + 1);
	}
}

/* The tagged answer to LOGIN; text follows the tag. */
static void imap_login_answer(struct migrate_legacy_login *login,
			      const char *line, size_t len, const char *text,
			      size_t text_len)
{
	size_t n = keyword(text, text_len, "NO");
	bool mismatch;

	if (keyword(text, text_len, "OK") > 0)
		finish(login, MIGRATE_LEGACY_OK, ANSWERED, text, text_len);
	else if (keyword(text, text_len, "BAD") > 0)
		finish(login, MIGRATE_LEGACY_TEMPFAIL, ANSWERED, text, text_len);
	else if (n == 0)
		unexpected(login, line, len);
	else {
		text += n;
		text_len -= n;
		mismatch = text_len == 0 || text[0] != '[' ||
			code_is(text, text_len, "AUTHENTICATIONFAILED", false) ||
			code_is(text, text_len, "AUTHORIZATIONFAILED", false) ||
			code_is(text, text_len, "EXPIRED", false);
		finish(login, mismatch ? MIGRATE_LEGACY_MISMATCH : MIGRATE_LEGACY_TEMPFAIL,
		       ANSWERED, text - n, text_len + n);
	}
}

static void imap_tagged(struct migrate_legacy_login *login, const char *line,
			size_t len)
{
	char tag[16];
	const char *text;
	size_t n, text_len;

	n = (size_t)snprintf(tag, sizeof(tag), "A%u ", login->tag);
	if (len < n || memcmp(line, tag, n) != 0) {
		unexpected(login, line, len);
		return;
	}
	text = line + n;
	text_len = len - n;
	if (login->state == STATE_STARTTLS && keyword(text, text_len, "OK") > 0)
		login->state = STATE_TLS;
	else if (login->state == STATE_STARTTLS) {
		finish(login, MIGRATE_LEGACY_TEMPFAIL, "legacy server refused STARTTLS: ",
		       text, text_len);
	} else if (login->state == STATE_LITERAL) {
		/* the password was not sent, so not checked either */
		finish(login, MIGRATE_LEGACY_TEMPFAIL,
		       "legacy server answered before the LOGIN literal: ", text, text_len);
	} else {
		imap_login_answer(login, line, len, text, text_len);
	}
}

static void imap_input(struct migrate_legacy_login *login, const char *line,
		       size_t len)
{
	size_t n;

	if (login->state == STATE_GREETING) {
		if (keyword(line, len, "* OK") == 0)
			unexpected(login, line, len);
		else if (login->starttls) {
			imap_send(login, "STARTTLS\r\n");
			login->state = STATE_STARTTLS;
		} else {
			imap_start_login(login);
		}
	} else if (len > 0 && line[0] == '+' && (len == 1 || line[1] == ' ')) {
		imap_continuation(login, line, len);
	} else if ((n = keyword(line, len, "*")) > 0 && n < len) {
		/* CAPABILITY, OK [ALERT], ... carry nothing we need */
		if (keyword(line + n, len - n, "BYE") > 0) {
			finish(login, MIGRATE_LEGACY_TEMPFAIL, ANSWERED, line, len);
		}
	} else {
		imap_tagged(login, line, len);
	}
}

static void pop3_send_user(struct migrate_legacy_login *login)
{
	out_str(login, "USER ");
	out_add(login, login->user, login->user_len);
	out_str(login, "\r\n");
	login->state = STATE_USER;
}

static void pop3_error(struct migrate_legacy_login *login, const char *line,
		       size_t len, size_t n)
{
	enum migrate_legacy_result result = MIGRATE_LEGACY_TEMPFAIL;

	if (n == len || line[n] != '[' || code_is(line + n, len - n, "AUTH", true))
		result = MIGRATE_LEGACY_MISMATCH;
	else if (login->state == STATE_LOGIN && code_is(line + n, len - n, "IN-USE", true))
		result = MIGRATE_LEGACY_OK;
	finish(login, result, ANSWERED, line, len);
}

static void pop3_input(struct migrate_legacy_login *login, const char *line,
		       size_t len)
{
	size_t ok = keyword(line, len, "+OK"), err = keyword(line, len, "-ERR");

	if (ok == 0 && err == 0) {
		unexpected(login, line, len);
		return;
	}
	switch (login->state) {
	case STATE_GREETING:
		if (err > 0)
			unexpected(login, line, len);
		else if (login->starttls) {
			out_str(login, "STLS\r\n");
			login->state = STATE_STARTTLS;
		} else {
			pop3_send_user(login);
		}
		break;
	case STATE_STARTTLS:
		if (ok > 0)
			login->state = STATE_TLS;
		else
			finish(login, MIGRATE_LEGACY_TEMPFAIL, "legacy server refused STLS: ",
			       line, len);
		break;
	case STATE_USER:
		if (err > 0) {
			pop3_error(login, line, len, err);
			break;
		}
		out_str(login, "PASS ");
		out_add(login, login->password, login->password_len);
		out_str(login, "\r\n");
		login->state = STATE_LOGIN;
		break;
	case STATE_LOGIN:
		if (err > 0)
			pop3_error(login, line, len, err);
		else
			finish(login, MIGRATE_LEGACY_OK, ANSWERED, line, len);
		break;
	default:
		unexpected(login, line, len);
		break;
	}
}

static enum migrate_legacy_action next_action(const struct migrate_legacy_login *login)
{
	if (login->state == STATE_DONE)
		return MIGRATE_LEGACY_ACTION_DONE;
	if (login->state == STATE_TLS)
		return MIGRATE_LEGACY_ACTION_START_TLS;
	return MIGRATE_LEGACY_ACTION_READ;
}

enum migrate_legacy_action
migrate_legacy_login_input(struct migrate_legacy_login *login,
			   const char *line, size_t len)
{
	if (login->state == STATE_DONE)
		return MIGRATE_LEGACY_ACTION_DONE;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > MIGRATE_LEGACY_LINE_MAX) {
		migrate_legacy_login_abort(login, "legacy server sent an overlong line");
	} else if (login->state == STATE_TLS) {
		/* plaintext after the STARTTLS answer may be injected; it must
		   never be read as part of the protected dialogue */
		unexpected(login, line, len);
	} else if (login->protocol == MIGRATE_PROTOCOL_IMAP) {
		imap_input(login, line, len);
	} else {
		pop3_input(login, line, len);
	}
	return next_action(login);
}

enum migrate_legacy_action
migrate_legacy_login_tls_started(struct migrate_legacy_login *login)
{
	if (login->state == STATE_DONE)
		return MIGRATE_LEGACY_ACTION_DONE;
	if (login->state != STATE_TLS)
		migrate_legacy_login_abort(login, "TLS started without STARTTLS");
	else if (login->protocol == MIGRATE_PROTOCOL_IMAP)
		imap_start_login(login);
	else
		pop3_send_user(login);
	return next_action(login);
}

void migrate_legacy_login_abort(struct migrate_legacy_login *login,
				const char *reason)
{
	if (login->state == STATE_DONE)
		return;
	if (reason == NULL)
		reason = "aborted";
	finish(login, MIGRATE_LEGACY_TEMPFAIL, "", reason,
	       strnlen(reason, MIGRATE_LEGACY_LINE_MAX));
}

const unsigned char *
migrate_legacy_login_output(struct migrate_legacy_login *login, size_t *len_r)
{
	*len_r = login->out_len;
	return login->out;
}

void migrate_legacy_login_output_sent(struct migrate_legacy_login *login)
{
	out_wipe(login);
}

enum migrate_legacy_result
migrate_legacy_login_result(const struct migrate_legacy_login *login,
			    const char **reason_r)
{
	if (reason_r != NULL)
		*reason_r = login->reason;
	return login->result;
}

const char *migrate_legacy_result_name(enum migrate_legacy_result result)
{
	static const char *const names[] = {
		[MIGRATE_LEGACY_PENDING] = "pending",
		[MIGRATE_LEGACY_OK] = "ok",
		[MIGRATE_LEGACY_MISMATCH] = "mismatch",
		[MIGRATE_LEGACY_TEMPFAIL] = "tempfail",
	};

	if ((unsigned int)result >= sizeof(names) / sizeof(names[0]))
		return "invalid";
	return names[result];
}
