/* Process state of migrate-policyd (see policyd.h). */

#include "policyd.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* After a failed open, lookups answer TEMP at once for this long instead
   of retrying the open on every lookup. */
#define STORE_RETRY_SECS 1
/* A corrupt record fails every lookup of it: one log line per this many
   seconds, with the count of those not logged. */
#define ERROR_LOG_SECS 10

/* The first words of the log line: an operator's fix differs. */
static const char *store_problem(const char *store)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/routing", store);
	return stat(path, &st) < 0 && errno == ENOENT ?
		"store absent (run doveadm migrate init)" : "store unreadable";
}

struct migrate_store *policyd_store(struct policyd *d)
{
	struct migrate_store_settings set;
	char error[512];
	time_t now;

	if (d->store != NULL)
		return d->store;
	now = time(NULL);
	if (now < d->store_retry_at)
		return NULL;
	migrate_store_settings_from_config(&set, d->config, MIGRATE_STORE_READ_ROUTING);
	if (migrate_store_open(&set, &d->store, error, sizeof(error)) < 0) {
		d->store = NULL;
		d->store_retry_at = now + STORE_RETRY_SECS;
		if (!d->store_failing) {
			log_error("%s: %s: answering TEMP until it can be read",
				  store_problem(d->config->store), error);
		}
		d->store_failing = true;
		return NULL;
	}
	if (d->store_failing)
		log_info("store %s readable again", d->config->store);
	d->store_failing = false;
	return d->store;
}

void policyd_store_failed(struct policyd *d, const char *error)
{
	time_t now = time(NULL);

	if (now >= d->next_error_log) {
		log_error("%s: answering TEMP (%u more such errors not logged)",
			  error, d->errors_unlogged);
		d->errors_unlogged = 0;
		d->next_error_log = now + ERROR_LOG_SECS;
	} else {
		d->errors_unlogged++;
	}
	/* a broken environment recovers by reopening; a broken record
	   costs one reopen per lookup of it, which is cheap */
	migrate_store_close(&d->store);
}

void policyd_set_config(struct policyd *d, struct migrate_config *config)
{
	if (d->config != NULL && strcmp(d->config->store, config->store) != 0)
		migrate_store_close(&d->store);
	migrate_config_free(&d->config);
	d->config = config;
}

void policyd_deinit(struct policyd *d)
{
	migrate_store_close(&d->store);
	migrate_config_free(&d->config);
}
