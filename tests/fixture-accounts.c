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

int fixture_account_advance(struct migrate_store *store, const char *address,
			    enum migrate_account_state state,
			    char *error, size_t error_size)
{
	struct migrate_account a;
	unsigned int i;
	int ret;

	if ((ret = migrate_store_account_get(store, address, &a, error, error_size)) <= 0) {
		if (ret == 0)
			snprintf(error, error_size, "no account %s", address);
		return -1;
	}
	if (state == MIGRATE_STATE_FAILED) {
		return migrate_store_account_transition(store, address, a.state,
			MIGRATE_STATE_FAILED, "fixture: made to fail", 0,
			error, error_size);
	}
	for (i = 0; path[i] != a.state; i++) {
		if (i + 1 == sizeof(path) / sizeof(path[0])) {
			snprintf(error, error_size, "account %s is %s, off the import path",
				 address, migrate_account_state_name(a.state));
			return -1;
		}
	}
	for (; path[i] != state && i + 1 < sizeof(path) / sizeof(path[0]); i++) {
		if (migrate_store_account_transition(store, address, path[i], path[i + 1],
						     NULL, 0, error, error_size) < 0)
			return -1;
	}
	return 0;
}

int fixture_account_create(struct migrate_store *store, const char *address,
			   enum migrate_account_state state,
			   const struct migrate_secret *secret,
			   char *error, size_t error_size)
{
	struct migrate_account a;
	struct migrate_secret empty;
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
	if (a.state != MIGRATE_STATE_QUEUED || state == MIGRATE_STATE_QUEUED)
		return 0;
	return fixture_account_advance(store, address, state, error, error_size);
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
