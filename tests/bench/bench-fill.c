/* Store filling for the benchmarks (see bench-fill.h). */

#include "bench-fill.h"
#include "fixture-accounts.h"

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
		char address[64];

		bench_address(i, address, sizeof(address));
		if (fixture_account_create(store, address, i % 3 == 0 ? MIGRATE_STATE_MIGRATED :
					   MIGRATE_STATE_QUEUED, &secret, error, sizeof(error)) < 0)
			die("create", error);
	}
	migrate_store_close(&store);
	return (last - first) / (bench_now() - start);
}
