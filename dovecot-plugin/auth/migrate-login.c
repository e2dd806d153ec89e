/* How a login of the migrate passdb is answered, see migrate-login.h. */

#include "auth-common.h"
#include "str.h"
#include "time-util.h"
#include "safe-memset.h"

#include "migrate-login.h"
#include "legacy-host.h"

#define CUTOVER_MESSAGE \
	"Your mailbox is being moved to a new server. Please try again in a minute."

static void migrate_login_free(struct migrate_login *login)
{
	if (login->password != NULL) {
		safe_memset(login->password, 0, strlen(login->password));
		i_free(login->password);
	}
	i_free(login->typed_user);
	auth_request_unref(&login->request);
	i_free(login);
}

/* A decision is logged at info level, which Dovecot shows only with
   auth_verbose = yes; a temporary failure is logged at `level` so that its
   cause is in the log with Dovecot's stock settings, where the client and
   the login process see only "temporary failure". */
static void migrate_login_log_at(struct migrate_login *login, enum log_type level,
				 const char *decision, const char *reason)
{
	struct timeval now;

	i_gettimeofday(&now);
	if (login->note != NULL)
		reason = t_strdup_printf("%s; %s", reason, login->note);
	e_log(authdb_event(login->request), level,
	      "account %s: %s (%s), %d ms", login->addr.address, decision,
	      reason, timeval_diff_msecs(&now, &login->started));
}

static void migrate_login_log(struct migrate_login *login, const char *decision,
			      const char *reason)
{
	migrate_login_log_at(login, LOG_TYPE_INFO, decision, reason);
}

/* Ends the login with a failure result. */
void migrate_login_fail(struct migrate_login *login,
			       enum passdb_result result, const char *decision,
			       const char *reason)
{
	migrate_login_log_at(login, result == PASSDB_RESULT_INTERNAL_FAILURE ?
			     login->fail_level : LOG_TYPE_INFO, decision, reason);
	if (result == PASSDB_RESULT_PASSWORD_MISMATCH)
		auth_request_log_password_mismatch(login->request, AUTH_SUBSYS_DB);
	login->callback(result, login->request);
	migrate_login_free(login);
}

void migrate_login_fail_store(struct migrate_login *login)
{
	/* the store is ours: every login fails until someone fixes it */
	login->fail_level = LOG_TYPE_ERROR;
	migrate_login_fail(login, PASSDB_RESULT_INTERNAL_FAILURE,
			   "temporary failure", t_strdup_printf(
			   "account store: %s", login->error));
}

static void migrate_login_succeed(struct migrate_login *login,
				  const char *decision, const char *reason)
{
	if (strcmp(login->request->fields.user, login->addr.address) != 0)
		auth_request_set_field(login->request, "user",
				       login->addr.address, NULL);
	migrate_login_log(login, decision, reason);
	login->callback(PASSDB_RESULT_OK, login->request);
	migrate_login_free(login);
}

/* Refused with a message the client shows (nologin + reason). */
static void migrate_login_refuse(struct migrate_login *login,
				 const char *message, const char *reason)
{
	auth_request_set_field(login->request, "nologin", "y", NULL);
	auth_request_set_field(login->request, "reason", message, NULL);
	migrate_login_succeed(login, "refused", reason);
}

in_port_t migrate_login_legacy_port(const struct migrate_login *login)
{
	return login->protocol == MIGRATE_PROTOCOL_POP3 ?
		login->domain->pop3_port : login->domain->imap_port;
}

/* The legacy login name: %u as typed, %n local part, %d domain. */
const char *migrate_login_legacy_user(const struct migrate_login *login)
{
	const char *tmpl = login->domain->legacy_user;
	/* room for every % expanding to the longest part */
	size_t size = (tmpl == NULL ? 2 : strlen(tmpl)) *
		(strlen(login->typed_user) + strlen(login->addr.local) +
		 strlen(login->addr.domain) + 2) + 1;
	char *name = t_malloc_no0(size);

	if (migrate_domain_legacy_user(login->domain, login->typed_user,
				       login->addr.local, login->addr.domain,
				       name, size) < 0)
		i_unreached();
	return name;
}

/* The client's own protocol can be proxied to the legacy server. */
static bool migrate_login_proxyable(const struct migrate_login *login)
{
	const char *service = login->request->fields.service;
	enum migrate_protocol protocol;

	if (strcmp(service, "imap") == 0)
		protocol = MIGRATE_PROTOCOL_IMAP;
	else if (strcmp(service, "pop3") == 0)
		protocol = MIGRATE_PROTOCOL_POP3;
	else
		return FALSE;
	return protocol == login->protocol && migrate_login_legacy_port(login) != 0;
}

/* The proxy fields for the legacy server at login->proxy_ip. */
static void migrate_login_proxy_fields(struct migrate_login *login)
{
	const struct migrate_domain *domain = login->domain;
	const struct migrate_config *config = login->module->auth->config;
	struct auth_request *request = login->request;
	const char *cert = domain->tls_verify && domain->proxy_tls_verify ?
		"yes" : "any-cert";

	auth_request_set_field(request, "proxy", "y", NULL);
	auth_request_set_field(request, "host", domain->legacy_host, NULL);
	auth_request_set_field(request, "hostip", net_ip2addr(&login->proxy_ip), NULL);
	auth_request_set_field(request, "port",
		dec2str(migrate_login_legacy_port(login)), NULL);
	if (domain->tls == MIGRATE_TLS_IMPLICIT)
		auth_request_set_field(request, "ssl", cert, NULL);
	else if (domain->tls == MIGRATE_TLS_STARTTLS)
		auth_request_set_field(request, "starttls", cert, NULL);
	auth_request_set_field(request, "destuser",
			       migrate_login_legacy_user(login), NULL);
	auth_request_set_field(request, "proxy_not_trusted", "y", NULL);
	auth_request_set_field(request, "proxy_timeout",
			       dec2str(config->proxy_timeout_secs), NULL);
}

struct migrate_store *migrate_login_store(struct migrate_login *login)
{
	login->store_ret = -1;
	return migrate_auth_store(login->module->auth, login->error,
				  sizeof(login->error));
}

/* STORE lane: the grant, in the transaction that re-reads the state. */
static void migrate_login_grant(struct migrate_login *login)
{
	struct migrate_store *store = migrate_login_store(login);

	if (store == NULL)
		return;
	login->store_ret = migrate_store_account_proxy_grant(store,
		login->addr.address, migrate_account_now_ms(), &login->fresh,
		&login->granted, login->error, sizeof(login->error));
}

static void migrate_login_answer_fresh(struct migrate_login *login);

static void migrate_login_granted(struct migrate_login *login)
{
	if (login->store_ret < 0) {
		migrate_login_fail_store(login);
		return;
	}
	/* 0: a first login whose account is still being recorded; it
	   cannot be in a cut-over, which needs a complete import first */
	if (login->store_ret > 0 && !login->granted) {
		/* the cut-over started since the state was read */
		login->account = login->fresh;
		migrate_login_answer_fresh(login);
		return;
	}
	migrate_login_proxy_fields(login);
	migrate_login_succeed(login, "proxied to the legacy server",
			      migrate_account_state_name(login->account.state));
}

/* The legacy host's address is known: the grant decides, last of all
   (a resolver that takes its time must not widen the fence's window). */
static void migrate_login_proxy(const struct ip_addr *ip, const char *error,
				struct migrate_login *login)
{
	if (ip == NULL) {
		migrate_login_fail(login, PASSDB_RESULT_INTERNAL_FAILURE,
				   "temporary failure", error);
		return;
	}
	login->proxy_ip = *ip;
	auth_offload_run(login->module->auth->offload, AUTH_OFFLOAD_STORE,
			 migrate_login_grant, migrate_login_granted, login);
}

/* A login whose password is right, answered from login->account as the
   store holds it now. */
static void migrate_login_answer_state(struct migrate_login *login)
{
	struct migrate_auth *auth = login->module->auth;
	const char *state = migrate_account_state_name(login->account.state);

	if (login->account.local && login->account.state != MIGRATE_STATE_CUTOVER) {
		/* `add --messages-only`: the account lives here already */
		migrate_login_succeed(login, "local login", state);
		return;
	}
	switch (login->account.state) {
	case MIGRATE_STATE_MIGRATED:
	case MIGRATE_STATE_PASSWORDS_ONLY:
		migrate_login_succeed(login, "local login", state);
		return;
	case MIGRATE_STATE_CUTOVER:
		migrate_login_refuse(login, CUTOVER_MESSAGE, state);
		return;
	default:
		break;
	}
	switch (auth->config->mode) {
	case MIGRATE_MODE_REFUSE:
		migrate_login_refuse(login, auth->config->refuse_message, state);
		return;
	case MIGRATE_MODE_LOCAL:
		migrate_login_succeed(login, "local login while importing", state);
		return;
	case MIGRATE_MODE_PROXY:
		break;
	}
	if (!migrate_login_proxyable(login)) {
		migrate_login_succeed(login,
			"local login (the legacy server does not speak this protocol)",
			state);
		return;
	}
	legacy_host_resolve(auth->resolver, login->domain->legacy_host,
			    authdb_event(login->request), migrate_login_proxy, login);
}

static void migrate_login_answer_fresh(struct migrate_login *login)
{
	if (login->legacy_verified && !migrate_account_proxied(&login->account) &&
	    login->account.state != MIGRATE_STATE_CUTOVER) {
		/* only the legacy server took this password, and the
		   account has just been moved here: from now on the local
		   password alone decides, at the next login */
		migrate_login_fail(login, PASSDB_RESULT_INTERNAL_FAILURE,
			"temporary failure", t_strdup_printf(
			"account %s meanwhile, the legacy password no longer "
			"counts", migrate_account_state_name(login->account.state)));
		return;
	}
	migrate_login_answer_state(login);
}

/* STORE lane: the account as it is now, after the password check. */
static void migrate_login_reread(struct migrate_login *login)
{
	struct migrate_store *store = migrate_login_store(login);

	if (store == NULL)
		return;
	login->store_ret = migrate_store_account_get(store, login->addr.address,
		&login->fresh, login->error, sizeof(login->error));
}

static void migrate_login_reread_done(struct migrate_login *login)
{
	if (login->store_ret < 0) {
		migrate_login_fail_store(login);
		return;
	}
	/* 0: a first login whose account is still being recorded */
	if (login->store_ret > 0)
		login->account = login->fresh;
	migrate_login_answer_fresh(login);
}

/* A login whose password is right. The state the login was checked
   against was read before the password check, which takes a second or
   more under load; a cut-over may have started meanwhile. So the answer
   comes from the state read again now, and a proxy answer from the
   state read in the transaction that records the grant (the fence,
   doveadm-migrate-cutover.c). */
void migrate_login_answer(struct migrate_login *login)
{
	auth_offload_run(login->module->auth->offload, AUTH_OFFLOAD_STORE,
			 migrate_login_reread, migrate_login_reread_done, login);
}

/* A local session looks its user up in the userdb: such a login is
   answered once the account is recorded, a proxied or refused one at
   once. */
bool migrate_login_needs_account(const struct migrate_login *login)
{
	switch (login->module->auth->config->mode) {
	case MIGRATE_MODE_LOCAL:
		return TRUE;
	case MIGRATE_MODE_PROXY:
		return !migrate_login_proxyable(login);
	case MIGRATE_MODE_REFUSE:
		break;
	}
	return FALSE;
}

