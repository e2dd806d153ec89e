#ifndef MIGRATE_STORE_LMDB_H
#define MIGRATE_STORE_LMDB_H

/* Internals shared by the LMDB backend's files (migrate-store-lmdb*.c):
   the environments, the transaction helpers that retry on a full map, and
   the record helpers every part of the store uses. Not for callers of
   migrate-store.h. */

#include "migrate-store.h"
#include "migrate-store-codec.h"

#include <lmdb.h>
#include <stdbool.h>
#include <string.h>

struct lmdb_env {
	MDB_env *env;
	MDB_txn *read_txn;	/* reset between reads, renewed per read */
};

struct migrate_store {
	enum migrate_store_access access;
	struct lmdb_env routing, secrets;
	MDB_dbi accounts, aliases, queue, queue_order, meta, secret_db;
	/* the import ledger and sweep schedule (migrate-store-ledger.c) */
	MDB_dbi ledger;
	/* index: state byte + address -> nothing (schema 2) */
	MDB_dbi by_state;
	bool by_state_ok;	/* a reader of a schema-1 store has none */
	int64_t (*now)(void);
};

/* The state of one transaction attempt, passed to every helper. */
struct store_txn {
	struct migrate_store *store;
	MDB_txn *txn;
	int rc;			/* the failing LMDB call's code */
	char *error;
	size_t error_size;
};

typedef int store_txn_fn(struct store_txn *t, void *context);

/* The context of the secrets' transaction callbacks. */
struct secret_op {
	const char *address;
	const struct migrate_secret *secret;
	struct migrate_secret *secret_r;
	int64_t created;
	int count;
};

int store_fail(char *error, size_t error_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int store_txn_fail(struct store_txn *t, int rc, const char *what);

/* The store's files (migrate-store-files.c): their owners, modes, and
   what an operator is told when one cannot be opened. */
struct store_owner {
	uid_t uid;
	gid_t gid, routing_gid;
	bool change;
};
int store_owner_resolve(const struct migrate_store_settings *set,
			struct store_owner *owner_r, char *error, size_t error_size);
/* "store: <op> <path>: <why>", with the owner and mode of the path (or its
   directory) and the fix when err is EACCES or ENOENT; returns -1. */
int store_fail_path(char *error, size_t error_size, const char *op,
		    const char *path, int err);
/* Refuses files that the wrong people can read: the routing data must not
   be open to everyone, the secrets to anyone but their owner. */
int store_check_mode(const char *path, mode_t forbidden, const char *what,
		     char *error, size_t error_size);
int store_make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid,
		   bool change_owner, char *error, size_t error_size);
int store_fix_files(const char *dir, mode_t data_mode, mode_t lock_mode,
		    const struct store_owner *owner, gid_t gid,
		    char *error, size_t error_size);
static inline MDB_val store_val(const void *data, size_t size)
{
	MDB_val v = { size, (void *)data };

	return v;
}

static inline MDB_val store_key(const char *s)
{
	return store_val(s, strlen(s));
}

/* get: 1 found, 0 not; del: 1 deleted, 0 not there; -1 error */
int store_get(struct store_txn *t, MDB_dbi dbi, MDB_val key, MDB_val *data_r);
int store_put(struct store_txn *t, MDB_dbi dbi, MDB_val key, MDB_val data);
int store_del(struct store_txn *t, MDB_dbi dbi, MDB_val key);

/* One write transaction running fn, retried after growing a full map. */
int store_write(struct migrate_store *store, struct lmdb_env *e,
		store_txn_fn *fn, void *context, char *error, size_t error_size);
/* fn in the environment's renewed read transaction. */
int store_read(struct migrate_store *store, struct lmdb_env *e,
	       store_txn_fn *fn, void *context, char *error, size_t error_size);

int store_stats_read(struct store_txn *t, struct migrate_stats *stats_r);
int store_stats_write(struct store_txn *t, const struct migrate_stats *stats);

int store_check_address(const char *address, char *error, size_t error_size);
/* Calls fn for every account record in this transaction, in address
   order; fn returns < 0 to fail, > 0 to stop, 0 to go on. A record that
   does not decode fails. Returns -1 or 0. */
typedef int store_account_txn_fn(struct store_txn *t, const struct migrate_account *account,
				 void *context);
int store_accounts_foreach(struct store_txn *t, store_account_txn_fn *fn, void *context);
int store_account_read(struct store_txn *t, const char *address,
		       struct migrate_account *account_r);
int store_account_write(struct store_txn *t, const struct migrate_account *account,
			enum migrate_account_state old_state);
MDB_val store_state_key(enum migrate_account_state state, const char *address,
			unsigned char buf[1 + MIGRATE_ACCOUNT_ADDRESS_MAX]);
int store_index_move(struct store_txn *t, const char *address,
		     enum migrate_account_state from, enum migrate_account_state to);

int store_queue_read(struct store_txn *t, const char *address,
		     struct migrate_queue_entry *entry_r);
int store_queue_write(struct store_txn *t, const char *address,
		      const struct migrate_queue_entry *entry);
int store_queue_remove(struct store_txn *t, const char *address);
int store_queue_add(struct store_txn *t, const char *address, uint8_t priority,
		    int64_t not_before);

/* -1 (and why) unless the secrets environment is open here */
int store_need_secrets(struct migrate_store *store, char *error, size_t error_size);
int store_secret_set_txn(struct store_txn *t, void *context);
int store_secret_delete_txn(struct store_txn *t, void *context);
int store_remove_orphan_secrets(struct migrate_store *store, char *error, size_t error_size);

#endif
