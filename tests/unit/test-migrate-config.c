/* Unit tests for common/migrate-config.c */

#include "lib.h"
#include "test-common.h"

#include "migrate-config.h"

#include <fcntl.h>
#include <unistd.h>

static struct migrate_config *parse_ok(const char *text)
{
	struct migrate_config *config = NULL;
	char error[256] = "";

	if (migrate_config_parse("test.conf", text, strlen(text), &config,
				 error, sizeof(error)) < 0)
		i_error("unexpected config error: %s", error);
	return config;
}

static void test_config_defaults(void)
{
	struct migrate_config *config;

	test_begin("config: empty file gives the documented defaults");
	config = parse_ok("");
	test_assert(config != NULL);
	test_assert_strcmp(config->store, "/var/lib/dovecot-migrate");
	test_assert_strcmp(config->vault_key, "/etc/dovecot-migrate/vault.key");
	test_assert(config->mode == MIGRATE_MODE_PROXY);
	test_assert(config->unknown_recipients == MIGRATE_UNKNOWN_RELAY);
	test_assert(config->workers == 0);	/* two per CPU */
	test_assert_strcmp(config->lmtp_transport, "lmtp:unix:private/dovecot-lmtp");
	test_assert(config->domain_count == 0);
	test_assert(config->store_user == NULL && config->store_group == NULL);
	test_assert_strcmp(config->recipient_delimiter, "+");
	test_assert(config->legacy_checks_per_user == 10 &&
		    config->legacy_checks_per_ip == 60 &&
		    config->legacy_failure_cache_secs == 60);
	test_assert(config->import_prefetch == 20 && config->resync_secs == 3600);
	test_assert(config->import_stall_secs == 600);
	migrate_config_free(&config);
	test_assert(config == NULL);
	test_end();
}

static void test_config_full(void)
{
	static const char text[] =
		"# dovecot-migrate\n"
		"store = /tmp/store   # trailing comment\n"
		"mode=refuse\n"
		"unknown_recipients = verify\n"
		"workers = 8\r\n"
		"socketmap_listen = inet:127.0.0.1:10041\n"
		"store_user = dovecot\n"
		"store_group = postfix\n"
		"recipient_delimiter =\n"
		"legacy_checks_per_ip = 500\n"
		"import_prefetch = 0\n"
		"import_stall_secs = 0\n"
		"resync_secs = 0\n"
		"\n"
		"[domain Example.COM]\n"
		"legacy_host = 192.0.2.10\n"
		"imap_port = 993\n"
		"pop3_port = 0\n"
		"tls = tls\n"
		"tls_verify = no\n"
		"local_ip = 203.0.113.5\n"
		"fold_local_part = no\n"
		"legacy_master_user = admin\n"
		"legacy_master_password_file = /etc/dovecot-migrate/master.pass\n"
		"[ domain Bücher.Example ]\n"
		"legacy_host = old.other.example\n"
		"default = yes\n";
	const struct migrate_domain *d;
	struct migrate_config *config;

	test_begin("config: globals and domain sections");
	config = parse_ok(text);
	test_assert(config != NULL);
	if (config == NULL) {
		test_end();
		return;
	}
	test_assert_strcmp(config->store, "/tmp/store");
	test_assert(config->mode == MIGRATE_MODE_REFUSE);
	test_assert(config->unknown_recipients == MIGRATE_UNKNOWN_VERIFY);
	test_assert(config->workers == 8);
	test_assert_strcmp(config->socketmap_listen, "inet:127.0.0.1:10041");
	test_assert_strcmp(config->store_user, "dovecot");
	test_assert_strcmp(config->store_group, "postfix");
	test_assert_strcmp(config->recipient_delimiter, "");
	test_assert(config->legacy_checks_per_ip == 500);
	test_assert(config->import_prefetch == 0 && config->resync_secs == 0 &&
		    config->import_stall_secs == 0);
	test_assert(config->domain_count == 2);

	d = migrate_config_find_domain(config, "example.com");
	test_assert(d != NULL && d->imap_port == 993 && d->pop3_port == 0 &&
		    d->smtp_port == 25 && d->tls == MIGRATE_TLS_IMPLICIT &&
		    !d->tls_verify && !d->is_default);
	test_assert(d != NULL && strcmp(d->legacy_user, "%u") == 0);
	test_assert(d != NULL && !d->fold_local_part &&
		    strcmp(d->legacy_master_user, "admin") == 0 &&
		    strcmp(d->legacy_master_password_file, "/etc/dovecot-migrate/master.pass") == 0);
	/* IDN section names are stored as logins and recipients will be */
	d = migrate_config_find_domain(config, "xn--bcher-kva.example");
	test_assert(d != NULL && d->fold_local_part && d->legacy_master_user == NULL);
	test_assert(d != NULL && d->tls == MIGRATE_TLS_STARTTLS && d->tls_verify &&
		    d->is_default && d->imap_port == 143 && d->pop3_port == 110);
	test_assert(migrate_config_find_domain(config, "nope.example") == NULL);

	/* logins without @domain: local_ip first, then the default */
	d = migrate_config_domain_for_ip(config, "203.0.113.5");
	test_assert(d != NULL && strcmp(d->name, "example.com") == 0);
	d = migrate_config_domain_for_ip(config, "198.51.100.1");
	test_assert(d != NULL && strcmp(d->name, "xn--bcher-kva.example") == 0);
	d = migrate_config_domain_for_ip(config, NULL);
	test_assert(d != NULL && strcmp(d->name, "xn--bcher-kva.example") == 0);
	migrate_config_free(&config);
	test_end();
}

static void test_config_errors(void)
{
	static const struct {
		const char *text, *error;
	} bad[] = {
		{ "bogus = 1\n", "test.conf:1: unknown key 'bogus'" },
		{ "\n\nmode = fast\n", "test.conf:3: mode: 'fast' is not one of the allowed values" },
		{ "workers = 0\n", "test.conf:1: workers: '0' is not a number 1-1024" },
		{ "workers = 12x\n", "test.conf:1: workers: '12x' is not a number 1-1024" },
		{ "import_prefetch = 1001\n", "test.conf:1: import_prefetch: '1001' is not a number 0-1000" },
		{ "resync_secs = -1\n", "test.conf:1: resync_secs: '-1' is not a number 0-2592000" },
		{ "store =\n", "test.conf:1: store: empty value" },
		{ "store\n", "test.conf:1: expected 'key = value'" },
		{ "legacy_failure_cache_secs = 86401\n",
		  "test.conf:1: legacy_failure_cache_secs: '86401' is not a number 1-86400" },
		{ "[domain a.example]\nlegacy_host=h\nlegacy_master_user = admin\n",
		  "test.conf:1: [domain a.example]: legacy_master_user and legacy_master_password_file go together" },
		{ "[domain a.example]\nlegacy_host=h\nimap_port = 70000\n",
		  "test.conf:3: imap_port: '70000' is not a port (0-65535)" },
		{ "[domain a.example]\nlegacy_host=h\ntls_verify = maybe\n",
		  "test.conf:3: tls_verify: 'maybe' is not yes or no" },
		{ "[domain a.example]\nstore = /x\n",
		  "test.conf:2: unknown key 'store' in [domain a.example]" },
		{ "[domain a.example]\nimap_port = 143\n",
		  "test.conf:1: [domain a.example]: legacy_host is missing" },
		{ "[domain a.example]\nlegacy_host=h\nimap_port=0\npop3_port=0\n",
		  "test.conf:1: [domain a.example]: imap_port and pop3_port are both 0" },
		{ "[domain a.example]\nlegacy_host=h\n[domain A.example]\nlegacy_host=h\n",
		  "test.conf:3: domain 'a.example' is defined twice" },
		{ "[domain a.example]\nlegacy_host=h\ndefault=yes\n[domain b.example]\nlegacy_host=h\ndefault=yes\n",
		  "test.conf:4: [domain b.example]: more than one domain has default = yes" },
		{ "[domain bad..example]\n",
		  "test.conf:1: invalid domain name 'bad..example': two consecutive dots in domain" },
		{ "[domain a b]\n",
		  "test.conf:1: invalid domain name 'a b': invalid character ' ' in domain" },
		{ "[domains x]\n", "test.conf:1: unknown section '[domains x]' (expected [domain NAME])" },
		{ "[domain x\n", "test.conf:1: malformed section header (expected [domain NAME])" },
		{ "store = /a\x01b\n", "test.conf:1: control character in line" },
	};
	struct migrate_config *config = NULL;
	char error[256];
	unsigned int i;

	test_begin("config: errors name file, line and key");
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		error[0] = '\0';
		test_assert_idx(migrate_config_parse("test.conf", bad[i].text,
			strlen(bad[i].text), &config, error, sizeof(error)) < 0, i);
		test_assert_strcmp_idx(error, bad[i].error, i);
		test_assert_idx(config == NULL, i);
	}
	test_end();
}

static void test_config_limits(void)
{
	struct migrate_config *config = NULL;
	char error[256];
	char *text;
	size_t size = MIGRATE_CONFIG_MAX_LINE + 10;

	test_begin("config: oversize lines and NUL bytes");
	text = i_malloc(size + 1);
	memset(text, '#', size);
	test_assert(migrate_config_parse("t", text, size, &config, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "t:1: line longer than 4096 bytes");
	test_assert(migrate_config_parse("t", "a\0b = c\n", 8, &config, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "t:1: NUL byte in line");
	i_free(text);
	test_end();
}

static void test_config_quota_and_policy(void)
{
	struct migrate_config *config = NULL;
	char error[256];

	test_begin("config: quota, password policy, special folders, aliases, archive");
	config = parse_ok("");
	test_assert(config->default_quota == 0);
	test_assert(config->password_policy.min_length == 8 &&
		    config->password_policy.special);
	test_assert(config->special_folders == MIGRATE_SPECIAL_FOLDERS_MERGE &&
		    config->learn_aliases == MIGRATE_ALIASES_NO &&
		    config->archive_over == 0 && config->archive_keep_days == 365);
	migrate_config_free(&config);

	config = parse_ok("default_quota = 2G\npassword_policy = min=10 digit\n");
	test_assert(config->default_quota == 2 * 1024 * 1024);
	test_assert(config->password_policy.min_length == 10 &&
		    config->password_policy.digit && !config->password_policy.upper);
	migrate_config_free(&config);
	config = parse_ok("special_folders = keep\nlearn_aliases = headers\n"
			  "archive_over = 10000\narchive_keep_days = 730\n");
	test_assert(config->special_folders == MIGRATE_SPECIAL_FOLDERS_KEEP &&
		    config->learn_aliases == MIGRATE_ALIASES_HEADERS &&
		    config->archive_over == 10000 && config->archive_keep_days == 730);
	migrate_config_free(&config);
	config = parse_ok("default_quota = 512k\npassword_policy = none\n");
	test_assert(config->default_quota == 512 &&
		    config->password_policy.min_length == 0);
	migrate_config_free(&config);

	test_assert(migrate_config_parse("t", "default_quota = 1000\n", 21, &config,
					 error, sizeof(error)) < 0);
	test_assert_strcmp(error, "t:1: default_quota: '1000' is not a size (0, or a "
			   "number with k, M, G or T)");
	test_assert(migrate_config_parse("t", "default_quota = 99999999999999999999T\n",
					 38, &config, error, sizeof(error)) < 0);
	test_assert(migrate_config_parse("t", "password_policy = long\n", 23,
					 &config, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "t:1: password_policy: unknown word 'long' "
			   "(expected none, min=N, lower, upper, digit, special)");
	test_assert(migrate_config_parse("t", "password_policy = min=0\n", 24,
					 &config, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "t:1: password_policy: 'min=0': min= takes a "
			   "length 1-511");
	config = parse_ok("password_policy = upper  special\n");
	test_assert(config->password_policy.min_length == 0 &&
		    config->password_policy.upper && config->password_policy.special &&
		    !config->password_policy.lower);
	migrate_config_free(&config);
	test_end();
}

static void test_config_load_file(void)
{
	const char *path = ".test-migrate.conf";
	struct migrate_config *config = NULL;
	char error[256];
	int fd;

	test_begin("config: load from file and missing file");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	test_assert(fd >= 0);
	test_assert(write(fd, "workers = 3\n", 12) == 12);
	i_close_fd(&fd);
	test_assert(migrate_config_load(path, &config, error, sizeof(error)) == 0);
	test_assert(config != NULL && config->workers == 3);
	test_assert(config != NULL && strcmp(config->path, path) == 0);
	migrate_config_free(&config);
	i_unlink(path);

	test_assert(migrate_config_load(path, &config, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "open(.test-migrate.conf) failed: No such file or directory");
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_config_defaults,
		test_config_full,
		test_config_errors,
		test_config_limits,
		test_config_quota_and_policy,
		test_config_load_file,
		NULL
	};
	return test_run(tests);
}
