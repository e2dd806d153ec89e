/* doveadm migrate check: each migrating domain's legacy IMAP and POP3
   server, the way the product will reach it: TCP, STARTTLS/STLS or
   implicit TLS with the certificate checked as the domain says, the
   capabilities; and with -u a login of that account (the dialogue of
   common/migrate-legacy-login.c, as the passdb does it), followed for
   IMAP by LIST "" "" for the server's hierarchy separator. */

#include "lib.h"
#include "str.h"

#include "migrate-address.h"
#include "migrate-config.h"
#include "migrate-legacy-login.h"
#include "legacy-conn.h"
#include "doveadm-migrate-check.h"

#include <unistd.h>

#define CHECK_CAPS_MAX 300

struct check_legacy {
	struct check_run *run;
	const struct migrate_domain *domain;
	enum migrate_protocol protocol;
	const char *name;
	struct legacy_conn_target target;
	struct legacy_conn conn;
	SSL_CTX *ctx;
	char line[MIGRATE_LEGACY_LINE_MAX + 3];
};

static bool check_send(struct check_legacy *c, const char *text)
{
	return legacy_conn_write(&c->conn, text, strlen(text));
}

static bool check_line(struct check_legacy *c)
{
	return legacy_conn_read_line(&c->conn, c->line, sizeof(c->line)) == 0;
}

static bool check_is_ok(const struct check_legacy *c, const char *tag)
{
	if (c->protocol == MIGRATE_PROTOCOL_POP3)
		return strncmp(c->line, "+OK", 3) == 0;
	return str_begins(c->line, t_strconcat(tag, " OK", NULL));
}

static int check_connect(struct check_legacy *c, const char **error_r)
{
	char error[512];

	c->conn.timeout_msecs = c->target.timeout_msecs;
	if ((c->conn.fd = legacy_conn_connect(&c->target, error, sizeof(error))) < 0) {
		*error_r = t_strdup(error);
		return -1;
	}
	if (c->domain->tls != MIGRATE_TLS_NONE &&
	    (c->ctx = legacy_conn_ssl_ctx(&c->target, error, sizeof(error))) == NULL) {
		*error_r = t_strdup(error);
		return -1;
	}
	return 0;
}

static int check_handshake(struct check_legacy *c, const char **error_r)
{
	char error[512];

	c->conn.ssl = legacy_conn_handshake(&c->target, c->ctx, c->conn.fd,
					    error, sizeof(error));
	if (c->conn.ssl == NULL) {
		*error_r = t_strdup(error);
		return -1;
	}
	return 0;
}

/* Greeting and TLS; -1 with the reason. */
static int check_open(struct check_legacy *c, const char **error_r)
{
	bool pop3 = c->protocol == MIGRATE_PROTOCOL_POP3;

	if (check_connect(c, error_r) < 0)
		return -1;
	if (c->domain->tls == MIGRATE_TLS_IMPLICIT && check_handshake(c, error_r) < 0)
		return -1;
	if (!check_line(c) || !(pop3 ? str_begins(c->line, "+OK") :
				str_begins(c->line, "* OK"))) {
		*error_r = "no greeting, or not one of this protocol";
		return -1;
	}
	if (c->domain->tls != MIGRATE_TLS_STARTTLS)
		return 0;
	if (!check_send(c, pop3 ? "STLS\r\n" : "s STARTTLS\r\n") || !check_line(c) ||
	    !check_is_ok(c, "s")) {
		*error_r = t_strdup_printf("%s refused: %s", pop3 ? "STLS" : "STARTTLS",
					   legacy_conn_printable(c->line));
		return -1;
	}
	return check_handshake(c, error_r);
}

/* The capability list, space-separated and cut short. */
static int check_capabilities(struct check_legacy *c, string_t *caps,
			      const char **error_r)
{
	bool pop3 = c->protocol == MIGRATE_PROTOCOL_POP3;

	if (!check_send(c, pop3 ? "CAPA\r\n" : "c CAPABILITY\r\n") || !check_line(c)) {
		*error_r = "no answer to CAPABILITY";
		return -1;
	}
	if (pop3 && !str_begins(c->line, "+OK")) {
		str_append(caps, "(no CAPA)");
		return 0;
	}
	for (;;) {
		if (!pop3 && str_begins(c->line, "* CAPABILITY "))
			str_append(caps, c->line + 13);
		else if (pop3 && str_len(caps) < CHECK_CAPS_MAX && !str_begins(c->line, "+OK")) {
			if (strcmp(c->line, ".") == 0)
				return 0;
			str_printfa(caps, "%s%s", str_len(caps) > 0 ? " " : "", c->line);
		} else if (!pop3 && str_begins(c->line, "c ")) {
			return check_is_ok(c, "c") ? 0 : -1;
		} else if (pop3 && strcmp(c->line, ".") == 0)
			return 0;
		if (!check_line(c)) {
			*error_r = "the capability list ended early";
			return -1;
		}
	}
}

static void check_close(struct check_legacy *c)
{
	if (c->conn.ssl != NULL) {
		(void)SSL_shutdown(c->conn.ssl);
		SSL_free(c->conn.ssl);
		c->conn.ssl = NULL;
	}
	if (c->ctx != NULL) {
		SSL_CTX_free(c->ctx);
		c->ctx = NULL;
	}
	if (c->conn.fd >= 0)
		i_close_fd(&c->conn.fd);
}

static const char *check_tls_text(const struct check_legacy *c)
{
	if (c->conn.ssl == NULL)
		return "no TLS (tls = none)";
	return t_strdup_printf("%s %s, certificate %s",
			       c->domain->tls == MIGRATE_TLS_STARTTLS ?
			       (c->protocol == MIGRATE_PROTOCOL_POP3 ? "STLS to" : "STARTTLS to") :
			       "implicit", SSL_get_version(c->conn.ssl),
			       c->target.verify ? t_strdup_printf("valid for %s",
			       c->target.host) : "not checked (tls_verify = no)");
}

static void check_probe(struct check_legacy *c)
{
	string_t *caps = t_str_new(128);
	const char *error, *fix;

	fix = t_strdup_printf("the legacy host, its port, tls and ca_file in "
			      "[domain %s]", c->domain->name);
	if (check_open(c, &error) < 0 || check_capabilities(c, caps, &error) < 0) {
		check_fail(c->run, c->name, fix, "%s", error);
		return;
	}
	if (str_len(caps) > CHECK_CAPS_MAX) {
		str_truncate(caps, CHECK_CAPS_MAX);
		str_append(caps, "...");
	}
	check_ok(c->run, c->name, "%s, %s; capabilities: %s",
		 c->protocol == MIGRATE_PROTOCOL_POP3 ? "+OK" : "* OK",
		 check_tls_text(c), str_c(caps));
}

/* Feeds the login machine until it is done; its result. */
static enum migrate_legacy_result
check_login_dialogue(struct check_legacy *c, struct migrate_legacy_login *login,
		     const char **reason_r)
{
	enum migrate_legacy_action action = MIGRATE_LEGACY_ACTION_READ;
	const unsigned char *out;
	const char *error;
	size_t len;

	/* the LOGOUT the machine queues after OK is not sent: the session
	   goes on with LIST */
	while (action != MIGRATE_LEGACY_ACTION_DONE &&
	       migrate_legacy_login_result(login, NULL) == MIGRATE_LEGACY_PENDING) {
		out = migrate_legacy_login_output(login, &len);
		if (len > 0 && !legacy_conn_write(&c->conn, out, len))
			migrate_legacy_login_abort(login, "connection closed");
		migrate_legacy_login_output_sent(login);
		if (migrate_legacy_login_result(login, NULL) != MIGRATE_LEGACY_PENDING)
			break;
		if (action == MIGRATE_LEGACY_ACTION_START_TLS) {
			if (check_handshake(c, &error) < 0)
				migrate_legacy_login_abort(login, error);
			else
				action = migrate_legacy_login_tls_started(login);
			continue;
		}
		if (!check_line(c)) {
			migrate_legacy_login_abort(login, "connection closed or line too long");
			continue;
		}
		action = migrate_legacy_login_input(login, c->line, strlen(c->line));
	}
	return migrate_legacy_login_result(login, reason_r);
}

/* After an IMAP login: LIST "" "" names the hierarchy separator. */
static char check_separator(struct check_legacy *c)
{
	const char *p;
	char sep = '\0';

	if (!check_send(c, "l LIST \"\" \"\"\r\n"))
		return '\0';
	while (check_line(c) && !str_begins(c->line, "l ")) {
		/* * LIST (\Noselect) "/" "" */
		if (str_begins(c->line, "* LIST ") &&
		    (p = strchr(c->line, ')')) != NULL &&
		    p[1] == ' ' && p[2] == '"' && p[3] != '\0' && p[4] == '"')
			sep = p[3] == '\\' ? p[4] : p[3];
	}
	(void)check_send(c, "z LOGOUT\r\n");
	return sep;
}

static void check_login(struct check_legacy *c, const struct migrate_address *addr)
{
	struct migrate_legacy_login_settings set;
	struct migrate_legacy_login *login;
	const char *reason, *fix;
	char user[512], error[256];
	enum migrate_legacy_result result;

	fix = "the password, or legacy_user and the host in the domain's section";
	if (migrate_domain_legacy_user(c->domain, c->run->user, addr->local,
				       addr->domain, user, sizeof(user)) < 0) {
		check_fail(c->run, c->name, fix, "legacy_user: the login name is too long");
		return;
	}
	i_zero(&set);
	set.protocol = c->protocol;
	set.starttls = c->domain->tls == MIGRATE_TLS_STARTTLS;
	set.user = user;
	set.password = c->run->password;
	if (migrate_legacy_login_init(&set, &login, error, sizeof(error)) < 0) {
		check_fail(c->run, c->name, fix, "%s", error);
		return;
	}
	if (check_connect(c, &reason) < 0 ||
	    (c->domain->tls == MIGRATE_TLS_IMPLICIT && check_handshake(c, &reason) < 0)) {
		migrate_legacy_login_abort(login, reason);
		result = migrate_legacy_login_result(login, &reason);
	} else {
		result = check_login_dialogue(c, login, &reason);
	}
	/* the reason lives in the machine, which wipes it when freed */
	reason = t_strdup(reason);
	migrate_legacy_login_free(&login);
	if (result != MIGRATE_LEGACY_OK) {
		check_fail(c->run, c->name, fix, "%s as %s: %s",
			   migrate_legacy_result_name(result), user, reason);
		return;
	}
	if (c->protocol == MIGRATE_PROTOCOL_POP3) {
		(void)check_send(c, "QUIT\r\n");
		check_ok(c->run, c->name, "%s logged in", user);
		return;
	}
	c->run->legacy_sep = check_separator(c);
	check_ok(c->run, c->name, "%s logged in, hierarchy separator '%c'", user,
		 c->run->legacy_sep == '\0' ? '?' : c->run->legacy_sep);
}

static void check_domain_port(struct check_run *run, const struct migrate_domain *domain,
			      enum migrate_protocol protocol, uint16_t port,
			      const struct migrate_address *login_addr)
{
	struct check_legacy c;

	i_zero(&c);
	c.run = run;
	c.domain = domain;
	c.protocol = protocol;
	c.target.host = domain->legacy_host;
	c.target.port = port;
	c.target.verify = domain->tls_verify;
	c.target.ca_file = domain->ca_file;
	c.target.timeout_msecs = run->config->legacy_timeout_secs * 1000;
	c.conn.fd = -1;
	c.name = t_strdup_printf("legacy %s %s %s:%u", domain->name,
		protocol == MIGRATE_PROTOCOL_POP3 ? "pop3" : "imap",
		domain->legacy_host, port);
	check_probe(&c);
	check_close(&c);
	if (login_addr != NULL) {
		c.name = t_strconcat(c.name, " login", NULL);
		check_login(&c, login_addr);
		check_close(&c);
	}
}

void check_legacy_hosts(struct check_run *run)
{
	const struct migrate_config *config = run->config;
	const struct migrate_domain *login_domain = NULL, *d;
	struct migrate_address addr;
	char error[256];
	unsigned int i;

	if (run->user != NULL &&
	    migrate_config_account(config, run->user, &addr, &login_domain,
				   error, sizeof(error)) < 0) {
		check_fail(run, "legacy login", "an address of a migrating domain after -u",
			   "%s: %s", run->user, error);
	}
	for (i = 0; i < config->domain_count; i++) T_BEGIN {
		d = &config->domains[i];
		if (d->imap_port != 0) {
			check_domain_port(run, d, MIGRATE_PROTOCOL_IMAP, d->imap_port,
					  d == login_domain ? &addr : NULL);
		}
		if (d->pop3_port != 0) {
			check_domain_port(run, d, MIGRATE_PROTOCOL_POP3, d->pop3_port,
					  d == login_domain ? &addr : NULL);
		}
	} T_END;
}
