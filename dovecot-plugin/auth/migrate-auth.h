#ifndef MIGRATE_AUTH_H
#define MIGRATE_AUTH_H

/* What the passdb and the userdb of the auth module share: the config,
   the threads (auth-offload.h), the store (used only from the STORE lane),
   the vault, the legacy host resolver and the login guard. One per
   config file, created by whichever of the two is set up first. */

#include "net.h"
#include "migrate-config.h"
#include "migrate-address.h"
#include "migrate-store.h"
#include "auth-offload.h"

struct auth_request;
struct migrate_vault;

struct migrate_auth {
	int refcount;
	struct migrate_config *config;
	/* started by the first init() in the auth process proper (never in
	   an auth worker, which does not serve this driver) */
	struct auth_offload *offload;
	struct login_guard *guard;
	struct legacy_host_resolver *resolver;
	/* STORE lane only */
	struct migrate_store *store;
	/* opened on the event loop, read-only afterwards (thread-safe) */
	struct migrate_vault *vault;
};

/* Loads the config (a fatal error, with file and line, when it is bad). */
struct migrate_auth *migrate_auth_get(const char *config_path);
void migrate_auth_unref(struct migrate_auth **auth);
void migrate_auth_start(struct migrate_auth *auth, const char *base_dir);

/* Runs a store job: in the STORE lane, or - in an auth worker process,
   where Dovecot runs userdb iteration and blocking is the rule - right
   away (done() then runs before this returns). */
void migrate_auth_store_job(struct migrate_auth *auth, auth_offload_fn *run,
			    auth_offload_fn *done, void *context);
#define migrate_auth_store_job(auth, run, done, context) \
	migrate_auth_store_job(auth, \
		(auth_offload_fn *)(run), (auth_offload_fn *)(done), \
		(void *)((char *)(context) + \
			 CALLBACK_TYPECHECK(run, void (*)(typeof(context))) + \
			 CALLBACK_TYPECHECK(done, void (*)(typeof(context)))))

/* STORE lane (or an auth worker): the store, opened on first use and again after it failed;
   NULL with a reason in error. */
struct migrate_store *migrate_auth_store(struct migrate_auth *auth,
					 char *error, size_t error_size);
/* Event loop: the vault, opened on first use; NULL with a reason. */
struct migrate_vault *migrate_auth_vault(struct migrate_auth *auth,
					 const char **error_r);

/* The account a login or user name belongs to: the migrating domain of
   "user@domain", else of the local IP the client used, else the default
   domain. FALSE when the name is outside every migrating domain or is
   not an address (reason in *error_r). */
bool migrate_auth_account(struct migrate_auth *auth, const char *user,
			  const struct ip_addr *local_ip,
			  struct migrate_address *addr_r,
			  const struct migrate_domain **domain_r,
			  const char **error_r);

#endif
