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

   This file: the known-account path (store lookup, hash check) and the
   driver; migrate-login.c: the answers; legacy-capture.c: the legacy
   checks, shared by identical concurrent logins, and the recording.
   Nothing blocks: hashes and store writes run in threads (auth-offload.h),
   legacy checks on the event loop (legacy-check.h). */

#include "auth-common.h"
#include "hash.h"
#include "safe-memset.h"
#include "time-util.h"
#include "auth.h"

#include "dovecot-migrate-config.h"
#include "migrate-password.h"
#include "migrate-login.h"
#include "legacy-capture.h"
#include "userdb-migrate.h"

void authdb_migrate_init(void);
void authdb_migrate_deinit(void);

/* ---- known accounts ---------------------------------------------------- */

/* CRYPT lane */
static void migrate_login_verify(struct migrate_login *login)
{
	errno = 0;
	/* no stored hash: a local account whose password another passdb
	   holds, or an account whose secret is missing */
	login->verify_ret = login->password_hash[0] == '\0' ? 0 :
		migrate_password_verify(login->password, login->password_hash);
	login->verify_errno = errno;
	safe_memset(login->password_hash, 0, sizeof(login->password_hash));
}

static void migrate_login_verified(struct migrate_login *login)
{
	const char *state = migrate_account_state_name(login->account.state);
	bool local_only = login->account.state == MIGRATE_STATE_MIGRATED ||
		login->account.state == MIGRATE_STATE_PASSWORDS_ONLY ||
		login->account.local;

	if (login->verify_ret > 0) {
		if (login->account.state == MIGRATE_STATE_FAILED && !local_only) {
			/* the user is back: give the import another go */
			legacy_capture_check(login);
			return;
		}
		migrate_login_answer(login);
		return;
	}
	if (login->verify_ret < 0 && login->verify_errno == ENOMEM) {
		login->fail_level = LOG_TYPE_ERROR;
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
	legacy_capture_check(login);
}

/* STORE lane */
static void migrate_login_lookup(struct migrate_login *login)
{
	struct migrate_store *store = migrate_login_store(login);
	struct migrate_secret secret;
	const char *address = login->addr.address;

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
		migrate_login_fail_store(login);
		return;
	}
	if (login->store_ret == 0) {
		login->account.state = MIGRATE_STATE_UNKNOWN;
		legacy_capture_check(login);
		return;
	}
	if (login->account.state == MIGRATE_STATE_UNKNOWN) {
		/* "unknown" is never stored; a record claiming it is damaged */
		login->fail_level = LOG_TYPE_ERROR;
		migrate_login_fail(login, PASSDB_RESULT_INTERNAL_FAILURE,
				   "temporary failure", "account record has no state");
		return;
	}
	auth_offload_run(login->module->auth->offload, AUTH_OFFLOAD_CRYPT,
			 migrate_login_verify, migrate_login_verified, login);
}

void migrate_login_start_lookup(struct migrate_login *login)
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
		e_log(authdb_event(request), request->passdbs_seen_internal_failure ?
		      LOG_TYPE_WARNING : LOG_TYPE_INFO,
		      "account %s: not ours (%s)", addr.address, error);
		callback(request->passdbs_seen_internal_failure ?
			 PASSDB_RESULT_INTERNAL_FAILURE :
			 PASSDB_RESULT_PASSWORD_MISMATCH, request);
		return;
	}
	login = i_new(struct migrate_login, 1);
	login->fail_level = LOG_TYPE_WARNING;
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
		/* shutting down: checks in flight must not outlive the loop */
		legacy_captures_abort(module);
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
