#ifndef IMPORT_HOSTS_H
#define IMPORT_HOSTS_H

/* Pacing of the worker's jobs per legacy host. Dovecot's dsync has no
   throttle of its own, and the old server keeps serving the users not yet
   moved: at most imports_per_legacy_host jobs run against a host, fewer
   while it shows strain. A host that says it is throttling (NO [LIMIT],
   [UNAVAILABLE], [INUSE], BYE) gets half as many jobs and none new for a
   back-off that doubles (2 s up to 5 min) while it keeps saying so; a
   slow one (its folder counts took longer than legacy_slow_secs) gets
   half as many; each job that goes well gives one back, up to the
   configured number. A host that is down (connection refused) is not
   throttling: its accounts fail and wait for their own retry times. */

#include <time.h>

enum legacy_host_signal {
	LEGACY_HOST_OK,
	LEGACY_HOST_SLOW,
	LEGACY_HOST_THROTTLED,
};

struct legacy_hosts;

struct legacy_hosts *legacy_hosts_init(unsigned int max_jobs);
void legacy_hosts_deinit(struct legacy_hosts **hosts);

/* May one more job start against host, which runs `running` now? FALSE:
   not before *retry_at_r. */
bool legacy_hosts_admit(struct legacy_hosts *hosts, const char *host,
			unsigned int running, time_t *retry_at_r);
/* How many jobs host may run at once now. */
unsigned int legacy_hosts_limit(struct legacy_hosts *hosts, const char *host);
/* What a job's step against host showed; reason: the server's words.
   FALSE when a throttling host has been backed off to the longest pause
   already: the job should fail (and wait for its retry time) rather than
   be put back once more. */
bool legacy_hosts_report(struct legacy_hosts *hosts, const char *host,
			 enum legacy_host_signal signal, const char *reason);

#endif
