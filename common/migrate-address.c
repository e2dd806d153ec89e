/* Address normalisation (see migrate-address.h for the rules). Plain C,
   no Dovecot dependency: the Postfix-side daemon calls it once per lookup,
   so the ASCII path does no allocation and touches each byte a few times.
   Input is hostile: every byte is checked, and error messages echo at
   most one printable ASCII character of it (they end up in logs). */

#include "migrate-address.h"

#include <idn2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LOCAL_MAX MIGRATE_ADDRESS_LOCAL_MAX
#define DOMAIN_MAX MIGRATE_ADDRESS_DOMAIN_MAX
#define LABEL_MAX 63
/* RFC 5321 4.5.3.1.2; also bounds what libidn2 is given */
#define DOMAIN_INPUT_MAX 255

/* The local part in its internal (unquoted) form. */
struct local_part {
	char content[LOCAL_MAX + 1];
	size_t len;
};

static int fail(char *error, size_t error_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *error, size_t error_size, const char *fmt, ...)
{
	va_list args;

	if (error_size > 0) {
		va_start(args, fmt);
		vsnprintf(error, error_size, fmt, args);
		va_end(args);
	}
	return -1;
}

/* Locale-independent: a Latin-1 locale's tolower() would change UTF-8
   bytes. */
static inline char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

static inline bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9');
}

static inline bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static inline bool is_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* RFC 5322 atext (ASCII part; RFC 6531 adds all non-ASCII UTF-8) */
static bool is_atext(unsigned char c)
{
	if (is_alnum(c))
		return true;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '/': case '=': case '?':
	case '^': case '_': case '`': case '{': case '|': case '}':
	case '~':
		return true;
	}
	return false;
}

static bool ascii_equal_nocase(const char *s, size_t len, const char *lower)
{
	size_t i;

	if (strlen(lower) != len)
		return false;
	for (i = 0; i < len; i++) {
		if (ascii_lower(s[i]) != lower[i])
			return false;
	}
	return true;
}

/* Length of the UTF-8 sequence at p, whose first byte is >= 0x80, or 0
   with *reason_r. The byte ranges are RFC 3629's, which leave out
   overlong forms, surrogates and code points past U+10FFFF. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end,
			    const char **reason_r)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c < 0xc0) {
		*reason_r = "unexpected continuation byte";
		return 0;
	}
	if (c < 0xc2) {
		*reason_r = "overlong encoding";
		return 0;
	}
	if (c < 0xe0)
		len = 2;
	else if (c < 0xf0) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c < 0xf5) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		*reason_r = c < 0xf8 ? "code point beyond U+10FFFF" :
			"invalid byte";
		return 0;
	}
	for (i = 1; i < len; i++) {
		if (p + i >= end || p[i] < 0x80 || p[i] > 0xbf) {
			*reason_r = "truncated sequence";
			return 0;
		}
	}
	if (p[1] < lo) {
		*reason_r = "overlong encoding";
		return 0;
	}
	if (p[1] > hi) {
		*reason_r = c == 0xed ? "UTF-16 surrogate" :
			"code point beyond U+10FFFF";
		return 0;
	}
	return len;
}

/* Checks the non-ASCII character at in[*i] and moves past it. */
static int skip_utf8(const char *in, size_t len, size_t *i, const char *where,
		     char *error, size_t error_size)
{
	const unsigned char *p = (const unsigned char *)in + *i;
	const char *reason;
	size_t n = utf8_sequence(p, (const unsigned char *)in + len, &reason);

	if (n == 0)
		return fail(error, error_size, "invalid UTF-8 in %s: %s", where, reason);
	if (p[0] == 0xc2 && p[1] < 0xa0)
		return fail(error, error_size, "control character in %s", where);
	*i += n;
	return 0;
}

static int bad_char(unsigned char c, const char *where,
		    char *error, size_t error_size)
{
	if (c == '\0')
		return fail(error, error_size, "NUL byte in %s", where);
	if (is_control(c))
		return fail(error, error_size, "control character in %s", where);
	return fail(error, error_size, "invalid character '%c' in %s", c, where);
}

/* ---- domain ---- */

static int check_ldh_label(const char *label, size_t len,
			   char *error, size_t error_size)
{
	size_t i;

	if (len == 0)
		return fail(error, error_size, "empty label in domain");
	if (len > LABEL_MAX) {
		return fail(error, error_size,
			    "domain label longer than %d octets", LABEL_MAX);
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)label[i];

		if (!is_alnum(c) && c != '-') {
			if (c >= 0x20 && c < 0x7f)
				return bad_char(c, "domain", error, error_size);
			return fail(error, error_size,
				    "invalid character 0x%02x in domain", c);
		}
	}
	if (label[0] == '-' || label[len - 1] == '-')
		return fail(error, error_size,
			    "domain label starts or ends with a hyphen");
	return 0;
}

/* An A-label must decode and encode back to itself. IDNA2008 first;
   IDNA2003 (transitional) validity is enough too, since nothing gets
   remapped when the name is already in ACE form: this keeps the
   IDNA2003-era names that still resolve. */
static int check_alabel(const char *label, char *error, size_t error_size)
{
	static const int flags[] = { IDN2_NONTRANSITIONAL, IDN2_TRANSITIONAL };
	int first_ret = IDN2_OK;
	unsigned int i;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		char *ace = NULL;
		int ret = idn2_to_ascii_8z(label, &ace, flags[i]);
		bool same = ret == IDN2_OK && strcmp(ace, label) == 0;

		idn2_free(ace);
		if (same)
			return 0;
		if (i == 0)
			first_ret = ret;
	}
	return fail(error, error_size, "invalid A-label in domain: %s",
		    first_ret != IDN2_OK ? idn2_strerror(first_ret) :
		    "does not round-trip");
}

static int append(char *out, size_t *out_len, const char *s, size_t len,
		  char *error, size_t error_size)
{
	if (*out_len + len > DOMAIN_MAX) {
		return fail(error, error_size, "domain longer than %d octets",
			    DOMAIN_MAX);
	}
	memcpy(out + *out_len, s, len);
	*out_len += len;
	out[*out_len] = '\0';
	return 0;
}

static int add_ascii_label(const char *in, size_t len, char *out,
			   size_t *out_len, char *error, size_t error_size)
{
	char label[LABEL_MAX + 1];
	size_t i;

	if (check_ldh_label(in, len, error, error_size) < 0)
		return -1;
	for (i = 0; i < len; i++)
		label[i] = ascii_lower(in[i]);
	label[len] = '\0';
	if (len >= 4 && memcmp(label, "xn--", 4) == 0 &&
	    check_alabel(label, error, error_size) < 0)
		return -1;
	return append(out, out_len, label, len, error, error_size);
}

/* Appends libidn2's output, checking each of its labels. */
static int append_ace(char *out, size_t *out_len, const char *ace,
		      char *error, size_t error_size)
{
	const char *dot;
	size_t len;

	for (;;) {
		dot = strchr(ace, '.');
		len = dot == NULL ? strlen(ace) : (size_t)(dot - ace);
		if (check_ldh_label(ace, len, error, error_size) < 0 ||
		    append(out, out_len, ace, len, error, error_size) < 0)
			return -1;
		if (dot == NULL)
			return 0;
		if (append(out, out_len, ".", 1, error, error_size) < 0)
			return -1;
		ace = dot + 1;
	}
}

/* A UTF-8 label to ACE: IDNA2008 + UTS #46 non-transitional only (see
   the header for why no transitional fallback). The result may hold
   several labels: UTS #46 maps U+3002 and its kin to '.'. */
static int add_utf8_label(const char *in, size_t len, char *out,
			  size_t *out_len, char *error, size_t error_size)
{
	char label[DOMAIN_INPUT_MAX + 1], *ace = NULL;
	int ret;

	memcpy(label, in, len);
	label[len] = '\0';
	ret = idn2_to_ascii_8z(label, &ace, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (ret != IDN2_OK) {
		return fail(error, error_size,
			    "invalid international domain name: %s",
			    idn2_strerror(ret));
	}
	ret = append_ace(out, out_len, ace, error, error_size);
	idn2_free(ace);
	return ret;
}

/* Checks the bytes of one label; *utf8_r tells whether it has non-ASCII
   characters. */
static int scan_label(const char *in, size_t len, bool *utf8_r,
		      char *error, size_t error_size)
{
	size_t i = 0;

	*utf8_r = false;
	while (i < len) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x80) {
			if (skip_utf8(in, len, &i, "domain", error, error_size) < 0)
				return -1;
			*utf8_r = true;
		} else if (c == '\0' || is_control(c)) {
			return bad_char(c, "domain", error, error_size);
		} else {
			i++;
		}
	}
	return 0;
}

static int check_last_label(const char *out, size_t out_len,
			    char *error, size_t error_size)
{
	const char *last = out + out_len, *p;

	while (last > out && last[-1] != '.')
		last--;
	for (p = last; p < out + out_len; p++) {
		if (*p < '0' || *p > '9')
			return 0;
	}
	return fail(error, error_size, "last label of domain is all-numeric");
}

/* in[0..len) to lower-case ASCII in out (DOMAIN_MAX + 1 bytes). */
static int domain_normalize(const char *in, size_t len, char *out,
			    char *error, size_t error_size)
{
	size_t out_len = 0, label_len;
	const char *end, *dot;
	bool utf8;

	out[0] = '\0';
	if (len == 0)
		return fail(error, error_size, "empty domain");
	if (in[0] == '[')
		return fail(error, error_size, "address literals are not supported");
	if (len > DOMAIN_INPUT_MAX) {
		return fail(error, error_size, "domain longer than %d octets as written",
			    DOMAIN_INPUT_MAX);
	}
	if (in[len - 1] == '.' && --len == 0)
		return fail(error, error_size, "empty domain");
	if (in[0] == '.')
		return fail(error, error_size, "domain starts with a dot");

	for (end = in + len;; in = dot + 1) {
		dot = memchr(in, '.', (size_t)(end - in));
		if (dot == NULL)
			dot = end;
		label_len = (size_t)(dot - in);
		if (label_len == 0)
			return fail(error, error_size, "two consecutive dots in domain");
		if (out_len > 0 && append(out, &out_len, ".", 1, error, error_size) < 0)
			return -1;
		if (scan_label(in, label_len, &utf8, error, error_size) < 0)
			return -1;
		if ((utf8 ? add_utf8_label : add_ascii_label)(in, label_len, out,
				&out_len, error, error_size) < 0)
			return -1;
		if (dot == end)
			break;
	}
	return check_last_label(out, out_len, error, error_size);
}

int migrate_domain_normalize(const char *input, char *out, size_t out_size,
			     char *error, size_t error_size)
{
	char domain[DOMAIN_MAX + 1];
	size_t len;

	if (out_size > 0)
		out[0] = '\0';
	if (domain_normalize(input, strlen(input), domain, error, error_size) < 0)
		return -1;
	len = strlen(domain);
	if (len >= out_size)
		return fail(error, error_size, "domain does not fit the output buffer");
	memcpy(out, domain, len + 1);
	return 0;
}

/* ---- local part ---- */

static void push(struct local_part *lp, char c)
{
	if (lp->len < LOCAL_MAX)
		lp->content[lp->len] = c;
	lp->len++;
}

/* Copies the UTF-8 character at in[*i] (checked) and moves past it. */
static int push_utf8(const char *in, size_t len, size_t *i, struct local_part *lp,
		     char *error, size_t error_size)
{
	size_t start = *i;

	if (skip_utf8(in, len, i, "local part", error, error_size) < 0)
		return -1;
	for (; start < *i; start++)
		push(lp, in[start]);
	return 0;
}

/* A dot-atom from in[0]; stops at the first '@' (*end_r). */
static int parse_dot_atom(const char *in, size_t len, struct local_part *lp,
			  size_t *end_r, char *error, size_t error_size)
{
	size_t i = 0;

	while (i < len && in[i] != '@') {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x80) {
			if (push_utf8(in, len, &i, lp, error, error_size) < 0)
				return -1;
			continue;
		}
		if (c == '"')
			return fail(error, error_size, "misplaced quote in local part");
		if (!is_atext(c) && c != '.')
			return bad_char(c, "local part", error, error_size);
		push(lp, (char)c);
		i++;
	}
	*end_r = i;
	return 0;
}

/* The dot rules, once the length is known to fit. */
static int check_dots(const struct local_part *lp, char *error, size_t error_size)
{
	if (lp->content[0] == '.')
		return fail(error, error_size, "local part starts with a dot");
	if (lp->content[lp->len - 1] == '.')
		return fail(error, error_size, "local part ends with a dot");
	if (strstr(lp->content, "..") != NULL)
		return fail(error, error_size, "two consecutive dots in local part");
	return 0;
}

/* A quoted string from in[0] == '"'; *end_r is just past the closing
   quote. RFC 5321 quoted-pairSMTP: backslash and an ASCII 32-126. */
static int parse_quoted(const char *in, size_t len, struct local_part *lp,
			size_t *end_r, char *error, size_t error_size)
{
	size_t i = 1;
	unsigned char c;

	for (;;) {
		if (i >= len)
			return fail(error, error_size, "unbalanced quote in local part");
		c = (unsigned char)in[i];
		if (c == '"')
			break;
		if (c == '\\') {
			if (++i >= len)
				return fail(error, error_size, "unbalanced quote in local part");
			c = (unsigned char)in[i];
			if (c >= 0x80) {
				return fail(error, error_size,
					    "backslash before a non-ASCII character in local part");
			}
		}
		if (c >= 0x80) {
			if (push_utf8(in, len, &i, lp, error, error_size) < 0)
				return -1;
			continue;
		}
		if (c == '\0' || is_control(c))
			return bad_char(c, "local part", error, error_size);
		push(lp, (char)c);
		i++;
	}
	*end_r = i + 1;
	return 0;
}

static int parse_local(const char *in, size_t len, struct local_part *lp,
		       size_t *at_r, char *error, size_t error_size)
{
	bool quoted = in[0] == '"';
	size_t end = 0;
	int ret;

	if (quoted)
		ret = parse_quoted(in, len, lp, &end, error, error_size);
	else
		ret = parse_dot_atom(in, len, lp, &end, error, error_size);
	if (ret < 0)
		return -1;
	if (end == len)
		return fail(error, error_size, "missing @domain");
	if (in[end] != '@')
		return fail(error, error_size, "text after quoted local part");
	if (end > LOCAL_MAX) {
		return fail(error, error_size, "local part longer than %d octets",
			    LOCAL_MAX);
	}
	lp->content[lp->len] = '\0';
	if (lp->len == 0)
		return fail(error, error_size, "empty local part");
	if (!quoted && check_dots(lp, error, error_size) < 0)
		return -1;
	*at_r = end;
	return 0;
}

/* Postfix's split_addr(): where the extension's delimiter is, or len. */
static size_t extension_offset(const struct local_part *lp, const char *delims)
{
	const char *s = lp->content;
	size_t i;

	if (delims == NULL || delims[0] == '\0')
		return lp->len;
	if (ascii_equal_nocase(s, lp->len, "postmaster") ||
	    ascii_equal_nocase(s, lp->len, "mailer-daemon") ||
	    ascii_equal_nocase(s, lp->len, "double-bounce"))
		return lp->len;
	if (strchr(delims, '-') != NULL) {
		if (lp->len >= 6 && ascii_equal_nocase(s, 6, "owner-"))
			return lp->len;
		if (lp->len > 8 &&
		    ascii_equal_nocase(s + lp->len - 8, 8, "-request"))
			return lp->len;
	}
	for (i = 0; i < lp->len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x80 && strchr(delims, c) != NULL)
			return i == 0 ? lp->len : i;
	}
	return lp->len;
}

static bool is_dot_atom(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.' ? s[i + 1] == '.' : !(c >= 0x80 || is_atext(c)))
			return false;
	}
	return true;
}

/* The external form of content[0..len): bare when it is a dot-atom,
   else quoted with '"' and '\' escaped. */
static int encode_local(const char *s, size_t len, char *out,
			char *error, size_t error_size)
{
	size_t i, n = 2 + len;

	if (is_dot_atom(s, len)) {
		memcpy(out, s, len);
		out[len] = '\0';
		return 0;
	}
	for (i = 0; i < len; i++)
		n += s[i] == '"' || s[i] == '\\';
	if (n > LOCAL_MAX) {
		return fail(error, error_size,
			    "local part longer than %d octets once quoted", LOCAL_MAX);
	}
	n = 0;
	out[n++] = '"';
	for (i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			out[n++] = '\\';
		out[n++] = s[i];
	}
	out[n++] = '"';
	out[n] = '\0';
	return 0;
}

static void lower_ascii(char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		s[i] = ascii_lower(s[i]);
}

static void clear_address(struct migrate_address *addr)
{
	addr->address[0] = '\0';
	addr->local[0] = '\0';
	addr->extension[0] = '\0';
	addr->domain[0] = '\0';
	addr->utf8_local = false;
}

/* Strips one pair of angle brackets and refuses what never is an
   address: nothing, surrounding white space, source routes. */
static int unwrap(const char **in, size_t *len, char *error, size_t error_size)
{
	const char *s = *in;
	size_t n = *len;

	if (n > 0 && (s[0] == '<' || s[n - 1] == '>')) {
		if (n < 2 || s[0] != '<' || s[n - 1] != '>')
			return fail(error, error_size, "unbalanced angle brackets");
		s++;
		n -= 2;
	}
	if (n == 0)
		return fail(error, error_size, "empty address");
	if (is_space((unsigned char)s[0]) || is_space((unsigned char)s[n - 1]))
		return fail(error, error_size, "leading or trailing white space");
	if (s[0] == '@' && memchr(s, ':', n) != NULL)
		return fail(error, error_size, "source routes are not supported");
	*in = s;
	*len = n;
	return 0;
}

static int split_and_store(struct local_part *lp,
			   const struct migrate_address_settings *set,
			   struct migrate_address *addr,
			   char *error, size_t error_size)
{
	size_t split = extension_offset(lp, set == NULL ? NULL :
					set->recipient_delimiter);
	size_t i, local_len, domain_len;

	/* the extension keeps its case (a folder name, say); RFC 5321
	   4.5.1 makes postmaster case-insensitive whatever the legacy
	   server does with other names */
	if ((set != NULL && set->fold_local_part) ||
	    ascii_equal_nocase(lp->content, split, "postmaster"))
		lower_ascii(lp->content, split);
	if (encode_local(lp->content, split, addr->local, error, error_size) < 0)
		return -1;
	if (split < lp->len) {
		memcpy(addr->extension, lp->content + split + 1, lp->len - split - 1);
		addr->extension[lp->len - split - 1] = '\0';
	}
	for (i = 0; i < split; i++) {
		if ((unsigned char)lp->content[i] >= 0x80)
			addr->utf8_local = true;
	}
	local_len = strlen(addr->local);
	domain_len = strlen(addr->domain);
	memcpy(addr->address, addr->local, local_len);
	addr->address[local_len] = '@';
	memcpy(addr->address + local_len + 1, addr->domain, domain_len + 1);
	return 0;
}

static int normalize(const char *input, size_t input_len,
		     const struct migrate_address_settings *set,
		     struct migrate_address *addr, char *error, size_t error_size)
{
	struct local_part lp;
	size_t at = 0;

	lp.len = 0;
	if (unwrap(&input, &input_len, error, error_size) < 0 ||
	    parse_local(input, input_len, &lp, &at, error, error_size) < 0)
		return -1;
	if (memchr(input + at + 1, '@', input_len - at - 1) != NULL)
		return fail(error, error_size, "more than one unquoted @");
	if (domain_normalize(input + at + 1, input_len - at - 1,
			     addr->domain, error, error_size) < 0)
		return -1;
	return split_and_store(&lp, set, addr, error, error_size);
}

int migrate_address_normalize(const char *input, size_t input_len,
			      const struct migrate_address_settings *set,
			      struct migrate_address *addr_r,
			      char *error, size_t error_size)
{
	clear_address(addr_r);
	if (normalize(input, input_len, set, addr_r, error, error_size) < 0) {
		clear_address(addr_r);
		return -1;
	}
	return 0;
}
