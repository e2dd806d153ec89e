#ifndef POLICYD_H
#define POLICYD_H

/* The state of one migrate-policyd process: its config, the routing store
   (opened lazily and reopened after failures, so the daemon can start
   before the store exists and answers TEMP meanwhile), and counters. */

#include "migrate-config.h"
#include "migrate-store.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct policyd_counters {
	uint64_t lookups, local, legacy, rejected, verify, deferred, other, malformed;
};

struct policyd {
	struct migrate_config *config;
	struct migrate_store *store;
	time_t store_retry_at;
	bool store_failing;	/* the store could not be opened */
	time_t next_error_log;	/* read errors are logged at most this often */
	unsigned int errors_unlogged;
	bool verbose;		/* log every decision to stderr too */
	struct policyd_counters counters;
};

/* The store, or NULL (logged once per outage) when it cannot be opened. */
struct migrate_store *policyd_store(struct policyd *d);
/* Closes the store so the next lookup reopens it (after a read error). */
void policyd_store_failed(struct policyd *d, const char *error);
/* Replaces the config (SIGHUP); the store is reopened if its path moved. */
void policyd_set_config(struct policyd *d, struct migrate_config *config);
void policyd_deinit(struct policyd *d);

#endif
