/* The LMDB backend of the state store (see migrate-store.h).

   Layout: <store>/routing/{data,lock}.mdb with the named databases
   "accounts", "aliases", "queue", "queue_order" and "meta" (schema version,
   statistics), and <store>/secrets/{data,lock}.mdb with "secrets" and
   "ledger" (import ledger and sweep schedule, migrate-store-ledger.c).

   Every change is one write transaction; LMDB gives one writer at a time and
   readers that never wait. A full map is grown and the transaction retried,
   so MDB_MAP_FULL never reaches a caller; another process's growth
   (MDB_MAP_RESIZED) is adopted the same way. */

#include "migrate-store-lmdb.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#define DEFAULT_MAP_SIZE (64 * 1024 * 1024)
#define WRITE_ATTEMPTS 16

static int64_t clock_now(void)
{
	return (int64_t)time(NULL);
}

int store_fail(char *error, size_t error_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

int store_fail(char *error, size_t error_size, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(error, error_size, fmt, args);
	va_end(args);
	return -1;
}

int store_txn_fail(struct store_txn *t, int rc, const char *what)
{
	t->rc = rc;
	return store_fail(t->error, t->error_size, "store: %s: %s", what, mdb_strerror(rc));
}

/* -- generic get/put/del on the current transaction ------------------- */

int store_get(struct store_txn *t, MDB_dbi dbi, MDB_val key, MDB_val *data_r)
{
	int rc = mdb_get(t->txn, dbi, &key, data_r);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return store_txn_fail(t, rc, "read");
	return 1;
}

int store_put(struct store_txn *t, MDB_dbi dbi, MDB_val key, MDB_val data)
{
	int rc = mdb_put(t->txn, dbi, &key, &data, 0);

	return rc == 0 ? 0 : store_txn_fail(t, rc, "write");
}

int store_del(struct store_txn *t, MDB_dbi dbi, MDB_val key)
{
	int rc = mdb_del(t->txn, dbi, &key, NULL);

	if (rc == MDB_NOTFOUND)
		return 0;
	return rc == 0 ? 1 : store_txn_fail(t, rc, "delete");
}

/* -- transactions with map growth --------------------------------------- */

static int env_grow(struct lmdb_env *e, char *error, size_t error_size)
{
	MDB_envinfo info;
	int rc;

	/* readers killed without closing keep old pages pinned, which is
	   often why the map filled up: free their slots first */
	(void)mdb_reader_check(e->env, NULL);
	mdb_env_info(e->env, &info);
	if (e->read_txn != NULL) {
		/* no transaction may be open while the map is resized */
		mdb_txn_abort(e->read_txn);
		e->read_txn = NULL;
	}
	rc = mdb_env_set_mapsize(e->env, info.me_mapsize * 2);
	if (rc != 0)
		return store_fail(error, error_size, "store: growing the map to %zu bytes: %s",
			    info.me_mapsize * 2, mdb_strerror(rc));
	return 0;
}

static int env_adopt_size(struct lmdb_env *e)
{
	if (e->read_txn != NULL) {
		mdb_txn_abort(e->read_txn);
		e->read_txn = NULL;
	}
	return mdb_env_set_mapsize(e->env, 0);
}

int store_write(struct migrate_store *store, struct lmdb_env *e,
		     store_txn_fn *fn, void *context, char *error, size_t error_size)
{
	struct store_txn t = { store, NULL, 0, error, error_size };
	int attempt, ret, rc;

	if (store->access != MIGRATE_STORE_WRITE)
		return store_fail(error, error_size, "store: opened read-only");
	for (attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		rc = mdb_txn_begin(e->env, NULL, 0, &t.txn);
		if (rc == MDB_MAP_RESIZED && env_adopt_size(e) == 0)
			continue;
		if (rc != 0)
			return store_fail(error, error_size, "store: write transaction: %s", mdb_strerror(rc));
		t.rc = 0;
		ret = fn(&t, context);
		if (ret < 0) {
			mdb_txn_abort(t.txn);
			if (t.rc != MDB_MAP_FULL)
				return -1;
		} else if ((rc = mdb_txn_commit(t.txn)) == 0) {
			return ret;
		} else if (rc != MDB_MAP_FULL) {
			return store_fail(error, error_size, "store: commit: %s", mdb_strerror(rc));
		}
		if (env_grow(e, error, error_size) < 0)
			return -1;
	}
	return store_fail(error, error_size, "store: gave up after %d attempts", WRITE_ATTEMPTS);
}

int store_read(struct migrate_store *store, struct lmdb_env *e,
		    store_txn_fn *fn, void *context, char *error, size_t error_size)
{
	struct store_txn t = { store, NULL, 0, error, error_size };
	int attempt, ret, rc = 0;

	for (attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		/* one read transaction per env, reset between reads and
		   renewed: much cheaper than begin/abort per lookup */
		if (e->read_txn == NULL)
			rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &e->read_txn);
		else
			rc = mdb_txn_renew(e->read_txn);
		if (rc == MDB_MAP_RESIZED && env_adopt_size(e) == 0)
			continue;
		if (rc != 0)
			break;
		t.txn = e->read_txn;
		ret = fn(&t, context);
		mdb_txn_reset(e->read_txn);
		return ret;
	}
	if (e->read_txn != NULL && rc != 0) {
		mdb_txn_abort(e->read_txn);
		e->read_txn = NULL;
	}
	return store_fail(error, error_size, "store: read transaction: %s", mdb_strerror(rc));
}

/* -- statistics, kept in "meta" and updated with every state change ----- */

static const char stats_key[] = "stats";

int store_stats_read(struct store_txn *t, struct migrate_stats *stats_r)
{
	MDB_val data;
	int ret = store_get(t, t->store->meta, store_key(stats_key), &data);

	memset(stats_r, 0, sizeof(*stats_r));
	if (ret <= 0)
		return ret;
	if (migrate_stats_decode(data.mv_data, data.mv_size, stats_r) < 0)
		return store_fail(t->error, t->error_size, "store: corrupt statistics record");
	return 1;
}

int store_stats_write(struct store_txn *t, const struct migrate_stats *stats)
{
	unsigned char buf[MIGRATE_STATS_RECORD_MAX];
	size_t len = migrate_stats_encode(stats, buf);

	return store_put(t, t->store->meta, store_key(stats_key), store_val(buf, len));
}

/* -- accounts --------------------------------------------------------- */

int store_account_read(struct store_txn *t, const char *address,
			struct migrate_account *account_r)
{
	MDB_val data;
	int ret = store_get(t, t->store->accounts, store_key(address), &data);

	if (ret <= 0)
		return ret;
	if (migrate_account_decode(data.mv_data, data.mv_size, account_r,
				   t->error, t->error_size) < 0)
		return -1;
	/* callers checked the length: this is the lookup hot path */
	memcpy(account_r->address, address, strlen(address) + 1);
	return 1;
}

MDB_val store_state_key(enum migrate_account_state state, const char *address,
			 unsigned char buf[1 + MIGRATE_ACCOUNT_ADDRESS_MAX])
{
	size_t len = strlen(address);

	buf[0] = (unsigned char)state;
	memcpy(buf + 1, address, len);
	return store_val(buf, 1 + len);
}

/* Keeps the by-state index in step with a record's state. */
int store_index_move(struct store_txn *t, const char *address,
		      enum migrate_account_state from, enum migrate_account_state to)
{
	unsigned char buf[1 + MIGRATE_ACCOUNT_ADDRESS_MAX];

	if (from == to)
		return 0;
	if (from != MIGRATE_STATE_UNKNOWN &&
	    store_del(t, t->store->by_state, store_state_key(from, address, buf)) < 0)
		return -1;
	if (to != MIGRATE_STATE_UNKNOWN)
		return store_put(t, t->store->by_state, store_state_key(to, address, buf), store_val("", 0));
	return 0;
}

/* Writes the record; old_state is what the store held (unknown: none). */
int store_account_write(struct store_txn *t, const struct migrate_account *account,
			 enum migrate_account_state old_state)
{
	unsigned char buf[MIGRATE_ACCOUNT_RECORD_MAX];
	size_t len = migrate_account_encode(account, buf);

	if (store_put(t, t->store->accounts, store_key(account->address), store_val(buf, len)) < 0)
		return -1;
	return store_index_move(t, account->address, old_state, account->state);
}

int store_check_address(const char *address, char *error, size_t error_size)
{
	size_t len = strlen(address);

	if (len == 0 || len > MIGRATE_ACCOUNT_ADDRESS_MAX)
		return store_fail(error, error_size, "store: invalid account address length %zu", len);
	return 0;
}

/* -- open/close ---------------------------------------------------------- */

static int open_dbi(MDB_txn *txn, const char *name, bool create, MDB_dbi *dbi_r,
		    char *error, size_t error_size)
{
	int rc = mdb_dbi_open(txn, name, create ? MDB_CREATE : 0, dbi_r);

	if (rc != 0)
		return store_fail(error, error_size, "store: database %s: %s", name, mdb_strerror(rc));
	return 0;
}

static int env_open(struct lmdb_env *e, const char *dir, unsigned int flags,
		    size_t map_size, mode_t mode, char *error, size_t error_size)
{
	int rc;

	if ((rc = mdb_env_create(&e->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(e->env, 8)) != 0 ||
	    (rc = mdb_env_set_maxreaders(e->env, 1024)) != 0 ||
	    (rc = mdb_env_set_mapsize(e->env, map_size)) != 0 ||
	    (rc = mdb_env_open(e->env, dir, flags, mode)) != 0) {
		if (e->env != NULL)
			mdb_env_close(e->env);
		e->env = NULL;
		if (rc == ENOENT || rc == EACCES)
			return store_fail_path(error, error_size, "opening", dir, rc);
		return store_fail(error, error_size, "store: opening %s: %s", dir, mdb_strerror(rc));
	}
	/* readers killed by -9 keep their slots until someone checks */
	mdb_reader_check(e->env, NULL);
	return 0;
}

static int open_routing_dbs(struct migrate_store *store, char *error, size_t error_size)
{
	bool create = store->access == MIGRATE_STORE_WRITE;
	MDB_txn *txn;
	int rc = mdb_txn_begin(store->routing.env, NULL, create ? 0 : MDB_RDONLY, &txn);

	if (rc != 0)
		return store_fail(error, error_size, "store: %s", mdb_strerror(rc));
	if (open_dbi(txn, "accounts", create, &store->accounts, error, error_size) < 0 ||
	    open_dbi(txn, "aliases", create, &store->aliases, error, error_size) < 0 ||
	    open_dbi(txn, "queue", create, &store->queue, error, error_size) < 0 ||
	    open_dbi(txn, "queue_order", create, &store->queue_order, error, error_size) < 0 ||
	    open_dbi(txn, "meta", create, &store->meta, error, error_size) < 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	/* a reader may meet a schema-1 store the writers have not upgraded
	   yet: routing does not need the index */
	store->by_state_ok = open_dbi(txn, "by_state", create, &store->by_state,
				      error, error_size) == 0;
	if (!store->by_state_ok && create) {
		mdb_txn_abort(txn);
		return -1;
	}
	rc = mdb_txn_commit(txn);
	return rc == 0 ? 0 : store_fail(error, error_size, "store: %s", mdb_strerror(rc));
}

static int open_secrets_db(struct migrate_store *store, char *error, size_t error_size)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(store->secrets.env, NULL, 0, &txn);

	if (rc != 0)
		return store_fail(error, error_size, "store: %s", mdb_strerror(rc));
	if (open_dbi(txn, "secrets", true, &store->secret_db, error, error_size) < 0 ||
	    open_dbi(txn, "ledger", true, &store->ledger, error, error_size) < 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	rc = mdb_txn_commit(txn);
	return rc == 0 ? 0 : store_fail(error, error_size, "store: %s", mdb_strerror(rc));
}

static int index_account(struct store_txn *t, const struct migrate_account *account,
			 void *context)
{
	(void)context;
	return store_index_move(t, account->address, MIGRATE_STATE_UNKNOWN, account->state);
}

/* Schema 1 -> 2: the by-state index, built from the records. */
static int upgrade_1_to_2(struct store_txn *t)
{
	return store_accounts_foreach(t, index_account, NULL);
}

/* Upgrades run in order, in the same transaction as the version bump: a
   crash leaves the store at the old version, untouched. */
static int (*const upgrades[])(struct store_txn *t) = {
	[1] = upgrade_1_to_2,
};

static int schema_check(struct store_txn *t, void *context)
{
	static const char schema_key[] = "schema";
	uint32_t version = MIGRATE_STORE_SCHEMA_VERSION, current = version;
	MDB_val data;
	int ret = store_get(t, t->store->meta, store_key(schema_key), &data);

	(void)context;
	if (ret < 0)
		return -1;
	if (ret == 0)
		return store_put(t, t->store->meta, store_key(schema_key), store_val(&version, sizeof(version)));
	if (data.mv_size != sizeof(version))
		return store_fail(t->error, t->error_size, "store: corrupt schema version");
	memcpy(&version, data.mv_data, sizeof(version));
	if (version > MIGRATE_STORE_SCHEMA_VERSION || version == 0) {
		return store_fail(t->error, t->error_size,
			    "store: schema version %u is newer than this program supports (%u)",
			    version, MIGRATE_STORE_SCHEMA_VERSION);
	}
	if (version == current)
		return 0;
	for (; version < current; version++) {
		if (upgrades[version](t) < 0)
			return -1;
	}
	return store_put(t, t->store->meta, store_key(schema_key), store_val(&version, sizeof(version)));
}

int store_remove_orphan_secrets(struct migrate_store *store, char *error, size_t error_size);

static int open_envs(struct migrate_store *store, const struct migrate_store_settings *set,
		     char *error, size_t error_size)
{
	bool write = set->access == MIGRATE_STORE_WRITE;
	unsigned int flags = MDB_NOTLS | (!write ? MDB_RDONLY : 0) |
		(set->bulk ? MDB_NOSYNC : 0);
	size_t map_size = set->initial_map_size != 0 ? set->initial_map_size : DEFAULT_MAP_SIZE;
	char routing[4096], secrets[4096];
	struct store_owner owner;

	if (snprintf(routing, sizeof(routing), "%s/routing", set->path) >= (int)sizeof(routing) ||
	    snprintf(secrets, sizeof(secrets), "%s/secrets", set->path) >= (int)sizeof(secrets))
		return store_fail(error, error_size, "store: path too long");
	if (store_owner_resolve(set, &owner, error, error_size) < 0)
		return -1;
	if (write &&
	    (store_make_dir(set->path, 0751, owner.uid, owner.gid, owner.change, error, error_size) < 0 ||
	     store_make_dir(routing, 0770, owner.uid, owner.routing_gid, owner.change, error, error_size) < 0 ||
	     store_make_dir(secrets, 0700, owner.uid, owner.gid, owner.change, error, error_size) < 0))
		return -1;
	if (store_check_mode(routing, 0007, "the routing store", error, error_size) < 0 ||
	    store_check_mode(secrets, 0077, "the secrets store", error, error_size) < 0)
		return -1;
	if (env_open(&store->routing, routing, flags, map_size, 0660, error, error_size) < 0 ||
	    open_routing_dbs(store, error, error_size) < 0)
		return -1;
	if (!write)
		return 0;
	if (store_fix_files(routing, 0640, 0660, &owner, owner.routing_gid, error, error_size) < 0 ||
	    env_open(&store->secrets, secrets, flags, map_size, 0600, error, error_size) < 0 ||
	    store_fix_files(secrets, 0600, 0600, &owner, owner.gid, error, error_size) < 0 ||
	    open_secrets_db(store, error, error_size) < 0 ||
	    store_write(store, &store->routing, schema_check, NULL, error, error_size) < 0)
		return -1;
	return store_remove_orphan_secrets(store, error, error_size);
}

/* The stores open in this process, by directory. LMDB must not have one
   environment open twice in a process at the same time (closing the
   second drops the first one's locks: "Invalid reuse of reader locktable
   slot", measured), and a command run in process inside another one (the
   cut-over's steps in an import process) opens the store its caller has
   open: it gets the same handle. Opened and closed on one thread. */
struct open_store {
	char *path;
	/* a child forked with the list has none of them open (LMDB: an
	   environment is not used across fork) */
	pid_t pid;
	struct migrate_store *store;
	unsigned int refs;
	struct open_store *next;
};
static struct open_store *open_stores = NULL;

static struct open_store **open_store_find(const char *path,
					   const struct migrate_store *store)
{
	struct open_store **o;

	for (o = &open_stores; *o != NULL; o = &(*o)->next) {
		if ((*o)->pid == getpid() &&
		    (path != NULL ? strcmp((*o)->path, path) == 0 : (*o)->store == store))
			return o;
	}
	return NULL;
}

static void store_free(struct migrate_store *store);

int migrate_store_open(const struct migrate_store_settings *set,
		       struct migrate_store **store_r,
		       char *error, size_t error_size)
{
	struct open_store **found = open_store_find(set->path, NULL), *o;
	struct migrate_store *store;

	if (found != NULL) {
		if ((*found)->store->access != MIGRATE_STORE_WRITE &&
		    set->access == MIGRATE_STORE_WRITE) {
			return store_fail(error, error_size, "%s: already open "
					  "read-only in this process", set->path);
		}
		(*found)->refs++;
		*store_r = (*found)->store;
		return 0;
	}
	store = calloc(1, sizeof(*store));
	o = calloc(1, sizeof(*o));
	if (store == NULL || o == NULL || (o->path = strdup(set->path)) == NULL)
		abort();
	store->access = set->access;
	store->now = set->now != NULL ? set->now : clock_now;
	if (open_envs(store, set, error, error_size) < 0) {
		store_free(store);
		free(o->path);
		free(o);
		return -1;
	}
	o->store = store;
	o->pid = getpid();
	o->refs = 1;
	o->next = open_stores;
	open_stores = o;
	*store_r = store;
	return 0;
}

static void env_close(struct lmdb_env *e)
{
	if (e->read_txn != NULL)
		mdb_txn_abort(e->read_txn);
	if (e->env != NULL) {
		/* what a bulk load left unflushed; a no-op otherwise */
		(void)mdb_env_sync(e->env, 1);
		mdb_env_close(e->env);
	}
}

static void store_free(struct migrate_store *store)
{
	env_close(&store->routing);
	env_close(&store->secrets);
	free(store);
}

void migrate_store_close(struct migrate_store **_store)
{
	struct migrate_store *store = *_store;
	struct open_store **found, *o;

	if (store == NULL)
		return;
	*_store = NULL;
	found = open_store_find(NULL, store);
	if (found != NULL) {
		o = *found;
		if (--o->refs > 0)
			return;
		*found = o->next;
		free(o->path);
		free(o);
	}
	store_free(store);
}

/* -- statistics and consistency --------------------------------------------- */

static int do_stats_get(struct store_txn *t, void *context)
{
	return store_stats_read(t, context) < 0 ? -1 : 0;
}

int migrate_store_stats_get(struct migrate_store *store,
			    struct migrate_stats *stats_r,
			    char *error, size_t error_size)
{
	return store_read(store, &store->routing, do_stats_get, stats_r, error, error_size);
}


