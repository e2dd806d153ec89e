/* userdb driver "migrate": every account the store knows (migrated or
   still migrating) exists, so that LMTP, `doveadm -u` and `doveadm -A`
   find it. uid, gid and home come from the operator's default_fields or
   override_fields, as with any Dovecot userdb:

   userdb {
     driver = migrate
     args = /etc/dovecot-migrate/migrate.conf
     default_fields = uid=vmail gid=vmail home=/var/vmail/%d/%n
   }

   For doveadm (the importer's `doveadm backup -R -u USER imapc:` or
   pop3c:, and the ledger copier `doveadm migrate sweep`) an account also
   gets the imapc_* or pop3c_* settings that reach its legacy mailbox,
   with the credential from the vault, until `finish` wipes that: the
   password never travels on a command line or sits in a config file. No
   other service ever gets them. */

#include "auth-common.h"
#include "array.h"
#include "userdb.h"

#include "dovecot-migrate-config.h"
#include "migrate-auth.h"
#include "migrate-credential.h"
#include "migrate-vault.h"
#include "safe-memset.h"
#include "userdb-migrate.h"

#include <stdio.h>
#include <stdlib.h>

struct migrate_userdb_module {
	struct userdb_module module;
	struct migrate_auth *auth;
};

struct migrate_user_lookup {
	struct migrate_auth *auth;
	struct auth_request *request;
	userdb_callback_t *callback;
	const struct migrate_domain *domain;
	struct migrate_address addr;
	int ret;
	struct migrate_account account;
	/* doveadm: the legacy credential (vault ciphertext) */
	bool want_credential;
	struct migrate_secret secret;
	char error[256];
};

struct migrate_user_iterate {
	struct userdb_iterate_context ctx;
	struct migrate_auth *auth;
	/* filled by the STORE lane with malloc(), read on the event loop */
	char **users;
	size_t count, alloc, next;
	int ret;
	char error[256];
	bool listed, want_next, deinit_pending;
};

/* STORE lane */
static void migrate_user_get(struct migrate_user_lookup *lookup)
{
	struct migrate_store *store;

	lookup->ret = -1;
	store = migrate_auth_store(lookup->auth, lookup->error, sizeof(lookup->error));
	if (store == NULL)
		return;
	lookup->ret = migrate_store_account_get(store, lookup->addr.address,
		&lookup->account, lookup->error, sizeof(lookup->error));
	if (lookup->ret <= 0 || !lookup->want_credential ||
	    lookup->account.state == MIGRATE_STATE_PASSWORDS_ONLY)
		return;
	if (migrate_store_secret_get(store, lookup->addr.address, &lookup->secret,
				     lookup->error, sizeof(lookup->error)) < 0)
		lookup->ret = -1;
}

static void set_field(struct auth_request *request, const char *protocol,
		      const char *name, const char *value)
{
	auth_request_set_userdb_field(request, t_strconcat(protocol, "_", name, NULL),
				      value);
}

/* The settings doveadm's imapc or pop3c storage needs to read this
   account's legacy mailbox. FALSE when there is no usable credential. */
static bool migrate_user_legacy_fields(struct migrate_user_lookup *lookup)
{
	const struct migrate_domain *domain = lookup->domain;
	struct auth_request *request = lookup->request;
	unsigned char plain[MIGRATE_CREDENTIAL_MAX];
	char user[MIGRATE_CREDENTIAL_PART_MAX + 1];
	char password[MIGRATE_CREDENTIAL_PART_MAX + 1];
	struct migrate_vault *vault;
	const char *error, *proto;
	bool pop3 = lookup->account.protocol == MIGRATE_PROTOCOL_POP3;
	size_t len;

	if (lookup->secret.credential_len == 0)
		return FALSE;
	if ((vault = migrate_auth_vault(lookup->auth, &error)) == NULL ||
	    migrate_vault_decrypt(vault, lookup->addr.address,
				  lookup->secret.credential,
				  lookup->secret.credential_len, plain,
				  sizeof(plain), &len, lookup->error,
				  sizeof(lookup->error)) < 0 ||
	    migrate_credential_decode(plain, len, user, password, lookup->error,
				      sizeof(lookup->error)) < 0) {
		e_error(authdb_event(request), "account %s: legacy credential "
			"unusable: %s", lookup->addr.address,
			vault == NULL ? error : lookup->error);
		safe_memset(plain, 0, sizeof(plain));
		return FALSE;
	}
	proto = pop3 ? "pop3c" : "imapc";
	set_field(request, proto, "host", domain->legacy_host);
	/* our importer sends pop3c over TLS through its relay instead
	   (migrate-pop3-relay.h), overriding host, port and ssl */
	set_field(request, proto, "port",
		  dec2str(pop3 ? domain->pop3_port : domain->imap_port));
	set_field(request, proto, "ssl", domain->tls == MIGRATE_TLS_NONE ? "no" :
		  domain->tls == MIGRATE_TLS_STARTTLS ? "starttls" :
		  pop3 ? "pop3s" : "imaps");
	set_field(request, proto, "ssl_verify", domain->tls_verify ? "yes" : "no");
	set_field(request, proto, "user", user);
	set_field(request, proto, "password", password);
	auth_request_set_userdb_field(request, "ssl_client_ca_file", domain->ca_file);
	safe_memset(plain, 0, sizeof(plain));
	safe_memset(password, 0, sizeof(password));
	return TRUE;
}

/* The account's quota (from its CSV line), else migrate.conf's
   default_quota, for Dovecot's quota plugin. */
static void migrate_user_quota(struct migrate_user_lookup *lookup)
{
	uint64_t kbytes = lookup->account.quota_kbytes != 0 ?
		lookup->account.quota_kbytes : lookup->auth->config->default_quota;

	if (kbytes != 0) {
		auth_request_set_userdb_field(lookup->request, "quota_rule",
			t_strdup_printf("*:storage=%"PRIu64"k", kbytes));
	}
}

static void migrate_user_got(struct migrate_user_lookup *lookup)
{
	struct auth_request *request = lookup->request;
	enum userdb_result result;

	if (lookup->ret < 0) {
		e_error(authdb_event(request), "account store: %s", lookup->error);
		result = USERDB_RESULT_INTERNAL_FAILURE;
	} else if (lookup->ret == 0) {
		e_debug(authdb_event(request), "no account %s", lookup->addr.address);
		result = USERDB_RESULT_USER_UNKNOWN;
	} else {
		e_debug(authdb_event(request), "account %s: %s", lookup->addr.address,
			migrate_account_state_name(lookup->account.state));
		if (strcmp(request->fields.user, lookup->addr.address) != 0) {
			auth_request_set_username_forced(request,
							 lookup->addr.address);
		}
		migrate_user_quota(lookup);
		if (lookup->want_credential &&
		    migrate_user_legacy_fields(lookup)) {
			e_debug(authdb_event(request), "account %s: legacy "
				"mailbox settings for the importer",
				lookup->addr.address);
		}
		result = USERDB_RESULT_OK;
	}
	safe_memset(&lookup->secret, 0, sizeof(lookup->secret));
	lookup->callback(result, request);
	auth_request_unref(&request);
	i_free(lookup);
}

static void migrate_user_lookup(struct auth_request *request,
				userdb_callback_t *callback)
{
	struct migrate_userdb_module *module =
		container_of(request->userdb->userdb, struct migrate_userdb_module, module);
	const struct migrate_domain *domain;
	struct migrate_user_lookup *lookup;
	struct migrate_address addr;
	const char *error;

	if (!migrate_auth_account(module->auth, request->fields.user,
				  &request->fields.local_ip, &addr, &domain,
				  &error)) {
		e_debug(authdb_event(request), "not a migrating account: %s", error);
		callback(USERDB_RESULT_USER_UNKNOWN, request);
		return;
	}
	lookup = i_new(struct migrate_user_lookup, 1);
	lookup->auth = module->auth;
	lookup->request = request;
	auth_request_ref(request);
	lookup->callback = callback;
	lookup->addr = addr;
	lookup->domain = domain;
	lookup->want_credential = strcmp(request->fields.service, "doveadm") == 0;
	migrate_auth_store_job(module->auth, migrate_user_get, migrate_user_got,
			       lookup);
}

/* ---- iteration (doveadm -A) ---------------------------------------------- */

static int migrate_user_list_one(const struct migrate_account *account,
				 void *context)
{
	struct migrate_user_iterate *iter = context;

	if (iter->count == iter->alloc) {
		size_t alloc = iter->alloc == 0 ? 256 : iter->alloc * 2;
		char **users = realloc(iter->users, alloc * sizeof(*users));

		if (users == NULL)
			return -1;
		iter->users = users;
		iter->alloc = alloc;
	}
	if ((iter->users[iter->count] = strdup(account->address)) == NULL)
		return -1;
	iter->count++;
	return 0;
}

/* STORE lane: every account, in one read transaction */
static void migrate_user_list(struct migrate_user_iterate *iter)
{
	struct migrate_store *store;

	iter->ret = -1;
	store = migrate_auth_store(iter->auth, iter->error, sizeof(iter->error));
	if (store == NULL)
		return;
	iter->ret = migrate_store_account_iterate(store, migrate_user_list_one,
						  iter, iter->error,
						  sizeof(iter->error));
	if (iter->ret > 0) {
		snprintf(iter->error, sizeof(iter->error), "out of memory");
		iter->ret = -1;
	}
}

static void migrate_user_iterate_free(struct migrate_user_iterate *iter)
{
	size_t i;

	for (i = 0; i < iter->count; i++)
		free(iter->users[i]);
	free(iter->users);
	auth_request_unref(&iter->ctx.auth_request);
	i_free(iter);
}

static void migrate_user_iterate_next(struct userdb_iterate_context *ctx);

static void migrate_user_listed(struct migrate_user_iterate *iter)
{
	iter->listed = TRUE;
	if (iter->ret < 0) {
		e_error(authdb_event(iter->ctx.auth_request),
			"account store: %s", iter->error);
		iter->ctx.failed = TRUE;
	}
	if (iter->deinit_pending) {
		migrate_user_iterate_free(iter);
		return;
	}
	if (iter->want_next) {
		iter->want_next = FALSE;
		migrate_user_iterate_next(&iter->ctx);
	}
}

static struct userdb_iterate_context *
migrate_user_iterate_init(struct auth_request *request,
			  userdb_iter_callback_t *callback, void *context)
{
	struct migrate_userdb_module *module =
		container_of(request->userdb->userdb, struct migrate_userdb_module, module);
	struct migrate_user_iterate *iter = i_new(struct migrate_user_iterate, 1);

	iter->ctx.auth_request = request;
	iter->ctx.callback = callback;
	iter->ctx.context = context;
	iter->auth = module->auth;
	auth_request_ref(request);
	migrate_auth_store_job(module->auth, migrate_user_list,
			       migrate_user_listed, iter);
	return &iter->ctx;
}

static void migrate_user_iterate_next(struct userdb_iterate_context *ctx)
{
	struct migrate_user_iterate *iter =
		container_of(ctx, struct migrate_user_iterate, ctx);

	if (!iter->listed) {
		iter->want_next = TRUE;
		return;
	}
	if (iter->ret < 0 || iter->next == iter->count) {
		ctx->callback(NULL, ctx->context);
		return;
	}
	ctx->callback(iter->users[iter->next++], ctx->context);
}

static int migrate_user_iterate_deinit(struct userdb_iterate_context *ctx)
{
	struct migrate_user_iterate *iter =
		container_of(ctx, struct migrate_user_iterate, ctx);
	int ret = ctx->failed ? -1 : 0;

	if (!iter->listed)
		iter->deinit_pending = TRUE; /* freed when the listing returns */
	else
		migrate_user_iterate_free(iter);
	return ret;
}

/* ---- the driver ------------------------------------------------------------ */

static struct userdb_module *
migrate_userdb_preinit(pool_t pool, const char *args)
{
	struct migrate_userdb_module *module;

	module = p_new(pool, struct migrate_userdb_module, 1);
	module->auth = migrate_auth_get(args[0] != '\0' ? args :
					MIGRATE_DEFAULT_CONFIG);
	return &module->module;
}

static void migrate_userdb_init(struct userdb_module *_module)
{
	struct migrate_userdb_module *module =
		container_of(_module, struct migrate_userdb_module, module);

	migrate_auth_start(module->auth, global_auth_settings->base_dir);
}

static void migrate_userdb_deinit(struct userdb_module *_module)
{
	struct migrate_userdb_module *module =
		container_of(_module, struct migrate_userdb_module, module);

	migrate_auth_unref(&module->auth);
}

static struct userdb_module_interface userdb_migrate = {
	.name = "migrate",
	.preinit = migrate_userdb_preinit,
	.init = migrate_userdb_init,
	.deinit = migrate_userdb_deinit,
	.lookup = migrate_user_lookup,
	.iterate_init = migrate_user_iterate_init,
	.iterate_next = migrate_user_iterate_next,
	.iterate_deinit = migrate_user_iterate_deinit,
};

void userdb_migrate_register(void)
{
	userdb_register_module(&userdb_migrate);
}

void userdb_migrate_unregister(void)
{
	userdb_unregister_module(&userdb_migrate);
}
