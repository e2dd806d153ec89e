#ifndef IMPORT_REPLICA_H
#define IMPORT_REPLICA_H

/* The local copy of an account imported by dsync (mode = proxy). Until
   its cut-over it holds nothing of the user's own, so its passes write it
   without fsync (Dovecot's mail_fsync = never, twice as fast) and the
   worker flushes it once at the end (`migrate flush`: syncfs()). The
   ledger records the boot during which it was written and not yet
   flushed: found after a reboot, the copy may hold torn messages that no
   dsync pass would notice, so it is discarded and copied again. */

#include "migrate-store.h"

enum replica_state {
	REPLICA_FLUSHED,
	/* written during this boot, not flushed yet: the page cache holds
	   it, a killed pass loses nothing */
	REPLICA_UNFLUSHED,
	/* written during an earlier boot and never flushed */
	REPLICA_TORN,
};

int replica_state_get(struct migrate_store *store, const char *address,
		      enum replica_state *state_r,
		      char *error, size_t error_size);
/* Before a pass without fsync: unflushed during this boot. */
int replica_mark_unflushed(struct migrate_store *store, const char *address,
			   char *error, size_t error_size);
/* After `migrate flush` succeeded. */
int replica_mark_flushed(struct migrate_store *store, const char *address,
			 char *error, size_t error_size);

#endif
