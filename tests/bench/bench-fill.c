/* Store filling for the benchmarks (see bench-fill.h). */

#include "bench-fill.h"
#include "migrate-store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void bench_address(unsigned int i, char *buf, size_t size)
{
	snprintf(buf, size, "user%06u@example.com", i);
}

static void die(const char *what, const char *error)
{
	fprintf(stderr, "bench: %s: %s\n", what, error);
	exit(1);
}

static void walk_to_migrated(struct migrate_store *store, const char *address)
{
	static const enum migrate_account_state path[] = {
		MIGRATE_STATE_QUEUED, MIGRATE_STATE_IMPORTING, MIGRATE_STATE_SYNCED,
		MIGRATE_STATE_CUTOVER, MIGRATE_STATE_MIGRATED,
	};
	char error[512];
	unsigned int i;

	for (i = 0; i + 1 < sizeof(path) / sizeof(path[0]); i++) {
		if (migrate_store_account_transition(store, address, path[i], path[i + 1],
						     NULL, 0, error, sizeof(error)) < 0)
			die("transition", error);
	}
}

double bench_fill(const char *dir, unsigned int first, unsigned int last, bool bulk)
{
	struct migrate_store_settings set = {
		.path = dir, .access = MIGRATE_STORE_WRITE, .bulk = bulk,
	};
	struct migrate_store *store;
	struct migrate_secret secret;
	char error[512];
	double start = bench_now();
	unsigned int i;

	if (migrate_store_open(&set, &store, error, sizeof(error)) < 0)
		die("open", error);
	memset(&secret, 0, sizeof(secret));
	snprintf(secret.password_hash, sizeof(secret.password_hash), "{CRYPT}$y$j9T$salt$hash");
	secret.credential_len = 64;
	for (i = first; i < last; i++) {
		struct migrate_account a;

		memset(&a, 0, sizeof(a));
		bench_address(i, a.address, sizeof(a.address));
		snprintf(a.domain, sizeof(a.domain), "example.com");
		a.state = MIGRATE_STATE_QUEUED;
		if (migrate_store_account_create(store, &a, &secret, error, sizeof(error)) != 1)
			die("create", error);
		if (i % 3 == 0)
			walk_to_migrated(store, a.address);
	}
	migrate_store_close(&store);
	return (last - first) / (bench_now() - start);
}
