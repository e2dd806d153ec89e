/* migrate-pace.so: the import's bandwidth cap (import_kbytes_per_sec).

   Dovecot's dsync has no throttle and reads the legacy server through
   imapc/pop3c, whose host, port and TLS name come from the userdb: a relay
   in between would fail the certificate's name check. So the worker loads
   this library into its doveadm children (LD_PRELOAD, with
   MIGRATE_PACE_BYTES_PER_SEC=N in their environment): every read() and
   recv() from an IPv4 or IPv6 socket is paced to at most N bytes per
   second in all, with a quarter second of burst. Files, pipes and UNIX
   sockets (the store, auth, the local mailbox) are not touched; with the
   variable unset or 0 nothing is. Each child has its own budget: the cap
   is per import. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define PACE_ENV "MIGRATE_PACE_BYTES_PER_SEC"
#define PACE_BURST_NSECS 250000000LL
#define NSECS 1000000000LL

static ssize_t (*real_read)(int fd, void *buf, size_t count);
static ssize_t (*real_recv)(int fd, void *buf, size_t len, int flags);
static int64_t pace_rate;	/* bytes per second; 0: no cap */
static int64_t pace_allowed_at;	/* monotonic ns when the bytes so far are due */

static int64_t pace_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NSECS + ts.tv_nsec;
}

/* also from read() itself: another library's constructor may read first */
static void pace_resolve(void)
{
	if (real_read == NULL)
		real_read = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
	if (real_recv == NULL)
		real_recv = (ssize_t (*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv");
}

__attribute__((constructor))
static void pace_init(void)
{
	const char *value = getenv(PACE_ENV);
	char *end;
	long long rate;

	pace_resolve();
	if (value == NULL)
		return;
	errno = 0;
	rate = strtoll(value, &end, 10);
	if (errno == 0 && *end == '\0' && rate > 0)
		pace_rate = rate;
}

static int pace_applies(int fd)
{
	int saved_errno = errno, domain = 0;
	socklen_t len = sizeof(domain);
	int ret;

	if (pace_rate == 0)
		return 0;
	ret = getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
		(domain == AF_INET || domain == AF_INET6);
	errno = saved_errno;
	return ret;
}

/* at most a burst's worth per call, so one read cannot take more */
static size_t pace_clamp(size_t count)
{
	int64_t burst = pace_rate * PACE_BURST_NSECS / NSECS;

	if (burst < 4096)
		burst = 4096;
	return count > (size_t)burst ? (size_t)burst : count;
}

/* n bytes came in: wait until they are due. An idle connection saves up
   at most one burst. */
static void pace_account(ssize_t n)
{
	int64_t now = pace_now(), wait;
	struct timespec ts;
	int saved_errno = errno;

	if (n <= 0)
		return;
	if (pace_allowed_at < now - PACE_BURST_NSECS)
		pace_allowed_at = now - PACE_BURST_NSECS;
	pace_allowed_at += (int64_t)n * NSECS / pace_rate;
	wait = pace_allowed_at - now;
	if (wait > 0) {
		ts.tv_sec = wait / NSECS;
		ts.tv_nsec = wait % NSECS;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	errno = saved_errno;
}

ssize_t read(int fd, void *buf, size_t count)
{
	ssize_t n;

	pace_resolve();
	if (!pace_applies(fd))
		return real_read(fd, buf, count);
	n = real_read(fd, buf, pace_clamp(count));
	pace_account(n);
	return n;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n;

	pace_resolve();
	if (!pace_applies(fd))
		return real_recv(fd, buf, len, flags);
	n = real_recv(fd, buf, pace_clamp(len), flags);
	pace_account(n);
	return n;
}
