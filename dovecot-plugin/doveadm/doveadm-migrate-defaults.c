/* What `doveadm migrate` takes from Dovecot's own config when the command
   line and migrate.conf do not say: the path of migrate.conf (plugin {
   migrate_config }) and the owner of a store a command creates (the user
   Dovecot's auth service runs as: it opens the store on every login, so a
   store root created for itself would fail every login). */

#include "lib.h"
#include "master-service.h"
#include "doveadm-util.h"

#include "dovecot-migrate-config.h"
#include "migrate-config.h"
#include "doveadm-migrate.h"

#include "str.h"

#include <string.h>

const char *doveadm_migrate_default_config_path(void)
{
	const char *path = doveadm_plugin_getenv("migrate_config");

	return path != NULL && path[0] != '\0' ? path : MIGRATE_DEFAULT_CONFIG;
}

/* `doveconf -h NAME` of the config doveadm runs with (data stack); NULL
   when it cannot tell. */
static const char *doveconf_value(const char *name)
{
	const char *argv[] = {
		"doveconf", "-c", master_service_get_config_path(master_service),
		"-h", name, NULL
	};
	string_t *out = t_str_new(128);
	const char *error;

	if (doveadm_migrate_capture(argv, 1024, out, &error) < 0)
		return NULL;
	while (str_len(out) > 0 && str_data(out)[str_len(out) - 1] == '\n')
		str_truncate(out, str_len(out) - 1);
	return str_c(out);
}

static const char *auth_user_lookup(void)
{
	const char *user = doveconf_value("service/auth/user");

	/* "$default_internal_user" is how Dovecot ships it */
	if (user != NULL && user[0] == '$')
		user = doveconf_value(user + 1);
	if (user == NULL || user[0] == '\0')
		return NULL;
	return user;
}

const char *doveadm_migrate_auth_user(void)
{
	/* asked once per process: an import process runs hundreds of steps,
	   each loading the config, with the same Dovecot config */
	static char *auth_user = NULL;
	static bool looked_up = FALSE;

	if (!looked_up) {
		auth_user = i_strdup(auth_user_lookup());
		looked_up = TRUE;
	}
	return auth_user;
}

void doveadm_migrate_default_store_user(struct migrate_config *config)
{
	const char *user;

	if (config->store_user != NULL)
		return;
	if ((user = doveadm_migrate_auth_user()) == NULL) {
		i_warning("migrate: cannot tell which user Dovecot's auth service "
			  "runs as (doveconf service/auth/user): set store_user "
			  "in %s", config->path);
		return;
	}
	/* migrate_config_free() frees it */
	if ((config->store_user = strdup(user)) == NULL)
		i_fatal_status(FATAL_OUTOFMEM, "strdup() failed");
}
