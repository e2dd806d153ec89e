#ifndef DOVEADM_MIGRATE_CHECK_H
#define DOVEADM_MIGRATE_CHECK_H

/* doveadm migrate check: the preflight before MX and users point at the
   new server. Each part adds results; the command prints them. */

struct migrate_config;

struct check_run {
	const struct migrate_config *config;
	/* -u: the account whose legacy login is tried, and its password
	   (read from stdin, wiped after use) */
	const char *user;
	char *password;
	/* -p: Postfix's config directory (NULL: postconf's default) */
	const char *postfix_dir;
	/* -f given: rows through doveadm_print (json and the like) */
	bool formatted;
	unsigned int failures;
	/* the legacy server's hierarchy separator, as the test login saw it
	   ('\0': unknown) */
	char legacy_sep;
};

void check_ok(struct check_run *run, const char *name, const char *fmt, ...)
	ATTR_FORMAT(3, 4);
/* fix: what the operator does about it */
void check_fail(struct check_run *run, const char *name, const char *fix,
		const char *fmt, ...) ATTR_FORMAT(4, 5);

/* Each legacy host: TCP, TLS and its certificate, capabilities, and the
   test login (doveadm-migrate-check-legacy.c). */
void check_legacy_hosts(struct check_run *run);
/* Dovecot's settings this product depends on, read with doveconf
   (doveadm-migrate-check-dovecot.c). */
void check_dovecot_settings(struct check_run *run);
/* Postfix's main.cf lines, read with postconf. */
void check_postfix_settings(struct check_run *run);

#endif
