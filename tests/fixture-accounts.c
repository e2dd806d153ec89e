/* Shared test fixtures (see fixture-accounts.h). */

#include "fixture-accounts.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* the legal way from queued to each later state */
static const enum migrate_account_state path[] = {
	MIGRATE_STATE_QUEUED, MIGRATE_STATE_IMPORTING, MIGRATE_STATE_SYNCED,
	MIGRATE_STATE_CUTOVER, MIGRATE_STATE_MIGRATED,
};

int fixture_account_create(struct migrate_store *store, const char *address,
			   enum migrate_account_state state,
			   const struct migrate_secret *secret,
			   char *error, size_t error_size)
{
	struct migrate_account a;
	struct migrate_secret empty;
	unsigned int i;
	int ret;

	memset(&a, 0, sizeof(a));
	memset(&empty, 0, sizeof(empty));
	snprintf(a.address, sizeof(a.address), "%s", address);
	a.state = state == MIGRATE_STATE_PASSWORDS_ONLY ? state : MIGRATE_STATE_QUEUED;
	ret = migrate_store_account_create(store, &a, secret != NULL ? secret : &empty,
					   error, error_size);
	if (ret == 0)
		snprintf(error, error_size, "account %s already exists", address);
	if (ret != 1)
		return -1;
	for (i = 0; a.state == MIGRATE_STATE_QUEUED && path[i] != state &&
		    i + 1 < sizeof(path) / sizeof(path[0]); i++) {
		if (migrate_store_account_transition(store, address, path[i], path[i + 1],
						     NULL, 0, error, error_size) < 0)
			return -1;
	}
	return 0;
}

void fixture_remove_tree(const char *dir)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		execlp("rm", "rm", "-rf", dir, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
}
