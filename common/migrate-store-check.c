/* Consistency check of the whole store (see migrate_store_check()). */

#include "migrate-store-lmdb.h"

#include <stdio.h>
#include <string.h>

struct check_op {
	uint64_t counts[MIGRATE_STATE_COUNT];
	uint64_t queued;
	bool inconsistent;
};

/* an inconsistency is a result, not an error of the check itself */
static int check_fail(struct store_txn *t, struct check_op *op, const char *problem,
		      const char *address)
{
	store_fail(t->error, t->error_size, "store: %s %s", problem, address);
	op->inconsistent = true;
	return 1;
}

static int check_account(struct store_txn *t, const struct migrate_account *account,
			 void *context)
{
	struct check_op *op = context;
	struct migrate_queue_entry entry;
	unsigned char buf[MIGRATE_QUEUE_ORDER_KEY_MAX];
	MDB_val data;
	int ret;

	op->counts[account->state]++;
	ret = store_get(t, t->store->by_state,
			store_state_key(account->state, account->address, buf), &data);
	if (ret <= 0)
		return ret < 0 ? -1 : check_fail(t, op, "no state index entry for", account->address);
	ret = store_queue_read(t, account->address, &entry);
	if (ret < 0)
		return -1;
	if (ret == 0) {
		return account->state != MIGRATE_STATE_QUEUED ? 0 :
			check_fail(t, op, "no queue entry for queued account", account->address);
	}
	op->queued++;
	ret = store_get(t, t->store->queue_order,
			store_val(buf, migrate_queue_order_key(&entry, account->address, buf)),
			&data);
	if (ret <= 0)
		return ret < 0 ? -1 : check_fail(t, op, "queue entry not indexed for", account->address);
	return 0;
}

static int do_check(struct store_txn *t, void *context)
{
	struct check_op *op = context;
	struct migrate_stats stats;
	MDB_stat qst, ost, ist;
	uint64_t total = 0;
	unsigned int i;

	if (store_accounts_foreach(t, check_account, op) < 0)
		return -1;
	if (op->inconsistent)
		return 0;
	if (store_stats_read(t, &stats) < 0)
		return -1;
	for (i = 0; i < MIGRATE_STATE_COUNT; i++) {
		total += op->counts[i];
		if (stats.state_counts[i] != op->counts[i]) {
			check_fail(t, op, "statistics miscount accounts in state",
				   migrate_account_state_name(i));
			return 0;
		}
	}
	if (mdb_stat(t->txn, t->store->queue, &qst) != 0 ||
	    mdb_stat(t->txn, t->store->queue_order, &ost) != 0 ||
	    mdb_stat(t->txn, t->store->by_state, &ist) != 0)
		return store_fail(t->error, t->error_size, "store: cannot count the indexes");
	if (ist.ms_entries != total) {
		check_fail(t, op, "state index entries without an account:", "the counts differ");
		return 0;
	}
	if (qst.ms_entries != op->queued || ost.ms_entries != op->queued) {
		check_fail(t, op, "queue entries or index keys without an account:",
			   "the counts differ");
		return 0;
	}
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
		store_fail(c->error, c->error_size, "store: no secret for account %s", account->address);
	return c->result != 1;
}

int migrate_store_check(struct migrate_store *store, char *error, size_t error_size)
{
	struct secrets_check secrets = { store, error, error_size, 1 };
	struct check_op op;
	int ret;

	memset(&op, 0, sizeof(op));
	ret = store_read(store, &store->routing, do_check, &op, error, error_size);
	if (ret != 1 || store->access != MIGRATE_STORE_WRITE)
		return ret;
	if (migrate_store_account_iterate(store, secret_exists, &secrets, error, error_size) < 0)
		return -1;
	return secrets.result;
}
