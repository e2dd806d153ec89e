#ifndef DOVEADM_MIGRATE_FENCE_H
#define DOVEADM_MIGRATE_FENCE_H

/* The cut-over's fence: from its return on, no session of the account is
   served by the legacy server.

   The passdb writes a proxy grant (migrate_store_account_proxy_grant) in
   the same transaction that re-reads the account's state, and writes none
   once the account is in cutover. So after the flip to cutover the only
   sessions that can still reach the legacy server are those whose grant
   is older than the flip: already in a login process's proxy list, or
   (for a grant a moment old) still on its way from the auth process to
   the login process, which puts it on the list as soon as the answer
   arrives. The fence kicks the account's sessions and lists the login
   processes' proxies (Dovecot's ipc service, as `doveadm proxy kick` and
   `doveadm proxy list` do) until the list holds none of the account and
   the newest grant is older than MIGRATE_FENCE_SETTLE_MSECS. */

#include <stdint.h>

/* How long an auth answer may take to reach its login process and appear
   in the proxy list: one write on a local socket and one event-loop turn,
   milliseconds even under load (the load test runs 9 clients on 2 cores);
   the margin covers a busy machine, and the check after the last pass
   (doveadm-migrate-cutover.c) catches a session that outlived it and
   wrote. Only a cut-over within this time of a proxied login waits: the
   window users see (tests/bench/cutover-window) is mostly this wait. */
#define MIGRATE_FENCE_SETTLE_MSECS 500
/* a fence that cannot empty the list by then fails the cut-over */
#define MIGRATE_FENCE_MAX_MSECS 20000

struct migrate_fence_result {
	unsigned int kicked;	/* sessions kicked, over every round */
	unsigned int rounds;
	int64_t waited_ms;
};

/* Fences off address, whose newest proxy grant is granted_ms (0: none),
   through the ipc socket of base_dir. Returns 0, or -1 with the reason
   (the ipc service does not answer, or sessions stay). A base_dir without
   an ipc socket has no Dovecot running, so no session to fence. */
int migrate_fence_sessions(const char *base_dir, const char *address,
			   int64_t granted_ms,
			   struct migrate_fence_result *result_r,
			   const char **reason_r);

#endif
