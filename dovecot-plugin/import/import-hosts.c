/* Pacing of the worker's jobs per legacy host, see
   import-hosts.h. */

#include "lib.h"
#include "array.h"
#include "import-hosts.h"

#define BACKOFF_FIRST_SECS 2
#define BACKOFF_MAX_SECS 300

struct legacy_host {
	char *name;
	unsigned int cap;
	unsigned int backoff_secs;	/* 0: not backing off */
	time_t backoff_until;
};

struct legacy_hosts {
	unsigned int max_jobs;
	ARRAY(struct legacy_host) hosts;
};

struct legacy_hosts *legacy_hosts_init(unsigned int max_jobs)
{
	struct legacy_hosts *hosts = i_new(struct legacy_hosts, 1);

	hosts->max_jobs = max_jobs;
	i_array_init(&hosts->hosts, 4);
	return hosts;
}

void legacy_hosts_deinit(struct legacy_hosts **_hosts)
{
	struct legacy_hosts *hosts = *_hosts;
	struct legacy_host *host;

	*_hosts = NULL;
	array_foreach_modifiable(&hosts->hosts, host)
		i_free(host->name);
	array_free(&hosts->hosts);
	i_free(hosts);
}

static struct legacy_host *host_get(struct legacy_hosts *hosts, const char *name)
{
	struct legacy_host *host;

	array_foreach_modifiable(&hosts->hosts, host) {
		if (strcmp(host->name, name) == 0)
			return host;
	}
	host = array_append_space(&hosts->hosts);
	host->name = i_strdup(name);
	host->cap = hosts->max_jobs;
	return host;
}

bool legacy_hosts_admit(struct legacy_hosts *hosts, const char *name,
			unsigned int running, time_t *retry_at_r)
{
	struct legacy_host *host = host_get(hosts, name);
	time_t now = time(NULL);

	*retry_at_r = now;
	if (host->backoff_until > now) {
		*retry_at_r = host->backoff_until;
		return FALSE;
	}
	return running < host->cap;
}

unsigned int legacy_hosts_limit(struct legacy_hosts *hosts, const char *name)
{
	return host_get(hosts, name)->cap;
}

static void host_halve(struct legacy_host *host)
{
	host->cap = I_MAX(host->cap / 2, 1);
}

bool legacy_hosts_report(struct legacy_hosts *hosts, const char *name,
			 enum legacy_host_signal signal, const char *reason)
{
	struct legacy_host *host = host_get(hosts, name);
	bool patient;

	switch (signal) {
	case LEGACY_HOST_THROTTLED:
		if (host->backoff_until > time(NULL)) {
			/* another answer of the same moment (a job's other
			   connection, or another job's): already paused */
			return TRUE;
		}
		patient = host->backoff_secs < BACKOFF_MAX_SECS;
		host_halve(host);
		host->backoff_secs = host->backoff_secs == 0 ? BACKOFF_FIRST_SECS :
			I_MIN(host->backoff_secs * 2, BACKOFF_MAX_SECS);
		host->backoff_until = time(NULL) + host->backoff_secs;
		i_warning("migrate worker: legacy host %s is throttling (%s): "
			  "%u imports at once, none new for %u s", name, reason,
			  host->cap, host->backoff_secs);
		return patient;
	case LEGACY_HOST_SLOW:
		host_halve(host);
		i_warning("migrate worker: legacy host %s is slow (%s): %u "
			  "imports at once", name, reason, host->cap);
		return TRUE;
	case LEGACY_HOST_OK:
		host->backoff_secs = 0;
		if (host->cap < hosts->max_jobs) {
			host->cap++;
			i_info("migrate worker: legacy host %s recovering: %u "
			       "imports at once", name, host->cap);
		}
		return TRUE;
	}
	i_unreached();
}
