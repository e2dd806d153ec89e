/* Consistency check of the whole store (see migrate_store_check()). */

#include "migrate-store-lmdb.h"

#include <stdio.h>
#include <string.h>
struct check_op {
	uint64_t counts[MIGRATE_STATE_COUNT];
	uint64_t queued;
};

/* an inconsistency is a result (0), not an error of the check itself */
static int check_fail(struct store_txn *t, const char *problem, const char *address)
{
	store_fail(t->error, t->error_size, "store: %s %s", problem, address);
	return 0;
}

static int check_accounts(struct store_txn *t, struct check_op *op)
{
	MDB_cursor *cursor;
	MDB_val key, data;
	int ret = 1, rc = mdb_cursor_open(t->txn, t->store->accounts, &cursor);

	if (rc != 0)
		return store_txn_fail(t, rc, "accounts");
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

			ret = store_get(t, t->store->by_state,
				    store_state_key(account.state, account.address, ibuf), &oval);
			if (ret <= 0) {
				ret = ret < 0 ? -1 : check_fail(t, "no state index entry for",
								account.address);
				break;
			}
		}
		ret = store_queue_read(t, account.address, &entry);
		if (ret < 0)
			break;
		if (account.state == MIGRATE_STATE_QUEUED && ret == 0) {
			ret = check_fail(t, "no queue entry for queued account",
					 account.address);
		} else if (ret == 1) {
			op->queued++;
			ret = store_get(t, t->store->queue_order,
				    store_val(okey, migrate_queue_order_key(&entry, account.address, okey)),
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

static int do_check(struct store_txn *t, void *context)
{
	struct check_op *op = context;
	struct migrate_stats stats;
	MDB_stat qst, ost, ist;
	uint64_t total;
	unsigned int i;
	int ret = check_accounts(t, op);

	if (ret <= 0)
		return ret;
	if (store_stats_read(t, &stats) < 0)
		return -1;
	for (i = 0; i < MIGRATE_STATE_COUNT; i++) {
		if (stats.state_counts[i] != op->counts[i])
			return check_fail(t, "statistics miscount accounts in state",
					  migrate_account_state_name(i));
	}
	if (mdb_stat(t->txn, t->store->queue, &qst) != 0 ||
	    mdb_stat(t->txn, t->store->queue_order, &ost) != 0)
		return store_fail(t->error, t->error_size, "store: cannot count the queue");
	if (mdb_stat(t->txn, t->store->by_state, &ist) != 0)
		return store_fail(t->error, t->error_size, "store: cannot count the state index");
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
