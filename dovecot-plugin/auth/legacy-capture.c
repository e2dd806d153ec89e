/* Legacy checks shared by identical concurrent logins, and the recording
   of what they establish, see legacy-capture.h. */

#include "auth-common.h"
#include "array.h"
#include "hash.h"
#include "hex-binary.h"
#include "safe-memset.h"

#include "legacy-capture.h"
#include "legacy-check.h"
#include "legacy-host.h"
#include "login-guard.h"
#include "notice-lmtp.h"
#include "migrate-event-log.h"
#include "migrate-secret-seal.h"

#include <stdio.h>

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
	/* logins waiting for the legacy server's answer; once it accepted,
	   the local ones waiting for the record (their userdb needs it) */
	ARRAY_TYPE(migrate_login) waiters;
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
	login->legacy_verified = TRUE;
	migrate_login_answer(login);
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

/* The waiting logins, taken out: answering one may bring new ones. */
static void legacy_capture_take_waiters(struct legacy_capture *capture,
					ARRAY_TYPE(migrate_login) *waiters_r)
{
	t_array_init(waiters_r, array_count(&capture->waiters));
	array_append_array(waiters_r, &capture->waiters);
	array_clear(&capture->waiters);
}

/* Answers every waiting login (an accepted one perhaps only later). */
static void legacy_capture_answer(struct legacy_capture *capture,
				  enum migrate_legacy_result result,
				  const char *reason)
{
	ARRAY_TYPE(migrate_login) waiters;
	struct migrate_login *login;

	legacy_capture_take_waiters(capture, &waiters);
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
	if (migrate_store_account_get(store, capture->address, &account,
				      error, error_size) <= 0)
		return;
	/* a cut-over that finished while the legacy server was asked: from
	   now on the local password alone counts, the legacy one never
	   replaces it */
	if (ret == 0 && (migrate_account_proxied(&account) ||
			 account.state == MIGRATE_STATE_CUTOVER) &&
	    migrate_store_secret_set(store, capture->address, &capture->secret,
				     error, error_size) < 0)
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
	ARRAY_TYPE(migrate_login) waiters;
	struct migrate_login *login;

	legacy_capture_take_waiters(capture, &waiters);
	array_foreach_elem(&waiters, login) {
		if (capture->ret < 0) {
			login->fail_level = LOG_TYPE_ERROR;
			migrate_login_fail(login, PASSDB_RESULT_INTERNAL_FAILURE,
				"temporary failure", t_strdup_printf(
				"recording the account failed: %s", capture->error));
		} else {
			legacy_capture_answer_accepted(login, capture->created ?
				"new account" : "the legacy server accepted it");
		}
	}
}

/* The migration log too (a local append, as Dovecot's own log is); a
   file the auth user cannot write is said once. */
static void legacy_capture_log_event(const struct migrate_config *config,
				     const char *event)
{
	static bool failed = FALSE;

	if (migrate_event_log_append(config->log, NULL, event) < 0 && !failed) {
		failed = TRUE;
		i_warning("migration log %s: %m (make it writable by the auth "
			  "service's user)", config->log);
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
		const char *event = t_strdup_printf("migrate: account %s: %s",
			capture->address, capture->created ?
			"recorded, queued for import" :
			"password updated from the legacy server");

		i_info("%s", event);
		legacy_capture_log_event(module->auth->config, event);
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
	capture->ret = migrate_secret_seal(capture->vault, capture->address,
					   capture->legacy_user, capture->password,
					   &capture->secret, capture->error,
					   sizeof(capture->error));
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

void legacy_capture_check(struct migrate_login *login)
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
		/* a guesser must not flood the log: verbose only */
		login->fail_level = LOG_TYPE_INFO;
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

void legacy_captures_abort(struct migrate_passdb_module *module)
{
	struct hash_iterate_context *iter;
	struct legacy_capture *capture;
	char *key;

	iter = hash_table_iterate_init(module->captures);
	while (hash_table_iterate(iter, module->captures, &key, &capture)) {
		if (capture->check != NULL)
			legacy_check_abort(&capture->check);
	}
	hash_table_iterate_deinit(&iter);
}
