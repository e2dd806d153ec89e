/* The LMDB backend of the state store (see migrate-store.h).

   Layout: <store>/routing/{data,lock}.mdb with the named databases
   "accounts", "aliases", "queue", "queue_order" and "meta" (schema version,
   statistics), and <store>/secrets/{data,lock}.mdb with "secrets".

   Every change is one write transaction; LMDB gives one writer at a time and
   readers that never wait. A full map is grown and the transaction retried,
   so MDB_MAP_FULL never reaches a caller; another process's growth
   (MDB_MAP_RESIZED) is adopted the same way. */

#include "migrate-store.h"
#include "migrate-store-codec.h"

#include <errno.h>
#include <grp.h>
#include <lmdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAP_SIZE (64 * 1024 * 1024)
#define WRITE_ATTEMPTS 16
/* an orphan secret younger than this may belong to a create in progress */
#define ORPHAN_SECRET_AGE 3600

struct lmdb_env {
	MDB_env *env;
	MDB_txn *read_txn;	/* reset between reads, renewed per read */
};

struct migrate_store {
	enum migrate_store_access access;
	struct lmdb_env routing, secrets;
	MDB_dbi accounts, aliases, queue, queue_order, meta, secret_db;
	/* index: state byte + address -> nothing (schema 2) */
	MDB_dbi by_state;
	bool by_state_ok;	/* a reader of a schema-1 store has none */
	int64_t (*now)(void);
};

/* The state of one transaction attempt, passed to every helper. */
struct txn {
	struct migrate_store *store;
	MDB_txn *txn;
	int rc;			/* the failing LMDB call's code */
	char *error;
	size_t error_size;
};

static int64_t clock_now(void)
{
	return (int64_t)time(NULL);
}

static int fail(char *error, size_t error_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *error, size_t error_size, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(error, error_size, fmt, args);
	va_end(args);
	return -1;
}

static int txn_fail(struct txn *t, int rc, const char *what)
{
	t->rc = rc;
	return fail(t->error, t->error_size, "store: %s: %s", what, mdb_strerror(rc));
}

static MDB_val val(const void *data, size_t size)
{
	MDB_val v = { size, (void *)data };

	return v;
}

static MDB_val key_of(const char *s)
{
	return val(s, strlen(s));
}

/* -- generic get/put/del on the current transaction ------------------- */

static int t_get(struct txn *t, MDB_dbi dbi, MDB_val key, MDB_val *data_r)
{
	int rc = mdb_get(t->txn, dbi, &key, data_r);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return txn_fail(t, rc, "read");
	return 1;
}

static int t_put(struct txn *t, MDB_dbi dbi, MDB_val key, MDB_val data)
{
	int rc = mdb_put(t->txn, dbi, &key, &data, 0);

	return rc == 0 ? 0 : txn_fail(t, rc, "write");
}

static int t_del(struct txn *t, MDB_dbi dbi, MDB_val key)
{
	int rc = mdb_del(t->txn, dbi, &key, NULL);

	if (rc == MDB_NOTFOUND)
		return 0;
	return rc == 0 ? 1 : txn_fail(t, rc, "delete");
}

/* -- transactions with map growth --------------------------------------- */

static int env_grow(struct lmdb_env *e, char *error, size_t error_size)
{
	MDB_envinfo info;
	int rc;

	mdb_env_info(e->env, &info);
	if (e->read_txn != NULL) {
		/* no transaction may be open while the map is resized */
		mdb_txn_abort(e->read_txn);
		e->read_txn = NULL;
	}
	rc = mdb_env_set_mapsize(e->env, info.me_mapsize * 2);
	if (rc != 0)
		return fail(error, error_size, "store: growing the map to %zu bytes: %s",
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

typedef int txn_fn(struct txn *t, void *context);

static int env_write(struct migrate_store *store, struct lmdb_env *e,
		     txn_fn *fn, void *context, char *error, size_t error_size)
{
	struct txn t = { store, NULL, 0, error, error_size };
	int attempt, ret, rc;

	if (store->access != MIGRATE_STORE_WRITE)
		return fail(error, error_size, "store: opened read-only");
	for (attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		rc = mdb_txn_begin(e->env, NULL, 0, &t.txn);
		if (rc == MDB_MAP_RESIZED && env_adopt_size(e) == 0)
			continue;
		if (rc != 0)
			return fail(error, error_size, "store: write transaction: %s", mdb_strerror(rc));
		t.rc = 0;
		ret = fn(&t, context);
		if (ret < 0) {
			mdb_txn_abort(t.txn);
			if (t.rc != MDB_MAP_FULL)
				return -1;
		} else if ((rc = mdb_txn_commit(t.txn)) == 0) {
			return ret;
		} else if (rc != MDB_MAP_FULL) {
			return fail(error, error_size, "store: commit: %s", mdb_strerror(rc));
		}
		if (env_grow(e, error, error_size) < 0)
			return -1;
	}
	return fail(error, error_size, "store: gave up after %d attempts", WRITE_ATTEMPTS);
}

static int env_read(struct migrate_store *store, struct lmdb_env *e,
		    txn_fn *fn, void *context, char *error, size_t error_size)
{
	struct txn t = { store, NULL, 0, error, error_size };
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
	return fail(error, error_size, "store: read transaction: %s", mdb_strerror(rc));
}

/* -- statistics, kept in "meta" and updated with every state change ----- */

static const char stats_key[] = "stats";

static int stats_read(struct txn *t, struct migrate_stats *stats_r)
{
	MDB_val data;
	int ret = t_get(t, t->store->meta, key_of(stats_key), &data);

	memset(stats_r, 0, sizeof(*stats_r));
	if (ret <= 0)
		return ret;
	if (migrate_stats_decode(data.mv_data, data.mv_size, stats_r) < 0)
		return fail(t->error, t->error_size, "store: corrupt statistics record");
	return 1;
}

static int stats_write(struct txn *t, const struct migrate_stats *stats)
{
	unsigned char buf[MIGRATE_STATS_RECORD_MAX];
	size_t len = migrate_stats_encode(stats, buf);

	return t_put(t, t->store->meta, key_of(stats_key), val(buf, len));
}

/* -- accounts --------------------------------------------------------- */

static int account_read(struct txn *t, const char *address,
			struct migrate_account *account_r)
{
	MDB_val data;
	int ret = t_get(t, t->store->accounts, key_of(address), &data);

	if (ret <= 0)
		return ret;
	if (migrate_account_decode(data.mv_data, data.mv_size, account_r,
				   t->error, t->error_size) < 0)
		return -1;
	/* callers checked the length: this is the lookup hot path */
	memcpy(account_r->address, address, strlen(address) + 1);
	return 1;
}

static MDB_val state_key(enum migrate_account_state state, const char *address,
			 unsigned char buf[1 + MIGRATE_ACCOUNT_ADDRESS_MAX])
{
	size_t len = strlen(address);

	buf[0] = (unsigned char)state;
	memcpy(buf + 1, address, len);
	return val(buf, 1 + len);
}

/* Keeps the by-state index in step with a record's state. */
static int index_move(struct txn *t, const char *address,
		      enum migrate_account_state from, enum migrate_account_state to)
{
	unsigned char buf[1 + MIGRATE_ACCOUNT_ADDRESS_MAX];

	if (from == to)
		return 0;
	if (from != MIGRATE_STATE_UNKNOWN &&
	    t_del(t, t->store->by_state, state_key(from, address, buf)) < 0)
		return -1;
	if (to != MIGRATE_STATE_UNKNOWN)
		return t_put(t, t->store->by_state, state_key(to, address, buf), val("", 0));
	return 0;
}

/* Writes the record; old_state is what the store held (unknown: none). */
static int account_write(struct txn *t, const struct migrate_account *account,
			 enum migrate_account_state old_state)
{
	unsigned char buf[MIGRATE_ACCOUNT_RECORD_MAX];
	size_t len = migrate_account_encode(account, buf);

	if (t_put(t, t->store->accounts, key_of(account->address), val(buf, len)) < 0)
		return -1;
	return index_move(t, account->address, old_state, account->state);
}

static int check_address(const char *address, char *error, size_t error_size)
{
	size_t len = strlen(address);

	if (len == 0 || len > MIGRATE_ACCOUNT_ADDRESS_MAX)
		return fail(error, error_size, "store: invalid account address length %zu", len);
	return 0;
}

/* -- the import queue --------------------------------------------------- */

static int queue_read(struct txn *t, const char *address,
		      struct migrate_queue_entry *entry_r)
{
	MDB_val data;
	int ret = t_get(t, t->store->queue, key_of(address), &data);

	if (ret <= 0)
		return ret;
	if (migrate_queue_entry_decode(data.mv_data, data.mv_size, entry_r) < 0)
		return fail(t->error, t->error_size, "store: corrupt queue entry for %s", address);
	return 1;
}

static int queue_write(struct txn *t, const char *address,
		       const struct migrate_queue_entry *entry)
{
	unsigned char buf[MIGRATE_QUEUE_ENTRY_SIZE], okey[MIGRATE_QUEUE_ORDER_KEY_MAX];
	size_t klen = migrate_queue_order_key(entry, address, okey);

	migrate_queue_entry_encode(entry, buf);
	if (t_put(t, t->store->queue, key_of(address), val(buf, sizeof(buf))) < 0)
		return -1;
	return t_put(t, t->store->queue_order, val(okey, klen), val("", 0));
}

static int queue_remove(struct txn *t, const char *address)
{
	struct migrate_queue_entry entry;
	unsigned char okey[MIGRATE_QUEUE_ORDER_KEY_MAX];
	int ret = queue_read(t, address, &entry);

	if (ret <= 0)
		return ret;
	if (t_del(t, t->store->queue_order,
		  val(okey, migrate_queue_order_key(&entry, address, okey))) < 0 ||
	    t_del(t, t->store->queue, key_of(address)) < 0)
		return -1;
	return 1;
}

static int queue_add(struct txn *t, const char *address, uint8_t priority,
		     int64_t not_before)
{
	struct migrate_queue_entry entry;

	/* re-queueing replaces the old entry and its index key */
	if (queue_remove(t, address) < 0)
		return -1;
	memset(&entry, 0, sizeof(entry));
	entry.priority = priority;
	entry.not_before = not_before;
	entry.enqueued = t->store->now();
	return queue_write(t, address, &entry);
}

/* -- open/close ---------------------------------------------------------- */

static int open_dbi(MDB_txn *txn, const char *name, bool create, MDB_dbi *dbi_r,
		    char *error, size_t error_size)
{
	int rc = mdb_dbi_open(txn, name, create ? MDB_CREATE : 0, dbi_r);

	if (rc != 0)
		return fail(error, error_size, "store: database %s: %s", name, mdb_strerror(rc));
	return 0;
}

/* Refuses files that the wrong people can read: the routing data must not
   be open to everyone, the secrets to anyone but their owner. */
static int check_mode(const char *path, mode_t forbidden, const char *what,
		      char *error, size_t error_size)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return fail(error, error_size, "store: stat(%s): %s", path, strerror(errno));
	}
	if ((st.st_mode & forbidden) != 0) {
		return fail(error, error_size,
			    "store: %s is mode %04o: %s must not be accessible to %s (chmod %s)",
			    path, (unsigned int)(st.st_mode & 07777), what,
			    (forbidden & 0070) != 0 ? "group or others" : "others",
			    (forbidden & 0070) != 0 ? "go-rwx" : "o-rwx");
	}
	return 0;
}

struct owner {
	uid_t uid;
	gid_t gid, routing_gid;
	bool change;
};

static int resolve_owner(const struct migrate_store_settings *set,
			 struct owner *owner_r, char *error, size_t error_size)
{
	owner_r->uid = getuid();
	owner_r->gid = owner_r->routing_gid = getgid();
	owner_r->change = geteuid() == 0 &&
		(set->owner_user != NULL || set->routing_group != NULL);
	if (set->owner_user != NULL) {
		struct passwd *pw = getpwnam(set->owner_user);

		if (pw == NULL)
			return fail(error, error_size, "store: unknown user %s", set->owner_user);
		owner_r->uid = pw->pw_uid;
		owner_r->gid = owner_r->routing_gid = pw->pw_gid;
	}
	if (set->routing_group != NULL) {
		struct group *gr = getgrnam(set->routing_group);

		if (gr == NULL)
			return fail(error, error_size, "store: unknown group %s", set->routing_group);
		owner_r->routing_gid = gr->gr_gid;
	}
	return 0;
}

static int make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid,
		    bool change_owner, char *error, size_t error_size)
{
	if (mkdir(path, mode) < 0) {
		if (errno == EEXIST)
			return 0;
		return fail(error, error_size, "store: mkdir(%s): %s", path, strerror(errno));
	}
	/* mkdir's mode is cut by the umask */
	if (chmod(path, mode) < 0 ||
	    (change_owner && chown(path, uid, gid) < 0))
		return fail(error, error_size, "store: setting owner and mode of %s: %s",
			    path, strerror(errno));
	return 0;
}

static int fix_files(const char *dir, mode_t data_mode, mode_t lock_mode,
		     const struct owner *owner, gid_t gid,
		     char *error, size_t error_size)
{
	static const char *const names[] = { "data.mdb", "lock.mdb" };
	char path[4096];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (chmod(path, i == 0 ? data_mode : lock_mode) < 0 ||
		    (owner->change && chown(path, owner->uid, gid) < 0))
			return fail(error, error_size, "store: setting owner and mode of %s: %s",
				    path, strerror(errno));
	}
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
		if (rc == ENOENT)
			return fail(error, error_size, "store: %s does not exist (not created yet?)", dir);
		return fail(error, error_size, "store: opening %s: %s", dir, mdb_strerror(rc));
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
		return fail(error, error_size, "store: %s", mdb_strerror(rc));
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
	return rc == 0 ? 0 : fail(error, error_size, "store: %s", mdb_strerror(rc));
}

static int open_secrets_db(struct migrate_store *store, char *error, size_t error_size)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(store->secrets.env, NULL, 0, &txn);

	if (rc != 0)
		return fail(error, error_size, "store: %s", mdb_strerror(rc));
	if (open_dbi(txn, "secrets", true, &store->secret_db, error, error_size) < 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	rc = mdb_txn_commit(txn);
	return rc == 0 ? 0 : fail(error, error_size, "store: %s", mdb_strerror(rc));
}

/* Schema 1 -> 2: the by-state index, built from the records. */
static int upgrade_1_to_2(struct txn *t)
{
	MDB_cursor *cursor;
	MDB_val key, data;
	int rc = mdb_cursor_open(t->txn, t->store->accounts, &cursor);

	if (rc != 0)
		return txn_fail(t, rc, "accounts");
	for (rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
		struct migrate_account account;

		if (key.mv_size > MIGRATE_ACCOUNT_ADDRESS_MAX ||
		    migrate_account_decode(data.mv_data, data.mv_size, &account,
					   t->error, t->error_size) < 0) {
			mdb_cursor_close(cursor);
			return -1;
		}
		memcpy(account.address, key.mv_data, key.mv_size);
		account.address[key.mv_size] = '\0';
		if (index_move(t, account.address, MIGRATE_STATE_UNKNOWN, account.state) < 0) {
			mdb_cursor_close(cursor);
			return -1;
		}
	}
	mdb_cursor_close(cursor);
	return rc == MDB_NOTFOUND ? 0 : txn_fail(t, rc, "upgrading to schema 2");
}

/* Upgrades run in order, in the same transaction as the version bump: a
   crash leaves the store at the old version, untouched. */
static int (*const upgrades[])(struct txn *t) = {
	[1] = upgrade_1_to_2,
};

static int schema_check(struct txn *t, void *context)
{
	static const char schema_key[] = "schema";
	uint32_t version = MIGRATE_STORE_SCHEMA_VERSION, current = version;
	MDB_val data;
	int ret = t_get(t, t->store->meta, key_of(schema_key), &data);

	(void)context;
	if (ret < 0)
		return -1;
	if (ret == 0)
		return t_put(t, t->store->meta, key_of(schema_key), val(&version, sizeof(version)));
	if (data.mv_size != sizeof(version))
		return fail(t->error, t->error_size, "store: corrupt schema version");
	memcpy(&version, data.mv_data, sizeof(version));
	if (version > MIGRATE_STORE_SCHEMA_VERSION || version == 0) {
		return fail(t->error, t->error_size,
			    "store: schema version %u is newer than this program supports (%u)",
			    version, MIGRATE_STORE_SCHEMA_VERSION);
	}
	if (version == current)
		return 0;
	for (; version < current; version++) {
		if (upgrades[version](t) < 0)
			return -1;
	}
	return t_put(t, t->store->meta, key_of(schema_key), val(&version, sizeof(version)));
}

static int remove_orphan_secrets(struct migrate_store *store, char *error, size_t error_size);

static int open_envs(struct migrate_store *store, const struct migrate_store_settings *set,
		     char *error, size_t error_size)
{
	bool write = set->access == MIGRATE_STORE_WRITE;
	unsigned int flags = MDB_NOTLS | (!write ? MDB_RDONLY : 0) |
		(set->bulk ? MDB_NOSYNC : 0);
	size_t map_size = set->initial_map_size != 0 ? set->initial_map_size : DEFAULT_MAP_SIZE;
	char routing[4096], secrets[4096];
	struct owner owner;

	if (snprintf(routing, sizeof(routing), "%s/routing", set->path) >= (int)sizeof(routing) ||
	    snprintf(secrets, sizeof(secrets), "%s/secrets", set->path) >= (int)sizeof(secrets))
		return fail(error, error_size, "store: path too long");
	if (resolve_owner(set, &owner, error, error_size) < 0)
		return -1;
	if (write &&
	    (make_dir(set->path, 0751, owner.uid, owner.gid, owner.change, error, error_size) < 0 ||
	     make_dir(routing, 0770, owner.uid, owner.routing_gid, owner.change, error, error_size) < 0 ||
	     make_dir(secrets, 0700, owner.uid, owner.gid, owner.change, error, error_size) < 0))
		return -1;
	if (check_mode(routing, 0007, "the routing store", error, error_size) < 0 ||
	    check_mode(secrets, 0077, "the secrets store", error, error_size) < 0)
		return -1;
	if (env_open(&store->routing, routing, flags, map_size, 0660, error, error_size) < 0 ||
	    open_routing_dbs(store, error, error_size) < 0)
		return -1;
	if (!write)
		return 0;
	if (fix_files(routing, 0640, 0660, &owner, owner.routing_gid, error, error_size) < 0 ||
	    env_open(&store->secrets, secrets, flags, map_size, 0600, error, error_size) < 0 ||
	    fix_files(secrets, 0600, 0600, &owner, owner.gid, error, error_size) < 0 ||
	    open_secrets_db(store, error, error_size) < 0 ||
	    env_write(store, &store->routing, schema_check, NULL, error, error_size) < 0)
		return -1;
	return remove_orphan_secrets(store, error, error_size);
}

int migrate_store_open(const struct migrate_store_settings *set,
		       struct migrate_store **store_r,
		       char *error, size_t error_size)
{
	struct migrate_store *store = calloc(1, sizeof(*store));

	if (store == NULL)
		abort();
	store->access = set->access;
	store->now = set->now != NULL ? set->now : clock_now;
	if (open_envs(store, set, error, error_size) < 0) {
		migrate_store_close(&store);
		return -1;
	}
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

void migrate_store_close(struct migrate_store **_store)
{
	struct migrate_store *store = *_store;

	if (store == NULL)
		return;
	*_store = NULL;
	env_close(&store->routing);
	env_close(&store->secrets);
	free(store);
}

/* -- accounts: public calls ----------------------------------------------- */

struct account_op {
	const char *address;
	struct migrate_account *account;
	const struct migrate_account *new_account;
	enum migrate_account_state from, to;
	const char *last_error;
	int64_t next_retry;
	const struct migrate_account_progress *progress;
};

static int do_account_get(struct txn *t, void *context)
{
	struct account_op *op = context;

	return account_read(t, op->address, op->account);
}

int migrate_store_account_get(struct migrate_store *store, const char *address,
			      struct migrate_account *account_r,
			      char *error, size_t error_size)
{
	struct account_op op = { .address = address, .account = account_r };

	if (check_address(address, error, error_size) < 0)
		return -1;
	return env_read(store, &store->routing, do_account_get, &op, error, error_size);
}

static int do_account_create(struct txn *t, void *context)
{
	struct account_op *op = context;
	struct migrate_account existing, account = *op->new_account;
	struct migrate_stats stats;
	int ret = account_read(t, account.address, &existing);

	if (ret != 0)
		return ret < 0 ? -1 : 0;
	if (stats_read(t, &stats) < 0)
		return -1;
	account.created = account.updated = t->store->now();
	if (stats.started_at == 0)
		stats.started_at = account.created;
	stats.state_counts[account.state]++;
	if (account_write(t, &account, MIGRATE_STATE_UNKNOWN) < 0 || stats_write(t, &stats) < 0)
		return -1;
	if (account.state == MIGRATE_STATE_QUEUED &&
	    queue_add(t, account.address, 0, account.created) < 0)
		return -1;
	return 1;
}

struct secret_op {
	const char *address;
	const struct migrate_secret *secret;
	struct migrate_secret *secret_r;
	int64_t created;
	int count;
};

static int do_secret_set(struct txn *t, void *context)
{
	struct secret_op *op = context;
	unsigned char buf[MIGRATE_SECRET_RECORD_MAX];
	size_t len = migrate_secret_encode(op->secret, op->created, buf);
	int ret = t_put(t, t->store->secret_db, key_of(op->address), val(buf, len));

	/* the plaintext never was here, but the hash and the ciphertext
	   need not linger in freed stack either */
	memset(buf, 0, sizeof(buf));
	return ret;
}

static int check_account(const struct migrate_account *account,
			 char *error, size_t error_size)
{
	if (check_address(account->address, error, error_size) < 0)
		return -1;
	if (account->state != MIGRATE_STATE_QUEUED &&
	    account->state != MIGRATE_STATE_PASSWORDS_ONLY)
		return fail(error, error_size, "store: a new account is queued or passwords-only, not %s",
			    migrate_account_state_name(account->state));
	return 0;
}

int migrate_store_account_create(struct migrate_store *store,
				 const struct migrate_account *account,
				 const struct migrate_secret *secret,
				 char *error, size_t error_size)
{
	struct account_op op = { .new_account = account };
	struct secret_op sop = { .address = account->address, .secret = secret };
	struct migrate_account existing;
	int ret;

	if (check_account(account, error, error_size) < 0)
		return -1;
	ret = migrate_store_account_get(store, account->address, &existing, error, error_size);
	if (ret != 0)
		return ret < 0 ? -1 : 0;
	/* the secret first: a crash before the account record leaves an
	   orphan secret (removed later), never an account without one */
	sop.created = store->now();
	if (env_write(store, &store->secrets, do_secret_set, &sop, error, error_size) < 0)
		return -1;
	return env_write(store, &store->routing, do_account_create, &op, error, error_size);
}

static void apply_transition(struct account_op *op, struct migrate_account *a,
			     struct migrate_stats *stats, int64_t now)
{
	stats->state_counts[a->state]--;
	stats->state_counts[op->to]++;
	a->state = op->to;
	a->updated = now;
	if (op->to == MIGRATE_STATE_FAILED) {
		a->attempts++;
		a->next_retry = op->next_retry;
		snprintf(a->last_error, sizeof(a->last_error), "%s",
			 op->last_error != NULL ? op->last_error : "unknown error");
		stats->errors++;
	} else if (op->to == MIGRATE_STATE_SYNCED || op->to == MIGRATE_STATE_MIGRATED) {
		a->attempts = 0;
	}
	if (op->to == MIGRATE_STATE_MIGRATED) {
		stats->mailboxes_migrated++;
		stats->messages_migrated += a->progress.messages_done;
		stats->bytes_migrated += a->progress.bytes_done;
		snprintf(stats->last_mailbox, sizeof(stats->last_mailbox), "%s", a->address);
	}
}

static int do_account_transition(struct txn *t, void *context)
{
	struct account_op *op = context;
	struct migrate_account account;
	struct migrate_stats stats;
	int ret = account_read(t, op->address, &account);

	if (ret <= 0)
		return ret < 0 ? -1 : fail(t->error, t->error_size,
					   "store: account %s does not exist", op->address);
	if (account.state != op->from) {
		return fail(t->error, t->error_size,
			    "store: account %s is %s, not %s: not moved to %s", op->address,
			    migrate_account_state_name(account.state),
			    migrate_account_state_name(op->from),
			    migrate_account_state_name(op->to));
	}
	if (stats_read(t, &stats) < 0)
		return -1;
	apply_transition(op, &account, &stats, t->store->now());
	if (account_write(t, &account, op->from) < 0 || stats_write(t, &stats) < 0)
		return -1;
	if (op->to == MIGRATE_STATE_QUEUED)
		return queue_add(t, op->address, 0, t->store->now());
	if (op->to == MIGRATE_STATE_MIGRATED || op->to == MIGRATE_STATE_PASSWORDS_ONLY)
		return queue_remove(t, op->address) < 0 ? -1 : 0;
	return 0;
}

int migrate_store_account_transition(struct migrate_store *store,
				     const char *address,
				     enum migrate_account_state from,
				     enum migrate_account_state to,
				     const char *last_error, int64_t next_retry,
				     char *error, size_t error_size)
{
	struct account_op op = {
		.address = address, .from = from, .to = to,
		.last_error = last_error, .next_retry = next_retry,
	};

	if (check_address(address, error, error_size) < 0)
		return -1;
	if (!migrate_account_transition_allowed(from, to)) {
		return fail(error, error_size, "store: illegal transition %s -> %s for %s",
			    migrate_account_state_name(from),
			    migrate_account_state_name(to), address);
	}
	return env_write(store, &store->routing, do_account_transition, &op, error, error_size);
}

static int do_account_progress(struct txn *t, void *context)
{
	struct account_op *op = context;
	struct migrate_account account;
	int ret = account_read(t, op->address, &account);

	if (ret <= 0)
		return ret < 0 ? -1 : fail(t->error, t->error_size,
					   "store: account %s does not exist", op->address);
	account.progress = *op->progress;
	account.updated = t->store->now();
	return account_write(t, &account, account.state);
}

int migrate_store_account_set_progress(struct migrate_store *store,
				       const char *address,
				       const struct migrate_account_progress *progress,
				       char *error, size_t error_size)
{
	struct account_op op = { .address = address, .progress = progress };

	if (check_address(address, error, error_size) < 0)
		return -1;
	return env_write(store, &store->routing, do_account_progress, &op, error, error_size);
}

static int delete_aliases_of(struct txn *t, const char *address)
{
	MDB_cursor *cursor;
	MDB_val key, data;
	int rc = mdb_cursor_open(t->txn, t->store->aliases, &cursor);

	if (rc != 0)
		return txn_fail(t, rc, "aliases");
	for (rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
		struct migrate_alias alias;

		if (migrate_alias_decode(data.mv_data, data.mv_size, &alias) == 0 &&
		    strcmp(alias.account, address) == 0 &&
		    (rc = mdb_cursor_del(cursor, 0)) != 0)
			break;
	}
	mdb_cursor_close(cursor);
	return rc == MDB_NOTFOUND ? 0 : txn_fail(t, rc, "deleting aliases");
}

static int do_account_forget(struct txn *t, void *context)
{
	struct account_op *op = context;
	struct migrate_account account;
	struct migrate_stats stats;
	int ret = account_read(t, op->address, &account);

	if (ret <= 0)
		return ret;
	if (stats_read(t, &stats) < 0)
		return -1;
	stats.state_counts[account.state]--;
	if (t_del(t, t->store->accounts, key_of(op->address)) < 0 ||
	    index_move(t, op->address, account.state, MIGRATE_STATE_UNKNOWN) < 0 ||
	    queue_remove(t, op->address) < 0 ||
	    delete_aliases_of(t, op->address) < 0 ||
	    stats_write(t, &stats) < 0)
		return -1;
	return 1;
}

static int do_secret_delete(struct txn *t, void *context)
{
	struct secret_op *op = context;

	return t_del(t, t->store->secret_db, key_of(op->address));
}

int migrate_store_account_forget(struct migrate_store *store, const char *address,
				 char *error, size_t error_size)
{
	struct account_op op = { .address = address };
	struct secret_op sop = { .address = address };
	int ret;

	if (check_address(address, error, error_size) < 0)
		return -1;
	/* the account first: a crash in between leaves an orphan secret */
	ret = env_write(store, &store->routing, do_account_forget, &op, error, error_size);
	if (ret < 0 ||
	    env_write(store, &store->secrets, do_secret_delete, &sop, error, error_size) < 0)
		return -1;
	return ret;
}

struct iterate_op {
	migrate_store_account_fn *fn;
	void *context;
	enum migrate_account_state state;
};

static int do_account_iterate(struct txn *t, void *context)
{
	struct iterate_op *op = context;
	MDB_cursor *cursor;
	MDB_val key, data;
	int rc = mdb_cursor_open(t->txn, t->store->accounts, &cursor);

	if (rc != 0)
		return txn_fail(t, rc, "accounts");
	for (rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
		struct migrate_account account;

		if (key.mv_size > MIGRATE_ACCOUNT_ADDRESS_MAX ||
		    migrate_account_decode(data.mv_data, data.mv_size, &account,
					   t->error, t->error_size) < 0) {
			mdb_cursor_close(cursor);
			return -1;
		}
		memcpy(account.address, key.mv_data, key.mv_size);
		account.address[key.mv_size] = '\0';
		if (op->fn(&account, op->context) != 0)
			break;
	}
	mdb_cursor_close(cursor);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : txn_fail(t, rc, "iterating accounts");
}

int migrate_store_account_iterate(struct migrate_store *store,
				  migrate_store_account_fn *fn, void *context,
				  char *error, size_t error_size)
{
	struct iterate_op op = { fn, context, MIGRATE_STATE_UNKNOWN };

	return env_read(store, &store->routing, do_account_iterate, &op, error, error_size);
}

static int do_state_iterate(struct txn *t, void *context)
{
	struct iterate_op *op = context;
	unsigned char first = (unsigned char)op->state;
	MDB_val key = val(&first, 1), data;
	MDB_cursor *cursor;
	int ret = 0, rc = mdb_cursor_open(t->txn, t->store->by_state, &cursor);

	if (rc != 0)
		return txn_fail(t, rc, "state index");
	for (rc = mdb_cursor_get(cursor, &key, &data, MDB_SET_RANGE);
	     rc == 0 && key.mv_size > 1 && key.mv_size <= 1 + MIGRATE_ACCOUNT_ADDRESS_MAX &&
	     ((const unsigned char *)key.mv_data)[0] == first;
	     rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
		char address[MIGRATE_ACCOUNT_ADDRESS_MAX + 1];
		struct migrate_account account;

		memcpy(address, (const char *)key.mv_data + 1, key.mv_size - 1);
		address[key.mv_size - 1] = '\0';
		ret = account_read(t, address, &account);
		if (ret < 0)
			break;
		if (ret == 0 || account.state != op->state) {
			ret = fail(t->error, t->error_size,
				   "store: state index names %s wrongly", address);
			break;
		}
		ret = 0;
		if (op->fn(&account, op->context) != 0)
			break;
	}
	mdb_cursor_close(cursor);
	if (ret < 0)
		return -1;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : txn_fail(t, rc, "iterating the state index");
}

int migrate_store_account_iterate_state(struct migrate_store *store,
					enum migrate_account_state state,
					migrate_store_account_fn *fn, void *context,
					char *error, size_t error_size)
{
	struct iterate_op op = { fn, context, state };

	if (!store->by_state_ok)
		return fail(error, error_size, "store: schema 1 store, not upgraded yet "
			    "(the Dovecot side upgrades it when it opens it)");
	return env_read(store, &store->routing, do_state_iterate, &op, error, error_size);
}

/* -- secrets ------------------------------------------------------------ */

static int do_secret_get(struct txn *t, void *context)
{
	struct secret_op *op = context;
	MDB_val data;
	int64_t created;
	int ret = t_get(t, t->store->secret_db, key_of(op->address), &data);

	if (ret <= 0)
		return ret;
	if (migrate_secret_decode(data.mv_data, data.mv_size, op->secret_r, &created) < 0)
		return fail(t->error, t->error_size, "store: corrupt secret for %s", op->address);
	return 1;
}

static int need_secrets(struct migrate_store *store, char *error, size_t error_size)
{
	if (store->access != MIGRATE_STORE_WRITE)
		return fail(error, error_size, "store: secrets are not open in this process");
	return 0;
}

int migrate_store_secret_get(struct migrate_store *store, const char *address,
			     struct migrate_secret *secret_r,
			     char *error, size_t error_size)
{
	struct secret_op op = { .address = address, .secret_r = secret_r };

	if (need_secrets(store, error, error_size) < 0 ||
	    check_address(address, error, error_size) < 0)
		return -1;
	return env_read(store, &store->secrets, do_secret_get, &op, error, error_size);
}

int migrate_store_secret_set(struct migrate_store *store, const char *address,
			     const struct migrate_secret *secret,
			     char *error, size_t error_size)
{
	struct secret_op op = { .address = address, .secret = secret };

	if (need_secrets(store, error, error_size) < 0 ||
	    check_address(address, error, error_size) < 0)
		return -1;
	op.created = store->now();
	return env_write(store, &store->secrets, do_secret_set, &op, error, error_size);
}

static int do_wipe_credentials(struct txn *t, void *context)
{
	struct secret_op *op = context;
	MDB_cursor *cursor;
	MDB_val key, data;
	int rc = mdb_cursor_open(t->txn, t->store->secret_db, &cursor);

	if (rc != 0)
		return txn_fail(t, rc, "secrets");
	op->count = 0;
	for (rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
		struct migrate_secret secret;
		unsigned char buf[MIGRATE_SECRET_RECORD_MAX];
		int64_t created;
		size_t len;

		if (migrate_secret_decode(data.mv_data, data.mv_size, &secret, &created) < 0 ||
		    secret.credential_len == 0)
			continue;
		memset(secret.credential, 0, sizeof(secret.credential));
		secret.credential_len = 0;
		len = migrate_secret_encode(&secret, created, buf);
		data = val(buf, len);
		if ((rc = mdb_cursor_put(cursor, &key, &data, MDB_CURRENT)) != 0)
			break;
		op->count++;
	}
	mdb_cursor_close(cursor);
	if (rc != MDB_NOTFOUND)
		return txn_fail(t, rc, "wiping credentials");
	return op->count;
}

int migrate_store_secrets_wipe_credentials(struct migrate_store *store,
					   char *error, size_t error_size)
{
	struct secret_op op = { .address = NULL };

	if (need_secrets(store, error, error_size) < 0)
		return -1;
	return env_write(store, &store->secrets, do_wipe_credentials, &op, error, error_size);
}

/* Orphans: secrets whose account record never got written (a crash
   between the two transactions) or was forgotten. */
struct orphan_op {
	struct migrate_store *store;
	char *error;
	size_t error_size;
};

static int do_remove_orphans(struct txn *t, void *context)
{
	struct orphan_op *op = context;
	MDB_cursor *cursor;
	MDB_val key, data;
	int64_t cutoff = t->store->now() - ORPHAN_SECRET_AGE;
	int rc = mdb_cursor_open(t->txn, t->store->secret_db, &cursor);
	int removed = 0;

	if (rc != 0)
		return txn_fail(t, rc, "secrets");
	for (rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
		char address[MIGRATE_ACCOUNT_ADDRESS_MAX + 1];
		struct migrate_secret secret;
		struct migrate_account account;
		int64_t created;
		int ret;

		if (key.mv_size > MIGRATE_ACCOUNT_ADDRESS_MAX ||
		    migrate_secret_decode(data.mv_data, data.mv_size, &secret, &created) < 0 ||
		    created > cutoff)
			continue;
		memcpy(address, key.mv_data, key.mv_size);
		address[key.mv_size] = '\0';
		ret = migrate_store_account_get(op->store, address, &account,
						op->error, op->error_size);
		if (ret < 0)
			break;
		if (ret == 0 && (rc = mdb_cursor_del(cursor, 0)) != 0)
			break;
		removed += ret == 0;
	}
	mdb_cursor_close(cursor);
	if (rc != MDB_NOTFOUND && rc != 0)
		return txn_fail(t, rc, "removing orphan secrets");
	return rc == 0 ? -1 : removed;
}

static int remove_orphan_secrets(struct migrate_store *store, char *error, size_t error_size)
{
	struct orphan_op op = { store, error, error_size };

	return env_write(store, &store->secrets, do_remove_orphans, &op,
			 error, error_size) < 0 ? -1 : 0;
}

/* -- aliases -------------------------------------------------------------- */

struct alias_op {
	const struct migrate_alias *alias;
	struct migrate_alias *alias_r;
	const char *name;
};

static int do_alias_set(struct txn *t, void *context)
{
	struct alias_op *op = context;
	struct migrate_alias existing;
	struct migrate_account account;
	struct migrate_stats stats;
	unsigned char buf[MIGRATE_ALIAS_RECORD_MAX];
	MDB_val data;
	int ret = t_get(t, t->store->aliases, key_of(op->alias->alias), &data);

	if (ret < 0)
		return -1;
	if (ret > 0 && migrate_alias_decode(data.mv_data, data.mv_size, &existing) == 0 &&
	    strcmp(existing.account, op->alias->account) == 0)
		return 0;
	ret = account_read(t, op->alias->account, &account);
	if (ret <= 0)
		return ret < 0 ? -1 : fail(t->error, t->error_size,
					   "store: alias %s: account %s does not exist",
					   op->alias->alias, op->alias->account);
	if (stats_read(t, &stats) < 0)
		return -1;
	stats.aliases_created++;
	if (t_put(t, t->store->aliases, key_of(op->alias->alias),
		  val(buf, migrate_alias_encode(op->alias, buf))) < 0 ||
	    stats_write(t, &stats) < 0)
		return -1;
	return 1;
}

int migrate_store_alias_set(struct migrate_store *store,
			    const struct migrate_alias *alias,
			    char *error, size_t error_size)
{
	struct alias_op op = { .alias = alias };

	if (check_address(alias->alias, error, error_size) < 0 ||
	    check_address(alias->account, error, error_size) < 0)
		return -1;
	if (strcmp(alias->alias, alias->account) == 0)
		return fail(error, error_size, "store: alias %s points at itself", alias->alias);
	return env_write(store, &store->routing, do_alias_set, &op, error, error_size);
}

static int do_alias_get(struct txn *t, void *context)
{
	struct alias_op *op = context;
	MDB_val data;
	int ret = t_get(t, t->store->aliases, key_of(op->name), &data);

	if (ret <= 0)
		return ret;
	if (migrate_alias_decode(data.mv_data, data.mv_size, op->alias_r) < 0)
		return fail(t->error, t->error_size, "store: corrupt alias %s", op->name);
	snprintf(op->alias_r->alias, sizeof(op->alias_r->alias), "%s", op->name);
	return 1;
}

int migrate_store_alias_get(struct migrate_store *store, const char *alias,
			    struct migrate_alias *alias_r,
			    char *error, size_t error_size)
{
	struct alias_op op = { .name = alias, .alias_r = alias_r };

	if (check_address(alias, error, error_size) < 0)
		return -1;
	return env_read(store, &store->routing, do_alias_get, &op, error, error_size);
}

/* -- queue ---------------------------------------------------------------- */

struct queue_op {
	const char *address;
	char *address_r;
	pid_t owner;
	unsigned int lease_secs;
	int64_t not_before;
	uint64_t length;
};

static bool lease_held(const struct migrate_queue_entry *entry, int64_t now)
{
	if (entry->lease_owner == 0 || entry->lease_expiry <= now)
		return false;
	/* a dead owner's lease is free at once (same host: the pid says) */
	return kill((pid_t)entry->lease_owner, 0) == 0 || errno == EPERM;
}

static int do_queue_take(struct txn *t, void *context)
{
	struct queue_op *op = context;
	int64_t now = t->store->now();
	MDB_cursor *cursor;
	MDB_val key, data;
	int rc = mdb_cursor_open(t->txn, t->store->queue_order, &cursor);

	if (rc != 0)
		return txn_fail(t, rc, "queue");
	for (rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
		struct migrate_queue_entry entry;
		const char *address;

		address = migrate_queue_order_key_address(key.mv_data, key.mv_size,
							  op->address_r);
		if (address == NULL || queue_read(t, address, &entry) <= 0)
			continue;
		if (entry.not_before > now || lease_held(&entry, now))
			continue;
		mdb_cursor_close(cursor);
		entry.lease_owner = (uint32_t)op->owner;
		entry.lease_expiry = now + op->lease_secs;
		return queue_write(t, address, &entry) < 0 ? -1 : 1;
	}
	mdb_cursor_close(cursor);
	return rc == MDB_NOTFOUND ? 0 : txn_fail(t, rc, "queue");
}

int migrate_store_queue_take(struct migrate_store *store, pid_t owner,
			     unsigned int lease_secs,
			     char address_r[MIGRATE_ACCOUNT_ADDRESS_MAX + 1],
			     char *error, size_t error_size)
{
	struct queue_op op = { .address_r = address_r, .owner = owner, .lease_secs = lease_secs };

	if (owner <= 0)
		return fail(error, error_size, "store: invalid lease owner");
	return env_write(store, &store->routing, do_queue_take, &op, error, error_size);
}

static int held_by(struct txn *t, struct queue_op *op, struct migrate_queue_entry *entry_r)
{
	int ret = queue_read(t, op->address, entry_r);

	if (ret <= 0)
		return ret;
	return entry_r->lease_owner == (uint32_t)op->owner &&
		entry_r->lease_expiry > t->store->now() ? 1 : 0;
}

static int do_queue_renew(struct txn *t, void *context)
{
	struct queue_op *op = context;
	struct migrate_queue_entry entry;
	int ret = held_by(t, op, &entry);

	if (ret <= 0)
		return ret;
	entry.lease_expiry = t->store->now() + op->lease_secs;
	return queue_write(t, op->address, &entry) < 0 ? -1 : 1;
}

int migrate_store_queue_renew(struct migrate_store *store, const char *address,
			      pid_t owner, unsigned int lease_secs,
			      char *error, size_t error_size)
{
	struct queue_op op = { .address = address, .owner = owner, .lease_secs = lease_secs };

	if (check_address(address, error, error_size) < 0)
		return -1;
	return env_write(store, &store->routing, do_queue_renew, &op, error, error_size);
}

static int do_queue_release(struct txn *t, void *context)
{
	struct queue_op *op = context;
	struct migrate_queue_entry entry;
	unsigned char okey[MIGRATE_QUEUE_ORDER_KEY_MAX];
	int ret = held_by(t, op, &entry);

	if (ret <= 0)
		return ret;
	if (op->not_before < 0)
		return queue_remove(t, op->address) < 0 ? -1 : 1;
	/* the order key holds not_before: replace it */
	if (t_del(t, t->store->queue_order,
		  val(okey, migrate_queue_order_key(&entry, op->address, okey))) < 0)
		return -1;
	entry.not_before = op->not_before;
	entry.lease_owner = 0;
	entry.lease_expiry = 0;
	return queue_write(t, op->address, &entry) < 0 ? -1 : 1;
}

int migrate_store_queue_release(struct migrate_store *store, const char *address,
				pid_t owner, int64_t not_before,
				char *error, size_t error_size)
{
	struct queue_op op = { .address = address, .owner = owner, .not_before = not_before };

	if (check_address(address, error, error_size) < 0)
		return -1;
	return env_write(store, &store->routing, do_queue_release, &op, error, error_size);
}

static int do_queue_length(struct txn *t, void *context)
{
	struct queue_op *op = context;
	MDB_stat st;
	int rc = mdb_stat(t->txn, t->store->queue, &st);

	if (rc != 0)
		return txn_fail(t, rc, "queue");
	op->length = st.ms_entries;
	return 0;
}

int migrate_store_queue_length(struct migrate_store *store, uint64_t *length_r,
			       char *error, size_t error_size)
{
	struct queue_op op = { .address = NULL };

	if (env_read(store, &store->routing, do_queue_length, &op, error, error_size) < 0)
		return -1;
	*length_r = op.length;
	return 0;
}

/* -- statistics and consistency --------------------------------------------- */

static int do_stats_get(struct txn *t, void *context)
{
	return stats_read(t, context) < 0 ? -1 : 0;
}

int migrate_store_stats_get(struct migrate_store *store,
			    struct migrate_stats *stats_r,
			    char *error, size_t error_size)
{
	return env_read(store, &store->routing, do_stats_get, stats_r, error, error_size);
}


struct check_op {
	uint64_t counts[MIGRATE_STATE_COUNT];
	uint64_t queued;
};

/* an inconsistency is a result (0), not an error of the check itself */
static int check_fail(struct txn *t, const char *problem, const char *address)
{
	fail(t->error, t->error_size, "store: %s %s", problem, address);
	return 0;
}

static int check_accounts(struct txn *t, struct check_op *op)
{
	MDB_cursor *cursor;
	MDB_val key, data;
	int ret = 1, rc = mdb_cursor_open(t->txn, t->store->accounts, &cursor);

	if (rc != 0)
		return txn_fail(t, rc, "accounts");
	for (rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST); rc == 0 && ret == 1;
	     rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
		struct migrate_account account;
		struct migrate_queue_entry entry;
		unsigned char okey[MIGRATE_QUEUE_ORDER_KEY_MAX];
		MDB_val oval;

		if (key.mv_size > MIGRATE_ACCOUNT_ADDRESS_MAX ||
		    migrate_account_decode(data.mv_data, data.mv_size, &account,
					   t->error, t->error_size) < 0) {
			ret = 0;
			break;
		}
		memcpy(account.address, key.mv_data, key.mv_size);
		account.address[key.mv_size] = '\0';
		op->counts[account.state]++;
		{
			unsigned char ibuf[1 + MIGRATE_ACCOUNT_ADDRESS_MAX];

			ret = t_get(t, t->store->by_state,
				    state_key(account.state, account.address, ibuf), &oval);
			if (ret <= 0) {
				ret = ret < 0 ? -1 : check_fail(t, "no state index entry for",
								account.address);
				break;
			}
		}
		ret = queue_read(t, account.address, &entry);
		if (ret < 0)
			break;
		if (account.state == MIGRATE_STATE_QUEUED && ret == 0) {
			ret = check_fail(t, "no queue entry for queued account",
					 account.address);
		} else if (ret == 1) {
			op->queued++;
			ret = t_get(t, t->store->queue_order,
				    val(okey, migrate_queue_order_key(&entry, account.address, okey)),
				    &oval);
			if (ret == 0)
				ret = check_fail(t, "queue entry not indexed for",
						 account.address);
		} else {
			ret = 1;
		}
	}
	mdb_cursor_close(cursor);
	return ret;
}

static int do_check(struct txn *t, void *context)
{
	struct check_op *op = context;
	struct migrate_stats stats;
	MDB_stat qst, ost, ist;
	uint64_t total;
	unsigned int i;
	int ret = check_accounts(t, op);

	if (ret <= 0)
		return ret;
	if (stats_read(t, &stats) < 0)
		return -1;
	for (i = 0; i < MIGRATE_STATE_COUNT; i++) {
		if (stats.state_counts[i] != op->counts[i])
			return check_fail(t, "statistics miscount accounts in state",
					  migrate_account_state_name(i));
	}
	if (mdb_stat(t->txn, t->store->queue, &qst) != 0 ||
	    mdb_stat(t->txn, t->store->queue_order, &ost) != 0)
		return fail(t->error, t->error_size, "store: cannot count the queue");
	if (mdb_stat(t->txn, t->store->by_state, &ist) != 0)
		return fail(t->error, t->error_size, "store: cannot count the state index");
	for (i = 0, total = 0; i < MIGRATE_STATE_COUNT; i++)
		total += op->counts[i];
	if (ist.ms_entries != total)
		return check_fail(t, "state index entries without an account:", "the counts differ");
	if (qst.ms_entries != op->queued || ost.ms_entries != op->queued)
		return check_fail(t, "queue entries or index keys without an account:",
				  "the counts differ");
	return 1;
}

struct secrets_check {
	struct migrate_store *store;
	char *error;
	size_t error_size;
	int result;
};

static int secret_exists(const struct migrate_account *account, void *context)
{
	struct secrets_check *c = context;
	struct migrate_secret secret;

	c->result = migrate_store_secret_get(c->store, account->address, &secret,
					     c->error, c->error_size);
	memset(&secret, 0, sizeof(secret));
	if (c->result == 0)
		fail(c->error, c->error_size, "store: no secret for account %s", account->address);
	return c->result != 1;
}

int migrate_store_check(struct migrate_store *store, char *error, size_t error_size)
{
	struct secrets_check secrets = { store, error, error_size, 1 };
	struct check_op op;
	int ret;

	memset(&op, 0, sizeof(op));
	ret = env_read(store, &store->routing, do_check, &op, error, error_size);
	if (ret != 1 || store->access != MIGRATE_STORE_WRITE)
		return ret;
	if (migrate_store_account_iterate(store, secret_exists, &secrets, error, error_size) < 0)
		return -1;
	return secrets.result;
}
