/* userdb driver "migrate": every account the store knows (migrated or
   still migrating) exists, so that LMTP, `doveadm -u` and `doveadm -A`
   find it. uid, gid and home come from the operator's default_fields or
   override_fields, as with any Dovecot userdb:

   userdb {
     driver = migrate
     args = /etc/dovecot-migrate/migrate.conf
     default_fields = uid=vmail gid=vmail home=/var/vmail/%d/%n
   } */

#include "auth-common.h"
#include "array.h"
#include "userdb.h"

#include "dovecot-migrate-config.h"
#include "migrate-auth.h"
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
	struct migrate_address addr;
	int ret;
	struct migrate_account account;
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
	if (store != NULL) {
		lookup->ret = migrate_store_account_get(store, lookup->addr.address,
			&lookup->account, lookup->error, sizeof(lookup->error));
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
		result = USERDB_RESULT_OK;
	}
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
