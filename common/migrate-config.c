/* Parser for migrate.conf (see migrate-config.h). Plain C, no Dovecot
   dependency: the Postfix-side daemon links it too. Input is treated as
   hostile: bounded sizes, every value checked, the first error reported
   with file and line. */

#include "migrate-config.h"
#include "migrate-address.h"
#include "migrate-password-policy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum value_type {
	VALUE_STRING,
	VALUE_STRING_OR_EMPTY,
	VALUE_PORT,
	VALUE_COUNT,
	VALUE_NUMBER,
	VALUE_BOOL,
	VALUE_ENUM,
	VALUE_SIZE,
	VALUE_PASSWORD_POLICY,
};

struct key_def {
	const char *name;
	enum value_type type;
	size_t offset;
	const char *const *enum_names; /* VALUE_ENUM: index = enum value */
	unsigned long max;		/* VALUE_COUNT: 1..max, VALUE_NUMBER: 0..max */
};

static const char *const tls_names[] = { "starttls", "tls", "none", NULL };
static const char *const mode_names[] = { "proxy", "refuse", "local", NULL };
static const char *const unknown_names[] = { "relay", "reject", "verify", NULL };
static const char *const cutover_names[] = { "auto", "manual", NULL };
static const char *const alias_names[] = { "no", "envelope", "headers", NULL };
static const char *const special_names[] = { "merge", "keep", NULL };

#define G(name, type) { #name, type, offsetof(struct migrate_config, name), NULL, 0 }
#define GE(name, names) { #name, VALUE_ENUM, offsetof(struct migrate_config, name), names, 0 }
#define GN(name, max) { #name, VALUE_COUNT, offsetof(struct migrate_config, name), NULL, max }
#define GZ(name, max) { #name, VALUE_NUMBER, offsetof(struct migrate_config, name), NULL, max }
static const struct key_def global_keys[] = {
	G(store, VALUE_STRING),
	G(vault_key, VALUE_STRING),
	G(log, VALUE_STRING),
	GE(mode, mode_names),
	GE(unknown_recipients, unknown_names),
	GN(workers, 1024),
	G(policy_listen, VALUE_STRING),
	G(socketmap_listen, VALUE_STRING),
	G(lmtp_transport, VALUE_STRING),
	G(store_user, VALUE_STRING),
	G(store_group, VALUE_STRING),
	G(policyd_user, VALUE_STRING),
	GN(policyd_stats_secs, 86400),
	G(recipient_delimiter, VALUE_STRING_OR_EMPTY),
	GN(legacy_checks_per_user, 100000),
	GN(legacy_checks_per_ip, 100000),
	GN(legacy_failure_cache_secs, 86400),
	GN(legacy_timeout_secs, 600),
	GN(proxy_timeout_secs, 600),
	GN(hash_threads, 256),
	GE(cutover, cutover_names),
	GN(imports_per_legacy_host, 1024),
	GN(cutover_pass_secs, 86400),
	GN(sweep_after_secs, 30 * 86400),
	GN(legacy_slow_secs, 3600),
	GZ(import_stall_secs, 86400),
	GZ(import_prefetch, 1000),
	GZ(resync_secs, 30 * 86400),
	GZ(import_kbytes_per_sec, 10000000),
	G(default_quota, VALUE_SIZE),
	G(password_policy, VALUE_PASSWORD_POLICY),
	GE(learn_aliases, alias_names),
	GE(special_folders, special_names),
	G(metrics_file, VALUE_STRING),
	GZ(archive_over, 100000000),
	GN(archive_keep_days, 36500),
	G(refuse_message, VALUE_STRING),
	G(notice_lmtp, VALUE_STRING),
	G(notice_from, VALUE_STRING),
	G(notice_subject, VALUE_STRING),
	G(notice_file, VALUE_STRING),
	{ NULL, 0, 0, NULL, 0 }
};

#define D(name, type) { #name, type, offsetof(struct migrate_domain, name), NULL, 0 }
static const struct key_def domain_keys[] = {
	D(legacy_host, VALUE_STRING),
	D(imap_port, VALUE_PORT),
	D(pop3_port, VALUE_PORT),
	D(smtp_port, VALUE_PORT),
	{ "tls", VALUE_ENUM, offsetof(struct migrate_domain, tls), tls_names, 0 },
	D(legacy_user, VALUE_STRING),
	D(tls_verify, VALUE_BOOL),
	D(proxy_tls_verify, VALUE_BOOL),
	D(ca_file, VALUE_STRING),
	D(local_ip, VALUE_STRING),
	{ "default", VALUE_BOOL, offsetof(struct migrate_domain, is_default), NULL, 0 },
	D(fold_local_part, VALUE_BOOL),
	D(legacy_master_user, VALUE_STRING),
	D(legacy_master_password_file, VALUE_STRING),
	{ NULL, 0, 0, NULL, 0 }
};

struct parser {
	const char *name;
	unsigned int line;
	char *error;
	size_t error_size;
	struct migrate_config *config;
	struct migrate_domain *domain; /* current section, NULL = global */
	unsigned int domain_alloc;
};

static int parse_error(struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int parse_error(struct parser *p, const char *fmt, ...)
{
	va_list args;
	int n;

	n = snprintf(p->error, p->error_size, "%s:%u: ", p->name, p->line);
	if (n < 0 || (size_t)n >= p->error_size)
		return -1;
	va_start(args, fmt);
	vsnprintf(p->error + n, p->error_size - n, fmt, args);
	va_end(args);
	return -1;
}

static char *xstrdup(const char *s)
{
	char *copy = strdup(s);

	if (copy == NULL)
		abort();
	return copy;
}

static void set_string(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	*end = '\0';
	return s;
}

static bool has_control_chars(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

static int parse_number(const char *value, unsigned long max,
			unsigned long *num_r)
{
	char *end;

	if (!isdigit((unsigned char)value[0]))
		return -1;
	errno = 0;
	*num_r = strtoul(value, &end, 10);
	if (errno != 0 || *end != '\0' || *num_r > max)
		return -1;
	return 0;
}

/* password_policy (migrate-password-policy.h): "none", or words min=N,
   lower, upper, digit, special. */
#define POLICY_MAX_LENGTH 511

static int policy_word(const char *word, size_t len,
		       struct migrate_password_policy *policy,
		       char *error, size_t error_size)
{
	if (len == 5 && memcmp(word, "lower", 5) == 0)
		policy->lower = true;
	else if (len == 5 && memcmp(word, "upper", 5) == 0)
		policy->upper = true;
	else if (len == 5 && memcmp(word, "digit", 5) == 0)
		policy->digit = true;
	else if (len == 7 && memcmp(word, "special", 7) == 0)
		policy->special = true;
	else if (len > 4 && len < 8 && memcmp(word, "min=", 4) == 0) {
		unsigned int n = 0;
		size_t i;

		for (i = 4; i < len; i++) {
			if (word[i] < '0' || word[i] > '9')
				break;
			n = n * 10 + (unsigned int)(word[i] - '0');
		}
		if (i < len || n == 0 || n > POLICY_MAX_LENGTH) {
			snprintf(error, error_size, "'%.*s': min= takes a length "
				 "1-%d", (int)len, word, POLICY_MAX_LENGTH);
			return -1;
		}
		policy->min_length = n;
	} else {
		snprintf(error, error_size, "unknown word '%.*s' (expected none, "
			 "min=N, lower, upper, digit, special)",
			 (int)(len > 64 ? 64 : len), word);
		return -1;
	}
	return 0;
}

static int password_policy_parse(const char *text,
				 struct migrate_password_policy *policy_r,
				 char *error, size_t error_size)
{
	const char *p = text;

	memset(policy_r, 0, sizeof(*policy_r));
	if (strcmp(text, "none") == 0)
		return 0;
	while (*p != '\0') {
		size_t len;

		p += strspn(p, " \t");
		len = strcspn(p, " \t");
		if (len > 0 && policy_word(p, len, policy_r, error, error_size) < 0)
			return -1;
		p += len;
	}
	if (policy_r->min_length == 0 && !policy_r->lower && !policy_r->upper &&
	    !policy_r->digit && !policy_r->special) {
		snprintf(error, error_size, "empty policy (write \"none\" for no policy)");
		return -1;
	}
	return 0;
}

/* "0", or a number with a unit k, M, G or T (1024-based: a bare number
   would leave bytes and kB to guesswork), in kB. */
static int parse_size(const char *value, uint64_t *kbytes_r)
{
	static const char units[] = "kMGT";
	uint64_t num = 0, mult;
	const char *p = value, *unit;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (num > (UINT64_MAX - 9) / 10)
			return -1;
		num = num * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '\0' && num == 0) {
		*kbytes_r = 0;
		return 0;
	}
	if (*p == '\0' || p[1] != '\0' || (unit = strchr(units, *p)) == NULL)
		return -1;
	mult = (uint64_t)1 << (10 * (unit - units));
	if (num > UINT64_MAX / mult)
		return -1;
	*kbytes_r = num * mult;
	return 0;
}

static int set_value(struct parser *p, const struct key_def *def,
		     void *base, const char *value)
{
	void *field = (char *)base + def->offset;
	unsigned long num;
	unsigned int i;

	switch (def->type) {
	case VALUE_STRING:
		if (*value == '\0')
			return parse_error(p, "%s: empty value", def->name);
		set_string(field, value);
		return 0;
	case VALUE_STRING_OR_EMPTY:
		set_string(field, value);
		return 0;
	case VALUE_PORT:
		if (parse_number(value, 65535, &num) < 0) {
			return parse_error(p, "%s: '%s' is not a port (0-65535)",
					   def->name, value);
		}
		*(uint16_t *)field = (uint16_t)num;
		return 0;
	case VALUE_COUNT:
		if (parse_number(value, def->max, &num) < 0 || num == 0) {
			return parse_error(p, "%s: '%s' is not a number 1-%lu",
					   def->name, value, def->max);
		}
		*(unsigned int *)field = (unsigned int)num;
		return 0;
	case VALUE_NUMBER:
		if (parse_number(value, def->max, &num) < 0) {
			return parse_error(p, "%s: '%s' is not a number 0-%lu",
					   def->name, value, def->max);
		}
		*(unsigned int *)field = (unsigned int)num;
		return 0;
	case VALUE_BOOL:
		if (strcmp(value, "yes") == 0)
			*(bool *)field = true;
		else if (strcmp(value, "no") == 0)
			*(bool *)field = false;
		else {
			return parse_error(p, "%s: '%s' is not yes or no",
					   def->name, value);
		}
		return 0;
	case VALUE_ENUM:
		for (i = 0; def->enum_names[i] != NULL; i++) {
			if (strcmp(value, def->enum_names[i]) == 0) {
				*(int *)field = (int)i;
				return 0;
			}
		}
		return parse_error(p, "%s: '%s' is not one of the allowed values",
				   def->name, value);
	case VALUE_SIZE:
		if (parse_size(value, field) < 0) {
			return parse_error(p, "%s: '%s' is not a size (0, or a "
					   "number with k, M, G or T)",
					   def->name, value);
		}
		return 0;
	case VALUE_PASSWORD_POLICY: {
		char reason[160];

		if (password_policy_parse(value, field, reason,
						  sizeof(reason)) < 0)
			return parse_error(p, "%s: %s", def->name, reason);
		return 0;
	}
	}
	return parse_error(p, "%s: internal error: bad key type", def->name);
}

static void domain_defaults(struct migrate_domain *d)
{
	d->imap_port = 143;
	d->pop3_port = 110;
	d->smtp_port = 25;
	d->tls = MIGRATE_TLS_STARTTLS;
	d->legacy_user = xstrdup("%u");
	d->tls_verify = true;
	d->proxy_tls_verify = true;
	d->ca_file = xstrdup("/etc/ssl/certs/ca-certificates.crt");
	d->fold_local_part = true;
}

static int start_domain(struct parser *p, char *header)
{
	struct migrate_config *c = p->config;
	char *name, *end = strchr(header, ']');
	char domain[MIGRATE_ADDRESS_DOMAIN_MAX + 1], reason[128];

	if (end == NULL || trim(end + 1)[0] != '\0')
		return parse_error(p, "malformed section header (expected [domain NAME])");
	*end = '\0';
	name = trim(header + 1);
	if (strncmp(name, "domain", 6) != 0 || (name[6] != ' ' && name[6] != '\t'))
		return parse_error(p, "unknown section '[%s]' (expected [domain NAME])", name);
	name = trim(name + 7);
	/* the same form logins and recipients are normalised to: IDN
	   domains as ACE, lower case */
	if (migrate_domain_normalize(name, domain, sizeof(domain), reason, sizeof(reason)) < 0)
		return parse_error(p, "invalid domain name '%s': %s", name, reason);
	if (migrate_config_find_domain(c, domain) != NULL)
		return parse_error(p, "domain '%s' is defined twice", domain);
	if (c->domain_count == MIGRATE_CONFIG_MAX_DOMAINS)
		return parse_error(p, "too many domains (max %d)", MIGRATE_CONFIG_MAX_DOMAINS);
	if (c->domain_count == p->domain_alloc) {
		unsigned int n = p->domain_alloc == 0 ? 8 : p->domain_alloc * 2;
		void *grown = realloc(c->domains, n * sizeof(*c->domains));

		if (grown == NULL)
			abort();
		c->domains = grown;
		p->domain_alloc = n;
	}
	p->domain = &c->domains[c->domain_count++];
	memset(p->domain, 0, sizeof(*p->domain));
	p->domain->name = xstrdup(domain);
	p->domain->line = p->line;
	domain_defaults(p->domain);
	return 0;
}

static int parse_line(struct parser *p, char *line)
{
	const struct key_def *defs = p->domain == NULL ? global_keys : domain_keys;
	char *key, *value, *eq;
	unsigned int i;

	/* '#' starts a comment anywhere: no value needs one */
	if ((value = strchr(line, '#')) != NULL)
		*value = '\0';
	line = trim(line);
	if (*line == '\0')
		return 0;
	if (has_control_chars(line))
		return parse_error(p, "control character in line");
	if (*line == '[')
		return start_domain(p, line);
	if ((eq = strchr(line, '=')) == NULL)
		return parse_error(p, "expected 'key = value'");
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	for (i = 0; defs[i].name != NULL; i++) {
		if (strcmp(defs[i].name, key) == 0) {
			return set_value(p, &defs[i], p->domain == NULL ?
					 (void *)p->config : (void *)p->domain, value);
		}
	}
	if (p->domain != NULL)
		return parse_error(p, "unknown key '%s' in [domain %s]", key, p->domain->name);
	return parse_error(p, "unknown key '%s'", key);
}

static int check_domains(struct parser *p)
{
	const struct migrate_config *c = p->config;
	unsigned int i, defaults = 0;

	for (i = 0; i < c->domain_count; i++) {
		const struct migrate_domain *d = &c->domains[i];

		p->line = d->line;
		if (d->legacy_host == NULL)
			return parse_error(p, "[domain %s]: legacy_host is missing", d->name);
		if (d->imap_port == 0 && d->pop3_port == 0)
			return parse_error(p, "[domain %s]: imap_port and pop3_port are both 0", d->name);
		if (d->is_default && ++defaults > 1)
			return parse_error(p, "[domain %s]: more than one domain has default = yes", d->name);
		if ((d->legacy_master_user == NULL) != (d->legacy_master_password_file == NULL))
			return parse_error(p, "[domain %s]: legacy_master_user and "
					   "legacy_master_password_file go together", d->name);
	}
	return 0;
}

static void config_defaults(struct migrate_config *c)
{
	c->store = xstrdup("/var/lib/dovecot-migrate");
	c->vault_key = xstrdup("/etc/dovecot-migrate/vault.key");
	c->log = xstrdup("/var/log/dovecot-migrate.log");
	c->mode = MIGRATE_MODE_PROXY;
	c->unknown_recipients = MIGRATE_UNKNOWN_RELAY;
	/* 0: two per CPU, counted by the worker */
	c->workers = 0;
	c->policy_listen = xstrdup("unix:/var/spool/postfix/private/migrate-policy");
	c->socketmap_listen = xstrdup("unix:/var/spool/postfix/private/migrate-map");
	c->lmtp_transport = xstrdup("lmtp:unix:private/dovecot-lmtp");
	c->recipient_delimiter = xstrdup("+");
	c->policyd_stats_secs = 300;
	c->legacy_checks_per_user = 10;
	c->legacy_checks_per_ip = 60;
	c->legacy_failure_cache_secs = 60;
	c->legacy_timeout_secs = 15;
	c->proxy_timeout_secs = 10;
	c->cutover = MIGRATE_CUTOVER_AUTO;
	c->imports_per_legacy_host = 2;
	c->cutover_pass_secs = 60;
	c->sweep_after_secs = 900;
	c->legacy_slow_secs = 10;
	c->import_stall_secs = 600;
	c->import_prefetch = 20;
	c->resync_secs = 3600;
	c->archive_keep_days = 365;
	if (password_policy_parse(MIGRATE_PASSWORD_POLICY_DEFAULT,
					  &c->password_policy, NULL, 0) < 0)
		abort();
	c->refuse_message = xstrdup("Your mailbox is being moved to a new server. "
				    "Please try again in a few minutes.");
	c->notice_from = xstrdup("postmaster");
	c->notice_subject = xstrdup("Your mailbox is being moved");
}

int migrate_config_parse(const char *name, const char *text, size_t size,
			 struct migrate_config **config_r,
			 char *error_r, size_t error_size)
{
	struct parser p;
	char line[MIGRATE_CONFIG_MAX_LINE + 1];
	size_t pos = 0;
	int ret = 0;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.error = error_r;
	p.error_size = error_size;
	p.config = calloc(1, sizeof(*p.config));
	if (p.config == NULL)
		abort();
	p.config->path = xstrdup(name);
	config_defaults(p.config);

	if (size > MIGRATE_CONFIG_MAX_FILE_SIZE)
		ret = parse_error(&p, "file is larger than %d bytes", MIGRATE_CONFIG_MAX_FILE_SIZE);
	while (ret == 0 && pos < size) {
		const char *nl = memchr(text + pos, '\n', size - pos);
		size_t len = (nl == NULL ? size : (size_t)(nl - text)) - pos;

		p.line++;
		if (len > MIGRATE_CONFIG_MAX_LINE)
			ret = parse_error(&p, "line longer than %d bytes", MIGRATE_CONFIG_MAX_LINE);
		else if (memchr(text + pos, '\0', len) != NULL)
			ret = parse_error(&p, "NUL byte in line");
		else {
			memcpy(line, text + pos, len);
			line[len] = '\0';
			ret = parse_line(&p, line);
		}
		pos += len + 1;
	}
	if (ret == 0)
		ret = check_domains(&p);
	if (ret < 0) {
		migrate_config_free(&p.config);
		return -1;
	}
	*config_r = p.config;
	return 0;
}

int migrate_config_load(const char *path, struct migrate_config **config_r,
			char *error_r, size_t error_size)
{
	struct stat st;
	char *text;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(error_r, error_size, "open(%s) failed: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > MIGRATE_CONFIG_MAX_FILE_SIZE) {
		snprintf(error_r, error_size, "%s: not a regular file of at most %d bytes",
			 path, MIGRATE_CONFIG_MAX_FILE_SIZE);
		close(fd);
		return -1;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL)
		abort();
	n = read(fd, text, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		snprintf(error_r, error_size, "read(%s) failed: %s", path,
			 n < 0 ? strerror(errno) : "short read");
		free(text);
		return -1;
	}
	ret = migrate_config_parse(path, text, (size_t)n, config_r, error_r, error_size);
	free(text);
	return ret;
}

void migrate_config_free(struct migrate_config **config)
{
	struct migrate_config *c = *config;
	unsigned int i;

	if (c == NULL)
		return;
	*config = NULL;
	for (i = 0; i < c->domain_count; i++) {
		struct migrate_domain *d = &c->domains[i];

		free(d->name);
		free(d->legacy_host);
		free(d->legacy_user);
		free(d->ca_file);
		free(d->local_ip);
		free(d->legacy_master_user);
		free(d->legacy_master_password_file);
	}
	free(c->domains);
	free(c->path);
	free(c->store);
	free(c->vault_key);
	free(c->log);
	free(c->policy_listen);
	free(c->socketmap_listen);
	free(c->lmtp_transport);
	free(c->store_user);
	free(c->store_group);
	free(c->policyd_user);
	free(c->recipient_delimiter);
	free(c->refuse_message);
	free(c->notice_lmtp);
	free(c->notice_from);
	free(c->notice_subject);
	free(c->notice_file);
	free(c->metrics_file);
	free(c);
}

const struct migrate_domain *
migrate_config_find_domain(const struct migrate_config *config,
			   const char *domain)
{
	unsigned int i;

	for (i = 0; i < config->domain_count; i++) {
		if (strcmp(config->domains[i].name, domain) == 0)
			return &config->domains[i];
	}
	return NULL;
}

const struct migrate_domain *
migrate_config_domain_for_ip(const struct migrate_config *config,
			     const char *local_ip)
{
	const struct migrate_domain *fallback = NULL;
	unsigned int i;

	for (i = 0; i < config->domain_count; i++) {
		const struct migrate_domain *d = &config->domains[i];

		if (local_ip != NULL && d->local_ip != NULL &&
		    strcmp(d->local_ip, local_ip) == 0)
			return d;
		if (d->is_default)
			fallback = d;
	}
	return fallback;
}

const char *migrate_tls_mode_name(enum migrate_tls_mode mode)
{
	return tls_names[mode];
}

int migrate_config_account(const struct migrate_config *config,
			   const char *input, struct migrate_address *addr_r,
			   const struct migrate_domain **domain_r,
			   char *error, size_t error_size)
{
	struct migrate_address_settings set = { NULL, true };

	/* the domain part normalises the same either way */
	if (migrate_address_normalize(input, strlen(input), &set, addr_r,
				      error, error_size) < 0)
		return -1;
	*domain_r = migrate_config_find_domain(config, addr_r->domain);
	if (*domain_r == NULL) {
		snprintf(error, error_size, "not a migrating domain");
		return -1;
	}
	if ((*domain_r)->fold_local_part)
		return 0;
	set.fold_local_part = false;
	return migrate_address_normalize(input, strlen(input), &set, addr_r,
					 error, error_size);
}

static bool append(char *out, size_t out_size, size_t *pos, const char *s,
		   size_t len)
{
	if (len >= out_size - *pos)
		return false;
	memcpy(out + *pos, s, len);
	*pos += len;
	out[*pos] = '\0';
	return true;
}

int migrate_domain_legacy_user(const struct migrate_domain *domain,
			       const char *typed, const char *local,
			       const char *domain_name,
			       char *out, size_t out_size)
{
	const char *p, *tmpl = domain->legacy_user == NULL ? "%u" :
		domain->legacy_user;
	size_t pos = 0;
	bool ok = out_size > 0;

	if (ok)
		out[0] = '\0';
	for (p = tmpl; ok && *p != '\0'; p++) {
		const char *part = p;
		size_t len = 1;

		if (*p == '%' && p[1] != '\0') {
			switch (*++p) {
			case 'u': part = typed; len = strlen(typed); break;
			case 'n': part = local; len = strlen(local); break;
			case 'd': part = domain_name; len = strlen(domain_name); break;
			case '%': part = p; break;
			default: part = p - 1; len = 2; break;
			}
		}
		ok = append(out, out_size, &pos, part, len);
	}
	return ok ? 0 : -1;
}
