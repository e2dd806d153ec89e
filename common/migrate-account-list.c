/* Account list parser (see migrate-account-list.h). Plain C: every field
   is bounded, every byte checked, no allocation. */

#include "migrate-account-list.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CSV_COLUMNS 9
#define CSV_HEADER "username,"

struct field {
	const char *s;
	size_t len;
};

static int list_error(const struct migrate_account_list *list, char *error,
		      size_t error_size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int list_error(const struct migrate_account_list *list, char *error,
		      size_t error_size, const char *fmt, ...)
{
	va_list args;
	int n = snprintf(error, error_size, "line %u: ", list->line);

	va_start(args, fmt);
	if (n > 0 && (size_t)n < error_size)
		vsnprintf(error + n, error_size - (size_t)n, fmt, args);
	va_end(args);
	return -1;
}

static struct field trim(struct field f)
{
	while (f.len > 0 && (f.s[0] == ' ' || f.s[0] == '\t')) {
		f.s++;
		f.len--;
	}
	while (f.len > 0 && (f.s[f.len - 1] == ' ' || f.s[f.len - 1] == '\t'))
		f.len--;
	return f;
}

static bool has_control(struct field f)
{
	size_t i;

	for (i = 0; i < f.len; i++) {
		if ((unsigned char)f.s[i] < 0x20 || f.s[i] == 0x7f)
			return true;
	}
	return false;
}

/* Copies a name field (user, domain): bounded, no control characters, no
   space inside. */
static int copy_name(const struct migrate_account_list *list, const char *what,
		     struct field f, char *out, size_t max,
		     char *error, size_t error_size)
{
	f = trim(f);
	if (f.len == 0)
		return list_error(list, error, error_size, "empty %s", what);
	if (f.len > max) {
		return list_error(list, error, error_size, "%s longer than %zu bytes",
				  what, max);
	}
	if (has_control(f) || memchr(f.s, ' ', f.len) != NULL ||
	    memchr(f.s, '\t', f.len) != NULL) {
		return list_error(list, error, error_size,
				  "%s holds a space or a control character", what);
	}
	memcpy(out, f.s, f.len);
	out[f.len] = '\0';
	return 0;
}

static int copy_password(const struct migrate_account_list *list, struct field f,
			 char *out, char *error, size_t error_size)
{
	if (f.len == 0)
		return list_error(list, error, error_size, "empty password");
	if (f.len > MIGRATE_ACCOUNT_LIST_PASSWORD_MAX) {
		return list_error(list, error, error_size,
				  "password longer than %d bytes",
				  MIGRATE_ACCOUNT_LIST_PASSWORD_MAX);
	}
	if (has_control(f)) {
		return list_error(list, error, error_size,
				  "password holds a control character");
	}
	memcpy(out, f.s, f.len);
	out[f.len] = '\0';
	return 0;
}

/* "user@a" with a domain field "b": which one is meant? */
static int check_user_domain(const struct migrate_account_list *list,
			     const struct migrate_account_list_entry *e,
			     char *error, size_t error_size)
{
	const char *at = strrchr(e->user, '@');

	if (at == NULL || e->domain[0] == '\0' || strcasecmp(at + 1, e->domain) == 0)
		return 0;
	return list_error(list, error, error_size,
			  "user '%s' and domain '%s' disagree", e->user, e->domain);
}

static int parse_colon_line(const struct migrate_account_list *list,
			    struct field line,
			    struct migrate_account_list_entry *e,
			    char *error, size_t error_size)
{
	const char *first = memchr(line.s, ':', line.len), *last;
	struct field user, password;

	if (first == NULL) {
		return list_error(list, error, error_size, "no password "
				  "(expected user:password or user:password:domain)");
	}
	user.s = line.s;
	user.len = (size_t)(first - line.s);
	password.s = first + 1;
	password.len = line.len - user.len - 1;
	for (last = password.s + password.len; last > password.s; last--) {
		if (last[-1] == ':')
			break;
	}
	if (last > password.s) {
		last--;
		struct field domain = { last + 1, (size_t)(line.s + line.len - last - 1) };

		password.len = (size_t)(last - password.s);
		if (copy_name(list, "domain", domain, e->domain,
			      MIGRATE_ACCOUNT_DOMAIN_MAX, error, error_size) < 0)
			return -1;
	}
	if (copy_name(list, "user", user, e->user, MIGRATE_ACCOUNT_ADDRESS_MAX,
		      error, error_size) < 0 ||
	    copy_password(list, password, e->password, error, error_size) < 0)
		return -1;
	return check_user_domain(list, e, error, error_size);
}

/* Splits a CSV line (RFC 4180 quoting within one line). Quoted fields
   point into unquote, with "" turned into ". -1 on a stray quote. */
static int csv_split(struct field line, struct field fields[CSV_COLUMNS + 1],
		     unsigned int *count_r, char *unquote)
{
	unsigned int n = 0;
	size_t i = 0, u = 0;

	for (;;) {
		struct field *f = &fields[n < CSV_COLUMNS ? n : CSV_COLUMNS];

		if (i < line.len && line.s[i] == '"') {
			f->s = unquote + u;
			for (i++;; i++) {
				if (i == line.len)
					return -1;
				if (line.s[i] == '"') {
					if (i + 1 < line.len && line.s[i + 1] == '"')
						i++;
					else
						break;
				}
				unquote[u++] = line.s[i];
			}
			f->len = (size_t)(unquote + u - f->s);
			i++;
			if (i < line.len && line.s[i] != ',')
				return -1;
		} else {
			const char *comma = memchr(line.s + i, ',', line.len - i);
			size_t end = comma == NULL ? line.len : (size_t)(comma - line.s);

			if (memchr(line.s + i, '"', end - i) != NULL)
				return -1;
			f->s = line.s + i;
			f->len = end - i;
			i = end;
		}
		n++;
		if (i >= line.len)
			break;
		i++; /* the comma */
	}
	*count_r = n;
	return 0;
}

static int parse_quota(const struct migrate_account_list *list, struct field f,
		       uint64_t *kbytes_r, char *error, size_t error_size)
{
	uint64_t whole = 0, frac = 0, scale = 1;
	size_t i = 0;

	f = trim(f);
	for (; i < f.len && f.s[i] >= '0' && f.s[i] <= '9' && i < 8; i++)
		whole = whole * 10 + (uint64_t)(f.s[i] - '0');
	if (i < f.len && f.s[i] == '.' && i > 0) {
		for (i++; i < f.len && f.s[i] >= '0' && f.s[i] <= '9' && scale < 1000; i++) {
			frac = frac * 10 + (uint64_t)(f.s[i] - '0');
			scale *= 10;
		}
	}
	if (f.len > 0 && (i < f.len || whole > MIGRATE_ACCOUNT_LIST_QUOTA_GB_MAX)) {
		return list_error(list, error, error_size, "quota_gb '%.*s' is not "
				  "a number of GB (0-%d, up to 3 decimals)",
				  (int)(f.len > 32 ? 32 : f.len), f.s,
				  MIGRATE_ACCOUNT_LIST_QUOTA_GB_MAX);
	}
	*kbytes_r = whole * 1024 * 1024 + frac * 1024 * 1024 / scale;
	return 0;
}

static int check_full_name(const struct migrate_account_list *list,
			   struct field f, char *out,
			   char *error, size_t error_size)
{
	size_t i;

	f = trim(f);
	if (f.len > MIGRATE_ACCOUNT_LIST_NAME_MAX) {
		return list_error(list, error, error_size, "full name longer "
				  "than %d bytes", MIGRATE_ACCOUNT_LIST_NAME_MAX);
	}
	for (i = 0; i < f.len; i++) {
		unsigned char c = (unsigned char)f.s[i];

		/* letters (any script), digits, space, apostrophe, dot, @ and
		   hyphen, as the template asks */
		if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(" '.@-", c) != NULL)
			continue;
		return list_error(list, error, error_size, "full name holds '%c' "
				  "(letters, digits, spaces and ' . @ - only)",
				  c < 0x20 || c == 0x7f ? '?' : c);
	}
	memcpy(out, f.s, f.len);
	out[f.len] = '\0';
	return 0;
}

static int parse_csv_line(const struct migrate_account_list *list,
			  struct field line, struct migrate_account_list_entry *e,
			  char *error, size_t error_size)
{
	char unquote[MIGRATE_ACCOUNT_LIST_LINE_MAX];
	struct field f[CSV_COLUMNS + 1], type;
	unsigned int count;
	size_t used;
	int n;

	if (csv_split(line, f, &count, unquote) < 0)
		return list_error(list, error, error_size, "unbalanced quotes");
	if (count != CSV_COLUMNS) {
		return list_error(list, error, error_size, "%u fields, the CSV "
			"template has %d (username,domain,password,quota_gb,type,"
			"full name,language,timezone,date format)", count, CSV_COLUMNS);
	}
	e->csv = true;
	if (copy_name(list, "username", f[0], e->user, MIGRATE_ACCOUNT_ADDRESS_MAX,
		      error, error_size) < 0 ||
	    copy_name(list, "domain", f[1], e->domain, MIGRATE_ACCOUNT_DOMAIN_MAX,
		      error, error_size) < 0 ||
	    copy_password(list, f[2], e->password, error, error_size) < 0 ||
	    parse_quota(list, f[3], &e->quota_kbytes, error, error_size) < 0 ||
	    check_full_name(list, f[5], e->full_name, error, error_size) < 0)
		return -1;
	if (strchr(e->user, '@') != NULL) {
		return list_error(list, error, error_size, "username '%s': the "
				  "template wants the part before the @", e->user);
	}
	type = trim(f[4]);
	if (type.len > 1 || (type.len == 1 && type.s[0] != '0' && type.s[0] != '1'))
		return list_error(list, error, error_size, "type must be 0 or 1");
	if (has_control(f[6]) || has_control(f[7]) || has_control(f[8]))
		return list_error(list, error, error_size, "control character in a field");
	used = strlen(e->user);
	n = snprintf(e->user + used, sizeof(e->user) - used, "@%s", e->domain);
	if (n < 0 || (size_t)n >= sizeof(e->user) - used) {
		return list_error(list, error, error_size, "address longer than "
				  "%d bytes", MIGRATE_ACCOUNT_ADDRESS_MAX);
	}
	return 0;
}

static bool is_csv_header(struct field line)
{
	return line.len >= strlen(CSV_HEADER) &&
		strncasecmp(line.s, CSV_HEADER, strlen(CSV_HEADER)) == 0;
}

/* The next line (without its end of line) and whether it was too long. */
static bool next_line(struct migrate_account_list *list, struct field *line_r,
		      bool *too_long_r)
{
	const char *start, *nl;
	size_t len;

	if (list->pos >= list->size)
		return false;
	start = list->data + list->pos;
	nl = memchr(start, '\n', list->size - list->pos);
	len = nl == NULL ? list->size - list->pos : (size_t)(nl - start);
	list->pos += len + (nl == NULL ? 0 : 1);
	list->line++;
	if (len > 0 && start[len - 1] == '\r')
		len--;
	line_r->s = start;
	line_r->len = len;
	*too_long_r = len > MIGRATE_ACCOUNT_LIST_LINE_MAX;
	return true;
}

void migrate_account_list_init(struct migrate_account_list *list,
			       const char *data, size_t size, bool csv)
{
	memset(list, 0, sizeof(*list));
	list->data = data;
	list->size = size;
	list->csv = csv;
}

int migrate_account_list_next(struct migrate_account_list *list,
			      struct migrate_account_list_entry *entry_r,
			      char *error, size_t error_size)
{
	struct field line;
	bool too_long, first;

	for (;;) {
		if (!next_line(list, &line, &too_long))
			return 0;
		memset(entry_r, 0, sizeof(*entry_r));
		entry_r->line = list->line;
		if (too_long) {
			return list_error(list, error, error_size, "longer than %d "
					  "bytes", MIGRATE_ACCOUNT_LIST_LINE_MAX);
		}
		if (memchr(line.s, '\0', line.len) != NULL)
			return list_error(list, error, error_size, "NUL byte");
		first = !list->started;
		if (trim(line).len == 0 || trim(line).s[0] == '#')
			continue;
		list->started = true;
		if (first && is_csv_header(line)) {
			list->csv = true;
			continue;
		}
		return (list->csv ? parse_csv_line(list, line, entry_r, error, error_size) :
			parse_colon_line(list, line, entry_r, error, error_size)) < 0 ? -1 : 1;
	}
}
