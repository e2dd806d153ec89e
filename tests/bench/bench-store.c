/* Benchmark of the state store: account writes per second, and lookups per
   second from a reader process while a writer process commits, on 100,000
   accounts. The peer, measured in the same run on the same data, is a bare
   LMDB mdb_get() loop: the ratio says what our layer (record decoding, the
   read-transaction handling) costs on top of LMDB itself.

   Usage: bench-store [DIR] [ACCOUNTS] */

#include "bench-fill.h"
#include "migrate-store.h"

#include <lmdb.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOOKUP_SECONDS 2
#define ROUNDS 3

static char error[512];

static struct migrate_store *open_store(const char *dir, enum migrate_store_access access,
				       bool bulk)
{
	struct migrate_store_settings set = { .path = dir, .access = access, .bulk = bulk };
	struct migrate_store *store;

	if (migrate_store_open(&set, &store, error, sizeof(error)) < 0) {
		fprintf(stderr, "bench-store: %s\n", error);
		exit(1);
	}
	return store;
}

/* A writer that keeps committing progress updates until killed. */
static pid_t start_writer(const char *dir, unsigned int accounts)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct migrate_store *store = open_store(dir, MIGRATE_STORE_WRITE, false);
		struct migrate_account_progress p;
		char address[64];
		unsigned int i;

		memset(&p, 0, sizeof(p));
		for (i = 0;; i++) {
			bench_address(i % accounts, address, sizeof(address));
			p.messages_done = i;
			(void)migrate_store_account_set_progress(store, address, &p, error, sizeof(error));
		}
	}
	return pid;
}

static double our_lookups(const char *dir, unsigned int accounts, unsigned long *misses)
{
	struct migrate_store *store = open_store(dir, MIGRATE_STORE_READ_ROUTING, false);
	unsigned long n = 0;
	double start = bench_now(), elapsed;
	char address[64];

	*misses = 0;
	do {
		unsigned int i;

		for (i = 0; i < 10000; i++, n++) {
			struct migrate_account a;

			bench_address((unsigned int)((n * 7919) % accounts), address, sizeof(address));
			if (migrate_store_account_get(store, address, &a, error, sizeof(error)) != 1)
				(*misses)++;
		}
		elapsed = bench_now() - start;
	} while (elapsed < LOOKUP_SECONDS);
	migrate_store_close(&store);
	return n / elapsed;
}

static double raw_lookups(const char *dir, unsigned int accounts, unsigned long *misses)
{
	char path[4096], address[64];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	unsigned long n = 0;
	double start, elapsed;

	snprintf(path, sizeof(path), "%s/routing", dir);
	if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 8) != 0 ||
	    mdb_env_open(env, path, MDB_RDONLY | MDB_NOTLS, 0660) != 0 ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0 ||
	    mdb_dbi_open(txn, "accounts", 0, &dbi) != 0 ||
	    /* committing keeps the handle; resetting would drop it */
	    mdb_txn_commit(txn) != 0 ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0) {
		fprintf(stderr, "bench-store: raw LMDB open failed\n");
		exit(1);
	}
	mdb_txn_reset(txn);
	*misses = 0;
	start = bench_now();
	do {
		unsigned int i;

		for (i = 0; i < 10000; i++, n++) {
			MDB_val key, data;

			bench_address((unsigned int)((n * 7919) % accounts), address, sizeof(address));
			key.mv_size = strlen(address);
			key.mv_data = address;
			/* same transaction handling as the store: renew per read */
			mdb_txn_renew(txn);
			if (mdb_get(txn, dbi, &key, &data) != 0)
				(*misses)++;
			mdb_txn_reset(txn);
		}
		elapsed = bench_now() - start;
	} while (elapsed < LOOKUP_SECONDS);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return n / elapsed;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char *argv[])
{
	const char *dir = argc > 1 ? argv[1] : "/tmp/bench-store";
	unsigned int accounts = argc > 2 ? (unsigned int)atoi(argv[2]) : 100000;
	unsigned long our_miss, raw_miss;
	double writes, bulk, ours[ROUNDS], raw[ROUNDS], ratio[ROUNDS];
	unsigned int round;
	bool failed = false;
	pid_t writer;
	int status;
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	if (accounts < 2000)
		accounts = 2000;
	/* durable creates are bound by fsync: measured on the first 1000 */
	writes = bench_fill(dir, 0, 1000, false);
	bulk = bench_fill(dir, 1000, accounts, true);
	printf("accounts created: %.0f/s with durable commits (1000 accounts), "
	       "%.0f/s bulk (%u accounts)\n", writes, bulk, accounts - 1000);

	/* interleaved rounds: machine noise hits both sides alike */
	writer = start_writer(dir, accounts);
	for (round = 0; round < ROUNDS; round++) {
		ours[round] = our_lookups(dir, accounts, &our_miss);
		raw[round] = raw_lookups(dir, accounts, &raw_miss);
		ratio[round] = ours[round] / raw[round];
		printf("round %u: store %.0f lookups/s, bare LMDB %.0f/s, ratio %.2f\n",
		       round + 1, ours[round], raw[round], ratio[round]);
		if (our_miss != 0 || raw_miss != 0) {
			printf("misses: store %lu, raw %lu: the data is wrong\n", our_miss, raw_miss);
			failed = true;
		}
	}
	kill(writer, SIGKILL);
	waitpid(writer, &status, 0);
	qsort(ratio, ROUNDS, sizeof(ratio[0]), cmp_double);
	qsort(ours, ROUNDS, sizeof(ours[0]), cmp_double);
	printf("median: store %.0f lookups/s on one core beside a committing writer, "
	       "ratio to bare LMDB %.2f\n", ours[ROUNDS / 2], ratio[ROUNDS / 2]);
	if (failed)
		return 1;
	return system(cmd) == 0 ? 0 : 1;
}
