#ifndef FIXTURE_ACCOUNTS_H
#define FIXTURE_ACCOUNTS_H

/* Test and benchmark helpers shared by store-fixture, the benches and the
   unit tests: accounts put into a store in a given state the legal way. */

#include "migrate-store.h"

/* Creates the account (queued, or passwords-only) and walks it through
   the state machine to state (queued ... migrated). secret may be NULL. */
int fixture_account_create(struct migrate_store *store, const char *address,
			   enum migrate_account_state state,
			   const struct migrate_secret *secret,
			   char *error, size_t error_size);
/* Walks an existing account along queued ... migrated up to state, or
   to failed from wherever it is. */
int fixture_account_advance(struct migrate_store *store, const char *address,
			    enum migrate_account_state state,
			    char *error, size_t error_size);
/* rm -rf path (a test's scratch store). */
void fixture_remove_tree(const char *path);

#endif
