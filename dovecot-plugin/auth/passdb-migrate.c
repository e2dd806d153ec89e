/* passdb driver "migrate": login capture for dovecot-migrate.

   passdb {
     driver = migrate
     args = /etc/dovecot-migrate/migrate.conf
   }

   A login in a migrating domain is decided from the account store:
   - migrated (or passwords-only): the stored salted hash decides, the
     legacy server is never asked;
   - known, not yet migrated: the stored hash, and on a mismatch the legacy
     server once (the user may have changed the password there);
   - unknown: the legacy server, over the protocol the client used; a
     success records the account, queues its import and keeps the password
     as a hash and, encrypted, for the importer.
   A successful login before cut-over is proxied to the legacy server,
   refused with a message, or served locally (mode = proxy|refuse|local).
   Logins outside the migrating domains are "user unknown", so the passdb
   chain goes on to the operator's own passdbs.

   Nothing here blocks: hashes and store writes run in threads
   (auth-offload.h), legacy checks on the event loop (legacy-check.h).
   Identical concurrent first logins share one legacy check (a "capture"
   keyed by a fingerprint of account and password). */

#include "auth-common.h"
#include "array.h"
#include "hash.h"
#include "hex-binary.h"
#include "safe-memset.h"
#include "ioloop.h"
#include "str.h"
#include "time-util.h"
#include "passdb.h"
#include "auth.h"

#include "dovecot-migrate-config.h"
#include "migrate-auth.h"
#include "migrate-password.h"
#include "migrate-vault.h"
#include "migrate-credential.h"
#include "legacy-check.h"
#include "legacy-host.h"
#include "login-guard.h"
#include "notice-lmtp.h"
#include "userdb-migrate.h"

#include <stdio.h>

#define CUTOVER_MESSAGE \
	"Your mailbox is being moved to a new server. Please try again in a minute."

struct migrate_passdb_module {
	struct passdb_module module;
	struct migrate_auth *auth;
	/* fingerprint (hex) -> capture in flight */
	HASH_TABLE(char *, struct legacy_capture *) captures;
	/* counts recorded captures: a login whose store lookup is older than
	   the last one looks again before asking the legacy server */
	unsigned int record_generation;
};

struct migrate_login {
	struct migrate_passdb_module *module;
	struct auth_request *request;
	verify_plain_callback_t *callback;
	const struct migrate_domain *domain;
	struct migrate_address addr;
	/* the user name as the client gave it (legacy_user's %u) */
	char *typed_user;
	char *password;
	enum migrate_protocol protocol;
	struct timeval started;
	/* what a legacy check did on the way, for the log (static string) */
	const char *note;
	unsigned int lookup_generation;
	bool looked_again;

	/* STORE lane results */
	int store_ret;
	char error[256];
	struct migrate_account account;
	char password_hash[MIGRATE_SECRET_HASH_MAX + 1];
	/* CRYPT lane result: 1 match, 0 mismatch, -1 unusable hash or a
	   hash that could not be computed (verify_errno) */
	int verify_ret, verify_errno;
};

/* One legacy check and the recording of its result, shared by every
   login of the same account with the same password meanwhile. The logins
   are answered as soon as the legacy server has spoken; hashing and
   recording go on in the background, with the capture's own copies. */
struct legacy_capture {
	struct migrate_passdb_module *module;
	char *key;
	char address[MIGRATE_ADDRESS_MAX + 1];
	const struct migrate_domain *domain;
	enum migrate_protocol protocol;
	/* the login that is checked, and kept for the importer */
	char *legacy_user, *password;
	/* logins waiting for the legacy server's answer */
	ARRAY(struct migrate_login *) waiters;
	struct legacy_check *check;
	/* the legacy server accepted the password: later logins with it are
	   answered at once */
	bool accepted;

	/* CRYPT lane, then STORE lane */
	struct migrate_vault *vault;
	struct migrate_secret secret;
	int ret;
	char error[256];
	bool created;
};

void authdb_migrate_init(void);
void authdb_migrate_deinit(void);

static void migrate_login_start_lookup(struct migrate_login *login);

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

static void migrate_login_log(struct migrate_login *login, const char *decision,
			      const char *reason)
{
	struct timeval now;

	i_gettimeofday(&now);
	if (login->note != NULL)
		reason = t_strdup_printf("%s; %s", reason, login->note);
	e_info(authdb_event(login->request),
	       "account %s: %s (%s), %d ms", login->addr.address, decision,
	       reason, timeval_diff_msecs(&now, &login->started));
}

/* Ends the login with a failure result. */
static void migrate_login_fail(struct migrate_login *login,
			       enum passdb_result result, const char *decision,
			       const char *reason)
{
	migrate_login_log(login, decision, reason);
	if (result == PASSDB_RESULT_PASSWORD_MISMATCH)
		auth_request_log_password_mismatch(login->request, AUTH_SUBSYS_DB);
	login->callback(result, login->request);
	migrate_login_free(login);
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

static in_port_t migrate_login_legacy_port(const struct migrate_login *login)
{
	return login->protocol == MIGRATE_PROTOCOL_POP3 ?
		login->domain->pop3_port : login->domain->imap_port;
}

/* The legacy login name: %u as typed, %n local part, %d domain. */
static const char *migrate_login_legacy_user(const struct migrate_login *login)
{
	const char *p, *tmpl = login->domain->legacy_user;
	string_t *str = t_str_new(128);

	if (tmpl == NULL)
		return login->typed_user;
	for (p = tmpl; *p != '\0'; p++) {
		if (*p != '%' || p[1] == '\0') {
			str_append_c(str, *p);
			continue;
		}
		switch (*++p) {
		case 'u': str_append(str, login->typed_user); break;
		case 'n': str_append(str, login->addr.local); break;
		case 'd': str_append(str, login->addr.domain); break;
		case '%': str_append_c(str, '%'); break;
		default: str_append_c(str, '%'); str_append_c(str, *p); break;
		}
	}
	return str_c(str);
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

static void migrate_login_proxy(const struct ip_addr *ip, const char *error,
				struct migrate_login *login)
{
	const struct migrate_domain *domain = login->domain;
	const struct migrate_config *config = login->module->auth->config;
	struct auth_request *request = login->request;
	const char *cert = domain->tls_verify && domain->proxy_tls_verify ?
		"yes" : "any-cert";

	if (ip == NULL) {
		migrate_login_fail(login, PASSDB_RESULT_INTERNAL_FAILURE,
				   "temporary failure", error);
		return;
	}
	auth_request_set_field(request, "proxy", "y", NULL);
	auth_request_set_field(request, "host", domain->legacy_host, NULL);
	auth_request_set_field(request, "hostip", net_ip2addr(ip), NULL);
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
	migrate_login_succeed(login, "proxied to the legacy server",
			      migrate_account_state_name(login->account.state));
}

/* A login whose password is right: what the account's state gives. */
static void migrate_login_answer(struct migrate_login *login)
{
	struct migrate_auth *auth = login->module->auth;
	const char *state = migrate_account_state_name(login->account.state);

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

/* ---- legacy checks ---------------------------------------------------- */

static void legacy_capture_free(struct legacy_capture *capture)
{
	hash_table_remove(capture->module->captures, capture->key);
	safe_memset(&capture->secret, 0, sizeof(capture->secret));
	safe_memset(capture->password, 0, strlen(capture->password));
	i_free(capture->password);
	i_free(capture->legacy_user);
	array_free(&capture->waiters);
	i_free(capture->key);
	i_free(capture);
}

/* The state a login whose password the legacy server just accepted is
   answered with: its account's, or "queued" for a new one or one whose
   failed import the recording sends back to the queue. */
static void legacy_capture_answer_accepted(struct migrate_login *login,
					   const char *note)
{
	if (login->account.state == MIGRATE_STATE_UNKNOWN ||
	    login->account.state == MIGRATE_STATE_FAILED)
		login->account.state = MIGRATE_STATE_QUEUED;
	login->note = note;
	migrate_login_answer(login);
}

/* A local session looks its user up in the userdb: such a login is
   answered once the account is recorded, a proxied or refused one at
   once. */
static bool migrate_login_needs_account(const struct migrate_login *login)
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

/* A login whose password the legacy server accepted: answered now, or
   when the capture is recorded. */
static void legacy_capture_accept(struct legacy_capture *capture,
				  struct migrate_login *login, const char *note)
{
	if (migrate_login_needs_account(login))
		array_push_back(&capture->waiters, &login);
	else
		legacy_capture_answer_accepted(login, note);
}

/* Answers every waiting login (an accepted one perhaps only later). */
static void legacy_capture_answer(struct legacy_capture *capture,
				  enum migrate_legacy_result result,
				  const char *reason)
{
	ARRAY(struct migrate_login *) waiters;
	struct migrate_login *login;

	t_array_init(&waiters, array_count(&capture->waiters));
	array_append_array(&waiters, &capture->waiters);
	array_clear(&capture->waiters);
	array_foreach_elem(&waiters, login) {
		switch (result) {
		case MIGRATE_LEGACY_OK:
			legacy_capture_accept(capture, login, reason);
			break;
		case MIGRATE_LEGACY_MISMATCH:
			migrate_login_fail(login, PASSDB_RESULT_PASSWORD_MISMATCH,
					   "legacy server refused the password",
					   reason);
			break;
		default:
			migrate_login_fail(login, PASSDB_RESULT_INTERNAL_FAILURE,
					   "temporary failure", reason);
			break;
		}
	}
}

/* STORE lane: records the account (new: queued for import) or its new
   password, and sends a failed import back to the queue. */
static void legacy_capture_record(struct legacy_capture *capture)
{
	struct migrate_auth *auth = capture->module->auth;
	struct migrate_store *store;
	struct migrate_account account;
	char *error = capture->error;
	size_t error_size = sizeof(capture->error);
	int ret;

	capture->ret = -1;
	if ((store = migrate_auth_store(auth, error, error_size)) == NULL)
		return;
	memset(&account, 0, sizeof(account));
	snprintf(account.address, sizeof(account.address), "%s", capture->address);
	snprintf(account.domain, sizeof(account.domain), "%s", capture->domain->name);
	account.state = MIGRATE_STATE_QUEUED;
	account.protocol = capture->protocol;
	ret = migrate_store_account_create(store, &account, &capture->secret,
					   error, error_size);
	if (ret < 0)
		return;
	capture->created = ret > 0;
	if (ret == 0 &&
	    migrate_store_secret_set(store, capture->address, &capture->secret,
				     error, error_size) < 0)
		return;
	if (migrate_store_account_get(store, capture->address, &account,
				      error, error_size) <= 0)
		return;
	if (account.state == MIGRATE_STATE_FAILED &&
	    migrate_store_account_transition(store, capture->address,
			MIGRATE_STATE_FAILED, MIGRATE_STATE_QUEUED, NULL, 0,
			error, error_size) < 0)
		return;
	capture->ret = 0;
}

/* Answers the logins that waited for the account to be recorded. */
static void legacy_capture_answer_recorded(struct legacy_capture *capture)
{
	ARRAY(struct migrate_login *) waiters;
	struct migrate_login *login;

	t_array_init(&waiters, array_count(&capture->waiters));
	array_append_array(&waiters, &capture->waiters);
	array_clear(&capture->waiters);
	array_foreach_elem(&waiters, login) {
		if (capture->ret < 0) {
			migrate_login_fail(login, PASSDB_RESULT_INTERNAL_FAILURE,
				"temporary failure", t_strdup_printf(
				"recording the account failed: %s", capture->error));
		} else {
			legacy_capture_answer_accepted(login, capture->created ?
				"new account" : "the legacy server accepted it");
		}
	}
}

static void legacy_capture_recorded(struct legacy_capture *capture)
{
	struct migrate_passdb_module *module = capture->module;

	module->record_generation++;
	if (capture->ret < 0) {
		/* proxied logins went through; the next one records it */
		i_error("migrate: account %s: recording the legacy password "
			"failed: %s", capture->address, capture->error);
	} else {
		i_info("migrate: account %s: %s", capture->address,
		       capture->created ? "recorded, queued for import" :
		       "password updated from the legacy server");
		if (capture->created &&
		    module->auth->config->mode == MIGRATE_MODE_REFUSE)
			notice_lmtp_send(module->auth->config, capture->address);
	}
	legacy_capture_answer_recorded(capture);
	legacy_capture_free(capture);
}

/* CRYPT lane: the hash for local logins and the credential for the
   importer, from the password the legacy server just accepted. */
static void legacy_capture_seal(struct legacy_capture *capture)
{
	unsigned char plain[MIGRATE_CREDENTIAL_MAX];
	int len;

	capture->ret = -1;
	if (migrate_password_hash(capture->password, capture->secret.password_hash,
				  sizeof(capture->secret.password_hash),
				  capture->error, sizeof(capture->error)) < 0)
		return;
	len = migrate_credential_encode(capture->legacy_user, capture->password,
					plain, sizeof(plain), capture->error,
					sizeof(capture->error));
	if (len < 0)
		return;
	if (migrate_vault_encrypt(capture->vault, capture->address, plain,
				  (size_t)len, capture->secret.credential,
				  sizeof(capture->secret.credential),
				  &capture->secret.credential_len,
				  capture->error, sizeof(capture->error)) == 0)
		capture->ret = 0;
	explicit_bzero(plain, sizeof(plain));
}

static void legacy_capture_sealed(struct legacy_capture *capture)
{
	if (capture->ret < 0) {
		i_error("migrate: account %s: sealing the legacy password failed: %s",
			capture->address, capture->error);
		legacy_capture_answer_recorded(capture);
		legacy_capture_free(capture);
		return;
	}
	auth_offload_run(capture->module->auth->offload, AUTH_OFFLOAD_STORE,
			 legacy_capture_record, legacy_capture_recorded, capture);
}

static void legacy_capture_checked(enum migrate_legacy_result result,
				   const char *reason,
				   struct legacy_capture *capture)
{
	struct migrate_auth *auth = capture->module->auth;
	const char *error;

	capture->check = NULL;
	if (result == MIGRATE_LEGACY_MISMATCH) {
		unsigned char fp[LOGIN_GUARD_FINGERPRINT_SIZE];

		login_guard_fingerprint(auth->guard, capture->address,
					capture->password, fp);
		login_guard_remember_failure(auth->guard, fp);
	}
	if (result == MIGRATE_LEGACY_OK &&
	    (capture->vault = migrate_auth_vault(auth, &error)) == NULL) {
		/* a success nobody could record would leave the account
		   unknown forever: better a temporary failure, clearly logged */
		result = MIGRATE_LEGACY_TEMPFAIL;
		reason = t_strdup_printf("the vault is unusable: %s", error);
	}
	if (result != MIGRATE_LEGACY_OK) {
		legacy_capture_answer(capture, result, reason);
		legacy_capture_free(capture);
		return;
	}
	capture->accepted = TRUE;
	legacy_capture_answer(capture, result, capture->created ?
			      "new account" : "the legacy server accepted it");
	auth_offload_run(auth->offload, AUTH_OFFLOAD_CRYPT,
			 legacy_capture_seal, legacy_capture_sealed, capture);
}

static void legacy_capture_connect(const struct ip_addr *ip, const char *error,
				   struct legacy_capture *capture)
{
	struct migrate_login *leader = array_idx_elem(&capture->waiters, 0);
	const struct migrate_domain *domain = capture->domain;
	struct legacy_check_settings set;

	if (ip == NULL) {
		legacy_capture_answer(capture, MIGRATE_LEGACY_TEMPFAIL, error);
		legacy_capture_free(capture);
		return;
	}
	i_zero(&set);
	set.ip = *ip;
	set.host = domain->legacy_host;
	set.port = migrate_login_legacy_port(leader);
	set.protocol = capture->protocol;
	set.tls = domain->tls;
	set.tls_verify = domain->tls_verify;
	set.ca_file = domain->ca_file;
	set.user = capture->legacy_user;
	set.password = capture->password;
	set.timeout_msecs = capture->module->auth->config->legacy_timeout_secs * 1000;
	capture->check = legacy_check_start(&set, authdb_event(leader->request),
					    legacy_capture_checked, capture);
}

/* Checks the password on the legacy server, or joins the check of the
   same account and password already running. */
static void migrate_login_check_legacy(struct migrate_login *login)
{
	struct migrate_passdb_module *module = login->module;
	struct login_guard *guard = module->auth->guard;
	unsigned char fp[LOGIN_GUARD_FINGERPRINT_SIZE];
	struct legacy_capture *capture;
	const char *key, *limit;

	if (login->lookup_generation != module->record_generation &&
	    !login->looked_again) {
		/* a capture was recorded since our lookup: perhaps ours, by a
		   login of the same account that was a moment quicker */
		login->looked_again = TRUE;
		migrate_login_start_lookup(login);
		return;
	}

	if (migrate_login_legacy_port(login) == 0) {
		migrate_login_fail(login, PASSDB_RESULT_INTERNAL_FAILURE,
				   "temporary failure",
				   "no legacy IMAP or POP3 port configured");
		return;
	}
	login_guard_fingerprint(guard, login->addr.address, login->password, fp);
	key = binary_to_hex(fp, sizeof(fp));
	capture = hash_table_lookup(module->captures, key);
	if (capture != NULL && capture->accepted) {
		legacy_capture_accept(capture, login, "the legacy server accepted it");
		return;
	}
	if (capture != NULL) {
		array_push_back(&capture->waiters, &login);
		return;
	}
	if (login_guard_failed_recently(guard, fp)) {
		migrate_login_fail(login, PASSDB_RESULT_PASSWORD_MISMATCH,
				   "password refused",
				   "the legacy server refused it moments ago");
		return;
	}
	if (!login_guard_allow_check(guard, login->addr.address,
				     &login->request->fields.remote_ip, &limit)) {
		migrate_login_fail(login, PASSDB_RESULT_INTERNAL_FAILURE,
				   "temporary failure", t_strdup_printf(
				   "too many legacy checks for this %s", limit));
		return;
	}
	capture = i_new(struct legacy_capture, 1);
	capture->module = module;
	capture->key = i_strdup(key);
	memcpy(capture->address, login->addr.address, sizeof(capture->address));
	capture->domain = login->domain;
	capture->protocol = login->protocol;
	capture->password = i_strdup(login->password);
	capture->legacy_user = i_strdup(migrate_login_legacy_user(login));
	/* only a login that found no account at all creates one */
	capture->created = login->account.state == MIGRATE_STATE_UNKNOWN;
	i_array_init(&capture->waiters, 4);
	array_push_back(&capture->waiters, &login);
	hash_table_insert(module->captures, capture->key, capture);
	legacy_host_resolve(module->auth->resolver, login->domain->legacy_host,
			    authdb_event(login->request), legacy_capture_connect,
			    capture);
}

/* ---- known accounts ---------------------------------------------------- */

/* CRYPT lane */
static void migrate_login_verify(struct migrate_login *login)
{
	errno = 0;
	login->verify_ret = migrate_password_verify(login->password,
						    login->password_hash);
	login->verify_errno = errno;
	safe_memset(login->password_hash, 0, sizeof(login->password_hash));
}

static void migrate_login_verified(struct migrate_login *login)
{
	const char *state = migrate_account_state_name(login->account.state);
	bool local_only = login->account.state == MIGRATE_STATE_MIGRATED ||
		login->account.state == MIGRATE_STATE_PASSWORDS_ONLY;

	if (login->verify_ret > 0) {
		if (login->account.state == MIGRATE_STATE_FAILED) {
			/* the user is back: give the import another go */
			migrate_login_check_legacy(login);
			return;
		}
		migrate_login_answer(login);
		return;
	}
	if (login->verify_ret < 0 && login->verify_errno == ENOMEM) {
		migrate_login_fail(login, PASSDB_RESULT_INTERNAL_FAILURE,
			"temporary failure", "out of memory computing the password "
			"hash (raise service auth { vsz_limit })");
		return;
	}
	if (login->verify_ret < 0) {
		e_error(authdb_event(login->request),
			"account %s: stored password hash is unusable",
			login->addr.address);
	}
	if (local_only) {
		migrate_login_fail(login, PASSDB_RESULT_PASSWORD_MISMATCH,
				   "password refused", state);
		return;
	}
	/* before cut-over the legacy server is the authority */
	migrate_login_check_legacy(login);
}

/* STORE lane */
static void migrate_login_lookup(struct migrate_login *login)
{
	struct migrate_store *store;
	struct migrate_secret secret;
	const char *address = login->addr.address;

	login->store_ret = -1;
	store = migrate_auth_store(login->module->auth, login->error,
				   sizeof(login->error));
	if (store == NULL)
		return;
	login->store_ret = migrate_store_account_get(store, address, &login->account,
						     login->error, sizeof(login->error));
	if (login->store_ret <= 0)
		return;
	login->store_ret = migrate_store_secret_get(store, address, &secret,
						    login->error, sizeof(login->error));
	if (login->store_ret > 0) {
		memcpy(login->password_hash, secret.password_hash,
		       sizeof(login->password_hash));
	} else if (login->store_ret == 0) {
		/* an account without its secret: the legacy server decides */
		login->password_hash[0] = '\0';
		login->store_ret = 1;
	}
	safe_memset(&secret, 0, sizeof(secret));
}

static void migrate_login_looked_up(struct migrate_login *login)
{
	login->lookup_generation = login->module->record_generation;
	if (login->store_ret < 0) {
		migrate_login_fail(login, PASSDB_RESULT_INTERNAL_FAILURE,
				   "temporary failure", t_strdup_printf(
				   "account store: %s", login->error));
		return;
	}
	if (login->store_ret == 0) {
		login->account.state = MIGRATE_STATE_UNKNOWN;
		migrate_login_check_legacy(login);
		return;
	}
	if (login->account.state == MIGRATE_STATE_UNKNOWN) {
		/* "unknown" is never stored; a record claiming it is damaged */
		migrate_login_fail(login, PASSDB_RESULT_INTERNAL_FAILURE,
				   "temporary failure", "account record has no state");
		return;
	}
	auth_offload_run(login->module->auth->offload, AUTH_OFFLOAD_CRYPT,
			 migrate_login_verify, migrate_login_verified, login);
}

static void migrate_login_start_lookup(struct migrate_login *login)
{
	auth_offload_run(login->module->auth->offload, AUTH_OFFLOAD_STORE,
			 migrate_login_lookup, migrate_login_looked_up, login);
}

/* ---- the driver --------------------------------------------------------- */

/* The protocol a legacy check uses: the client's own when the legacy
   server offers it, else the other one. */
static enum migrate_protocol
migrate_login_protocol(const struct migrate_domain *domain, const char *service)
{
	if (strcmp(service, "pop3") == 0)
		return domain->pop3_port != 0 ?
			MIGRATE_PROTOCOL_POP3 : MIGRATE_PROTOCOL_IMAP;
	return domain->imap_port != 0 ?
		MIGRATE_PROTOCOL_IMAP : MIGRATE_PROTOCOL_POP3;
}

/* The operator's own passdbs come before ours in the chain. Dovecot
   goes on to the next passdb after "user unknown" and after "password
   mismatch" alike, but remembers only the former: so when an earlier
   passdb did not say "unknown", it knows this user (or failed), and the
   legacy server must never be asked. */
static bool migrate_earlier_passdb_knows(struct auth_request *request,
					 const char **reason_r)
{
	if (auth_request_get_auth(request)->passdbs == request->passdb)
		return FALSE;
	if (request->passdbs_seen_internal_failure) {
		*reason_r = "an earlier passdb failed";
		return TRUE;
	}
	if (!request->passdbs_seen_user_unknown) {
		*reason_r = "an earlier passdb knows this user";
		return TRUE;
	}
	return FALSE;
}

static void
migrate_verify_plain(struct auth_request *request, const char *password,
		     verify_plain_callback_t *callback)
{
	struct migrate_passdb_module *module =
		container_of(request->passdb->passdb, struct migrate_passdb_module, module);
	const struct migrate_domain *domain;
	struct migrate_login *login;
	struct migrate_address addr;
	const char *error;

	if (!migrate_auth_account(module->auth, request->fields.user,
				  &request->fields.local_ip, &addr, &domain,
				  &error)) {
		e_debug(authdb_event(request), "not a migrating account: %s", error);
		callback(PASSDB_RESULT_USER_UNKNOWN, request);
		return;
	}
	if (migrate_earlier_passdb_knows(request, &error)) {
		e_info(authdb_event(request), "account %s: not ours (%s)",
		       addr.address, error);
		callback(request->passdbs_seen_internal_failure ?
			 PASSDB_RESULT_INTERNAL_FAILURE :
			 PASSDB_RESULT_PASSWORD_MISMATCH, request);
		return;
	}
	login = i_new(struct migrate_login, 1);
	login->module = module;
	login->request = request;
	auth_request_ref(request);
	login->callback = callback;
	login->domain = domain;
	login->addr = addr;
	login->typed_user = i_strdup(request->fields.user);
	login->password = i_strdup(password);
	login->protocol = migrate_login_protocol(domain, request->fields.service);
	i_gettimeofday(&login->started);
	migrate_login_start_lookup(login);
}

static struct passdb_module *
migrate_preinit(pool_t pool, const char *args)
{
	struct migrate_passdb_module *module;

	module = p_new(pool, struct migrate_passdb_module, 1);
	module->auth = migrate_auth_get(args[0] != '\0' ? args :
					MIGRATE_DEFAULT_CONFIG);
	/* every answer depends on the store and the legacy server, which
	   change under us: never cache */
	module->module.default_cache_key = NULL;
	return &module->module;
}

static void migrate_init(struct passdb_module *_module)
{
	struct migrate_passdb_module *module =
		container_of(_module, struct migrate_passdb_module, module);
	const struct migrate_config *config = module->auth->config;

	hash_table_create(&module->captures, default_pool, 0, str_hash, strcmp);
	migrate_auth_start(module->auth, global_auth_settings->base_dir);
	i_info("passdb migrate: dovecot-migrate %s loaded, config %s, "
	       "%u migrating domains, mode %s", MIGRATE_VERSION, config->path,
	       config->domain_count,
	       config->mode == MIGRATE_MODE_PROXY ? "proxy" :
	       config->mode == MIGRATE_MODE_REFUSE ? "refuse" : "local");
}

static void migrate_deinit(struct passdb_module *_module)
{
	struct migrate_passdb_module *module =
		container_of(_module, struct migrate_passdb_module, module);

	if (hash_table_is_created(module->captures)) {
		struct hash_iterate_context *iter;
		struct legacy_capture *capture;
		char *key;

		/* shutting down: checks in flight must not outlive the loop */
		iter = hash_table_iterate_init(module->captures);
		while (hash_table_iterate(iter, module->captures, &key, &capture)) {
			if (capture->check != NULL)
				legacy_check_abort(&capture->check);
		}
		hash_table_iterate_deinit(&iter);
		hash_table_destroy(&module->captures);
	}
	migrate_auth_unref(&module->auth);
}

static struct passdb_module_interface passdb_migrate = {
	.name = "migrate",
	.preinit = migrate_preinit,
	.init = migrate_init,
	.deinit = migrate_deinit,
	.verify_plain = migrate_verify_plain,
};

void authdb_migrate_init(void)
{
	passdb_register_module(&passdb_migrate);
	userdb_migrate_register();
}

void authdb_migrate_deinit(void)
{
	passdb_unregister_module(&passdb_migrate);
	userdb_migrate_unregister();
}
