/* The state store's import queue: entries, their order index and leases
   (see migrate-store.h). */

#include "migrate-store-lmdb.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

/* -- the import queue --------------------------------------------------- */

int store_queue_read(struct store_txn *t, const char *address,
		      struct migrate_queue_entry *entry_r)
{
	MDB_val data;
	int ret = store_get(t, t->store->queue, store_key(address), &data);

	if (ret <= 0)
		return ret;
	if (migrate_queue_entry_decode(data.mv_data, data.mv_size, entry_r) < 0)
		return store_fail(t->error, t->error_size, "store: corrupt queue entry for %s", address);
	return 1;
}

int store_queue_write(struct store_txn *t, const char *address,
		       const struct migrate_queue_entry *entry)
{
	unsigned char buf[MIGRATE_QUEUE_ENTRY_SIZE], okey[MIGRATE_QUEUE_ORDER_KEY_MAX];
	size_t klen = migrate_queue_order_key(entry, address, okey);

	migrate_queue_entry_encode(entry, buf);
	if (store_put(t, t->store->queue, store_key(address), store_val(buf, sizeof(buf))) < 0)
		return -1;
	return store_put(t, t->store->queue_order, store_val(okey, klen), store_val("", 0));
}

int store_queue_remove(struct store_txn *t, const char *address)
{
	struct migrate_queue_entry entry;
	unsigned char okey[MIGRATE_QUEUE_ORDER_KEY_MAX];
	int ret = store_queue_read(t, address, &entry);

	if (ret <= 0)
		return ret;
	if (store_del(t, t->store->queue_order,
		  store_val(okey, migrate_queue_order_key(&entry, address, okey))) < 0 ||
	    store_del(t, t->store->queue, store_key(address)) < 0)
		return -1;
	return 1;
}

int store_queue_add(struct store_txn *t, const char *address, uint8_t priority,
		     int64_t not_before)
{
	struct migrate_queue_entry entry;

	/* re-queueing replaces the old entry and its index key */
	if (store_queue_remove(t, address) < 0)
		return -1;
	memset(&entry, 0, sizeof(entry));
	entry.priority = priority;
	entry.not_before = not_before;
	entry.enqueued = t->store->now();
	return store_queue_write(t, address, &entry);
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

static int do_queue_take(struct store_txn *t, void *context)
{
	struct queue_op *op = context;
	int64_t now = t->store->now();
	MDB_cursor *cursor;
	MDB_val key, data;
	int rc = mdb_cursor_open(t->txn, t->store->queue_order, &cursor);

	if (rc != 0)
		return store_txn_fail(t, rc, "queue");
	for (rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
		struct migrate_queue_entry entry;
		const char *address;

		address = migrate_queue_order_key_address(key.mv_data, key.mv_size,
							  op->address_r);
		if (address == NULL || store_queue_read(t, address, &entry) <= 0)
			continue;
		if (entry.not_before > now || lease_held(&entry, now))
			continue;
		mdb_cursor_close(cursor);
		entry.lease_owner = (uint32_t)op->owner;
		entry.lease_expiry = now + op->lease_secs;
		return store_queue_write(t, address, &entry) < 0 ? -1 : 1;
	}
	mdb_cursor_close(cursor);
	return rc == MDB_NOTFOUND ? 0 : store_txn_fail(t, rc, "queue");
}

int migrate_store_queue_take(struct migrate_store *store, pid_t owner,
			     unsigned int lease_secs,
			     char address_r[MIGRATE_ACCOUNT_ADDRESS_MAX + 1],
			     char *error, size_t error_size)
{
	struct queue_op op = { .address_r = address_r, .owner = owner, .lease_secs = lease_secs };

	if (owner <= 0)
		return store_fail(error, error_size, "store: invalid lease owner");
	return store_write(store, &store->routing, do_queue_take, &op, error, error_size);
}

static int held_by(struct store_txn *t, struct queue_op *op, struct migrate_queue_entry *entry_r)
{
	int ret = store_queue_read(t, op->address, entry_r);

	if (ret <= 0)
		return ret;
	return entry_r->lease_owner == (uint32_t)op->owner &&
		entry_r->lease_expiry > t->store->now() ? 1 : 0;
}

static int do_queue_renew(struct store_txn *t, void *context)
{
	struct queue_op *op = context;
	struct migrate_queue_entry entry;
	int ret = held_by(t, op, &entry);

	if (ret <= 0)
		return ret;
	entry.lease_expiry = t->store->now() + op->lease_secs;
	return store_queue_write(t, op->address, &entry) < 0 ? -1 : 1;
}

int migrate_store_queue_renew(struct migrate_store *store, const char *address,
			      pid_t owner, unsigned int lease_secs,
			      char *error, size_t error_size)
{
	struct queue_op op = { .address = address, .owner = owner, .lease_secs = lease_secs };

	if (store_check_address(address, error, error_size) < 0)
		return -1;
	return store_write(store, &store->routing, do_queue_renew, &op, error, error_size);
}

static int do_queue_release(struct store_txn *t, void *context)
{
	struct queue_op *op = context;
	struct migrate_queue_entry entry;
	unsigned char okey[MIGRATE_QUEUE_ORDER_KEY_MAX];
	int ret = held_by(t, op, &entry);

	if (ret <= 0)
		return ret;
	if (op->not_before < 0)
		return store_queue_remove(t, op->address) < 0 ? -1 : 1;
	/* the order key holds not_before: replace it */
	if (store_del(t, t->store->queue_order,
		  store_val(okey, migrate_queue_order_key(&entry, op->address, okey))) < 0)
		return -1;
	entry.not_before = op->not_before;
	entry.lease_owner = 0;
	entry.lease_expiry = 0;
	return store_queue_write(t, op->address, &entry) < 0 ? -1 : 1;
}

int migrate_store_queue_release(struct migrate_store *store, const char *address,
				pid_t owner, int64_t not_before,
				char *error, size_t error_size)
{
	struct queue_op op = { .address = address, .owner = owner, .not_before = not_before };

	if (store_check_address(address, error, error_size) < 0)
		return -1;
	return store_write(store, &store->routing, do_queue_release, &op, error, error_size);
}

static int do_queue_length(struct store_txn *t, void *context)
{
	struct queue_op *op = context;
	MDB_stat st;
	int rc = mdb_stat(t->txn, t->store->queue, &st);

	if (rc != 0)
		return store_txn_fail(t, rc, "queue");
	op->length = st.ms_entries;
	return 0;
}

int migrate_store_queue_length(struct migrate_store *store, uint64_t *length_r,
			       char *error, size_t error_size)
{
	struct queue_op op = { .address = NULL };

	if (store_read(store, &store->routing, do_queue_length, &op, error, error_size) < 0)
		return -1;
	*length_r = op.length;
	return 0;
}

