/* passdb driver "migrate": login capture for dovecot-migrate.

   passdb {
     driver = migrate
     args = /etc/dovecot-migrate/migrate.conf
   }

   This version resolves which migrating domain a login belongs to (by its
   @domain, else by the local IP it arrived on, else the default domain)
   and answers every login "user unknown", so the passdb chain goes on to
   the operator's own passdbs: checking passwords against the account
   store (slow hashes, so off the auth process's event loop) and against
   the legacy server is the login-capture work. */

#include "auth-common.h"
#include "passdb.h"

#include "dovecot-migrate-config.h"
#include "migrate-config.h"

struct migrate_passdb_module {
	struct passdb_module module;
	struct migrate_config *config;
};

void authdb_migrate_init(void);
void authdb_migrate_deinit(void);

static struct passdb_module *
migrate_preinit(pool_t pool, const char *args)
{
	struct migrate_passdb_module *module;
	const char *path = args[0] != '\0' ? args : MIGRATE_DEFAULT_CONFIG;
	char error[512];

	module = p_new(pool, struct migrate_passdb_module, 1);
	if (migrate_config_load(path, &module->config, error, sizeof(error)) < 0)
		i_fatal("passdb migrate: %s", error);
	return &module->module;
}

static void migrate_init(struct passdb_module *_module)
{
	struct migrate_passdb_module *module =
		container_of(_module, struct migrate_passdb_module, module);

	i_info("passdb migrate: dovecot-migrate %s loaded, config %s, %u migrating domains",
	       MIGRATE_VERSION, module->config->path,
	       module->config->domain_count);
}

static void migrate_deinit(struct passdb_module *_module)
{
	struct migrate_passdb_module *module =
		container_of(_module, struct migrate_passdb_module, module);

	migrate_config_free(&module->config);
}

static const struct migrate_domain *
migrate_login_domain(const struct migrate_config *config,
		     struct auth_request *request)
{
	const char *at = strrchr(request->fields.user, '@');

	if (at != NULL)
		return migrate_config_find_domain(config, t_str_lcase(at + 1));
	return migrate_config_domain_for_ip(config,
		request->fields.local_ip.family == 0 ? NULL :
		net_ip2addr(&request->fields.local_ip));
}

static void
migrate_verify_plain(struct auth_request *request,
		     const char *password ATTR_UNUSED,
		     verify_plain_callback_t *callback)
{
	struct migrate_passdb_module *module =
		container_of(request->passdb->passdb, struct migrate_passdb_module, module);
	const struct migrate_domain *domain =
		migrate_login_domain(module->config, request);

	if (domain == NULL) {
		e_debug(authdb_event(request), "not in a migrating domain");
	} else {
		e_debug(authdb_event(request),
			"domain %s (legacy host %s): no account record",
			domain->name, domain->legacy_host);
	}
	callback(PASSDB_RESULT_USER_UNKNOWN, request);
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
}

void authdb_migrate_deinit(void)
{
	passdb_unregister_module(&passdb_migrate);
}
