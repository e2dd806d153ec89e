/* Store settings from migrate.conf (see migrate-store.h). */

#include "migrate-store.h"
#include "migrate-config.h"

#include <string.h>

void migrate_store_settings_from_config(struct migrate_store_settings *set_r,
					const struct migrate_config *config,
					enum migrate_store_access access)
{
	memset(set_r, 0, sizeof(*set_r));
	set_r->path = config->store;
	set_r->access = access;
	/* only a writer may create the store, and so needs its owners */
	if (access == MIGRATE_STORE_WRITE) {
		set_r->owner_user = config->store_user;
		set_r->routing_group = config->store_group;
	}
}
