/* State shared by the migrate passdb and userdb, see migrate-auth.h. */

#include "auth-common.h"
#include "migrate-auth.h"
#include "legacy-host.h"
#include "login-guard.h"
#include "migrate-vault.h"

#include <sys/resource.h>
#include <unistd.h>

#define DNS_CLIENT_SOCKET_NAME "dns-client"
#define MIGRATE_DNS_TIMEOUT_MSECS 5000

/* the passdb and the userdb name the same file; one instance serves both */
static struct migrate_auth *migrate_auth_instance;

struct migrate_auth *migrate_auth_get(const char *config_path)
{
	struct migrate_auth *auth = migrate_auth_instance;
	char error[512];

	if (auth != NULL) {
		if (strcmp(auth->config->path, config_path) != 0) {
			i_fatal("migrate: passdb and userdb must use one config "
				"file (%s and %s)", auth->config->path, config_path);
		}
		auth->refcount++;
		return auth;
	}
	auth = i_new(struct migrate_auth, 1);
	auth->refcount = 1;
	if (migrate_config_load(config_path, &auth->config,
				error, sizeof(error)) < 0)
		i_fatal("migrate: %s", error);
	migrate_auth_instance = auth;
	return auth;
}

static unsigned int migrate_auth_crypt_threads(const struct migrate_config *config)
{
	long cpus;

	if (config->hash_threads > 0)
		return config->hash_threads;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus < 1 ? 1 : (unsigned int)cpus;
}

/* Dovecot caps each process's address space (vsz_limit, 256 MB by
   default). The store is memory-mapped (its map grows with the accounts)
   and each yescrypt hash takes 16 MiB while it runs: past the cap, hashes
   fail and the store cannot grow. Say so at start, not at the first
   failed login. */
static void migrate_auth_check_vsz(unsigned int crypt_threads)
{
	const rlim_t mib = 1024 * 1024;
	rlim_t wanted = (256 + 32 * (rlim_t)crypt_threads) * mib;
	struct rlimit rl;

	if (getrlimit(RLIMIT_AS, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= wanted)
		return;
	i_warning("migrate: the auth process may use only %llu MB of address space "
		  "(vsz_limit); with the account store and %u hashing threads it "
		  "needs at least %llu MB: set service auth { vsz_limit = 1G } "
		  "or more for large stores",
		  (unsigned long long)(rl.rlim_cur / mib), crypt_threads,
		  (unsigned long long)(wanted / mib));
}

void migrate_auth_start(struct migrate_auth *auth, const char *base_dir)
{
	unsigned int crypt_threads;

	if (auth->offload != NULL || worker)
		return;
	crypt_threads = migrate_auth_crypt_threads(auth->config);
	migrate_auth_check_vsz(crypt_threads);
	auth->offload = auth_offload_init(crypt_threads);
	auth->guard = login_guard_init(auth->config);
	auth->resolver = legacy_host_resolver_init(
		t_strconcat(base_dir, "/"DNS_CLIENT_SOCKET_NAME, NULL),
		MIGRATE_DNS_TIMEOUT_MSECS);
}

void migrate_auth_unref(struct migrate_auth **_auth)
{
	struct migrate_auth *auth = *_auth;

	*_auth = NULL;
	if (--auth->refcount > 0)
		return;
	/* threads first: a running job may still use the store or vault */
	if (auth->offload != NULL)
		auth_offload_deinit(&auth->offload);
	if (auth->guard != NULL)
		login_guard_deinit(&auth->guard);
	if (auth->resolver != NULL)
		legacy_host_resolver_deinit(&auth->resolver);
	if (auth->store != NULL)
		migrate_store_close(&auth->store);
	if (auth->vault != NULL)
		migrate_vault_close(&auth->vault);
	migrate_config_free(&auth->config);
	migrate_auth_instance = NULL;
	i_free(auth);
}

#undef migrate_auth_store_job
void migrate_auth_store_job(struct migrate_auth *auth, auth_offload_fn *run,
			    auth_offload_fn *done, void *context)
{
	if (auth->offload == NULL) {
		run(context);
		done(context);
		return;
	}
	/* the callbacks were type-checked by our own macro */
	(auth_offload_run)(auth->offload, AUTH_OFFLOAD_STORE, run, done, context);
}

struct migrate_store *migrate_auth_store(struct migrate_auth *auth,
					 char *error, size_t error_size)
{
	struct migrate_store_settings set;

	if (auth->store != NULL)
		return auth->store;
	migrate_store_settings_from_config(&set, auth->config, MIGRATE_STORE_WRITE);
	if (migrate_store_open(&set, &auth->store, error, error_size) < 0)
		return NULL;
	return auth->store;
}

struct migrate_vault *migrate_auth_vault(struct migrate_auth *auth,
					 const char **error_r)
{
	char error[512];

	if (auth->vault == NULL &&
	    migrate_vault_open(auth->config->vault_key, NULL, &auth->vault,
			       error, sizeof(error)) < 0) {
		*error_r = t_strdup(error);
		return NULL;
	}
	return auth->vault;
}

bool migrate_auth_account(struct migrate_auth *auth, const char *user,
			  const struct ip_addr *local_ip,
			  struct migrate_address *addr_r,
			  const struct migrate_domain **domain_r,
			  const char **error_r)
{
	const struct migrate_domain *domain;
	char error[256];

	if (strchr(user, '@') == NULL) {
		domain = migrate_config_domain_for_ip(auth->config,
			local_ip->family == 0 ? NULL : net_ip2addr(local_ip));
		if (domain == NULL) {
			*error_r = "no domain given and none bound to the local IP";
			return FALSE;
		}
		user = t_strconcat(user, "@", domain->name, NULL);
	}
	if (migrate_config_account(auth->config, user, addr_r, domain_r,
				   error, sizeof(error)) < 0) {
		*error_r = t_strdup(error);
		return FALSE;
	}
	return TRUE;
}
