/* The state store's accounts: records, transitions, the state index (see
   migrate-store.h; LMDB internals in migrate-store-lmdb.h). */

#include "migrate-store-lmdb.h"

#include <stdio.h>
#include <string.h>

/* -- accounts: public calls ----------------------------------------------- */

struct account_op {
	const char *address;
	struct migrate_account *account;
	const struct migrate_account *new_account;
	enum migrate_account_state from, to;
	const char *last_error;
	int64_t next_retry;
	const struct migrate_account_progress *progress;
	bool local;
	int64_t now_ms;
	bool granted;
};

static int do_account_get(struct store_txn *t, void *context)
{
	struct account_op *op = context;

	return store_account_read(t, op->address, op->account);
}

int migrate_store_account_get(struct migrate_store *store, const char *address,
			      struct migrate_account *account_r,
			      char *error, size_t error_size)
{
	struct account_op op = { .address = address, .account = account_r };

	if (store_check_address(address, error, error_size) < 0)
		return -1;
	return store_read(store, &store->routing, do_account_get, &op, error, error_size);
}

static int do_account_create(struct store_txn *t, void *context)
{
	struct account_op *op = context;
	struct migrate_account existing, account = *op->new_account;
	struct migrate_stats stats;
	int ret = store_account_read(t, account.address, &existing);

	if (ret != 0)
		return ret < 0 ? -1 : 0;
	if (store_stats_read(t, &stats) < 0)
		return -1;
	account.created = account.updated = t->store->now();
	if (stats.started_at == 0)
		stats.started_at = account.created;
	stats.state_counts[account.state]++;
	if (store_account_write(t, &account, MIGRATE_STATE_UNKNOWN) < 0 || store_stats_write(t, &stats) < 0)
		return -1;
	if (account.state == MIGRATE_STATE_QUEUED &&
	    store_queue_add(t, account.address, 0, account.created) < 0)
		return -1;
	return 1;
}

static int check_account(const struct migrate_account *account,
			 char *error, size_t error_size)
{
	if (store_check_address(account->address, error, error_size) < 0)
		return -1;
	if (account->state != MIGRATE_STATE_QUEUED &&
	    account->state != MIGRATE_STATE_PASSWORDS_ONLY)
		return store_fail(error, error_size, "store: a new account is queued or passwords-only, not %s",
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
	if (store_write(store, &store->secrets, store_secret_set_txn, &sop, error, error_size) < 0)
		return -1;
	return store_write(store, &store->routing, do_account_create, &op, error, error_size);
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

static int do_account_transition(struct store_txn *t, void *context)
{
	struct account_op *op = context;
	struct migrate_account account;
	struct migrate_stats stats;
	int ret = store_account_read(t, op->address, &account);

	if (ret <= 0)
		return ret < 0 ? -1 : store_fail(t->error, t->error_size,
					   "store: account %s does not exist", op->address);
	if (account.state != op->from) {
		return store_fail(t->error, t->error_size,
			    "store: account %s is %s, not %s: not moved to %s", op->address,
			    migrate_account_state_name(account.state),
			    migrate_account_state_name(op->from),
			    migrate_account_state_name(op->to));
	}
	if (store_stats_read(t, &stats) < 0)
		return -1;
	apply_transition(op, &account, &stats, t->store->now());
	if (store_account_write(t, &account, op->from) < 0 || store_stats_write(t, &stats) < 0)
		return -1;
	if (op->to == MIGRATE_STATE_QUEUED)
		return store_queue_add(t, op->address, 0, t->store->now());
	if (op->to == MIGRATE_STATE_MIGRATED || op->to == MIGRATE_STATE_PASSWORDS_ONLY)
		return store_queue_remove(t, op->address) < 0 ? -1 : 0;
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

	if (store_check_address(address, error, error_size) < 0)
		return -1;
	if (!migrate_account_transition_allowed(from, to)) {
		return store_fail(error, error_size, "store: illegal transition %s -> %s for %s",
			    migrate_account_state_name(from),
			    migrate_account_state_name(to), address);
	}
	return store_write(store, &store->routing, do_account_transition, &op, error, error_size);
}

/* One transaction, so that it orders against the cut-over's flip: either
   the grant is written before the flip (and the fence sees it) or the
   state read here is already cutover (and no grant is written). */
static int do_account_proxy_grant(struct store_txn *t, void *context)
{
	struct account_op *op = context;
	int ret = store_account_read(t, op->address, op->account);

	op->granted = false;
	if (ret <= 0 || !migrate_account_proxied(op->account))
		return ret;
	op->account->proxy_granted_ms = op->now_ms;
	if (store_account_write(t, op->account, op->account->state) < 0)
		return -1;
	op->granted = true;
	return 1;
}

int migrate_store_account_proxy_grant(struct migrate_store *store,
				      const char *address, int64_t now_ms,
				      struct migrate_account *account_r,
				      bool *granted_r,
				      char *error, size_t error_size)
{
	struct account_op op = {
		.address = address, .account = account_r, .now_ms = now_ms,
	};
	int ret;

	*granted_r = false;
	if (store_check_address(address, error, error_size) < 0)
		return -1;
	ret = store_write(store, &store->routing, do_account_proxy_grant, &op,
			  error, error_size);
	*granted_r = ret > 0 && op.granted;
	return ret;
}

static void rate_add(struct migrate_stats *stats, int64_t now,
		     uint64_t messages, uint64_t bytes)
{
	if (now >= stats->rate_window_start + MIGRATE_RATE_WINDOW_SECS) {
		if (now < stats->rate_window_start + 2 * MIGRATE_RATE_WINDOW_SECS) {
			stats->rate_prev_start = stats->rate_window_start;
			stats->rate_prev_messages = stats->rate_window_messages;
			stats->rate_prev_bytes = stats->rate_window_bytes;
		} else {
			/* idle for a while: the rate starts anew */
			stats->rate_prev_start = 0;
			stats->rate_prev_messages = stats->rate_prev_bytes = 0;
		}
		stats->rate_window_start = now;
		stats->rate_window_messages = stats->rate_window_bytes = 0;
	}
	stats->rate_window_messages += messages;
	stats->rate_window_bytes += bytes;
}

/* What a progress update adds to the totals: only growth counts (a
   recount after a discarded copy starts low again). */
static int progress_stats(struct store_txn *t,
			  const struct migrate_account_progress *old,
			  const struct migrate_account_progress *new)
{
	uint64_t messages = new->messages_done > old->messages_done ?
		new->messages_done - old->messages_done : 0;
	uint64_t bytes = new->bytes_done > old->bytes_done ?
		new->bytes_done - old->bytes_done : 0;
	struct migrate_stats stats;

	if (messages == 0 && bytes == 0)
		return 0;
	if (store_stats_read(t, &stats) < 0)
		return -1;
	stats.imported_messages += messages;
	stats.imported_bytes += bytes;
	rate_add(&stats, t->store->now(), messages, bytes);
	return store_stats_write(t, &stats);
}

/* Reads op's account, lets change() change it, writes it back (its
   state unchanged), stamped with the time. */
static int account_update(struct store_txn *t, struct account_op *op,
			  int (*change)(struct store_txn *t, struct account_op *op,
					struct migrate_account *account))
{
	struct migrate_account account;
	int ret = store_account_read(t, op->address, &account);

	if (ret <= 0)
		return ret < 0 ? -1 : store_fail(t->error, t->error_size,
					   "store: account %s does not exist", op->address);
	if (change(t, op, &account) < 0)
		return -1;
	account.updated = t->store->now();
	return store_account_write(t, &account, account.state);
}

static int change_progress(struct store_txn *t, struct account_op *op,
			   struct migrate_account *account)
{
	if (progress_stats(t, &account->progress, op->progress) < 0)
		return -1;
	account->progress = *op->progress;
	return 0;
}

static int do_account_progress(struct store_txn *t, void *context)
{
	return account_update(t, context, change_progress);
}

int migrate_store_account_set_progress(struct migrate_store *store,
				       const char *address,
				       const struct migrate_account_progress *progress,
				       char *error, size_t error_size)
{
	struct account_op op = { .address = address, .progress = progress };

	if (store_check_address(address, error, error_size) < 0)
		return -1;
	return store_write(store, &store->routing, do_account_progress, &op, error, error_size);
}

static int change_local(struct store_txn *t __attribute__((unused)), struct account_op *op,
			struct migrate_account *account)
{
	account->local = op->local;
	return 0;
}

static int do_account_local(struct store_txn *t, void *context)
{
	return account_update(t, context, change_local);
}

int migrate_store_account_set_local(struct migrate_store *store,
				    const char *address, bool local,
				    char *error, size_t error_size)
{
	struct account_op op = { .address = address, .local = local };

	if (store_check_address(address, error, error_size) < 0)
		return -1;
	return store_write(store, &store->routing, do_account_local, &op, error, error_size);
}

static int delete_aliases_of(struct store_txn *t, const char *address)
{
	MDB_cursor *cursor;
	MDB_val key, data;
	int rc = mdb_cursor_open(t->txn, t->store->aliases, &cursor);

	if (rc != 0)
		return store_txn_fail(t, rc, "aliases");
	for (rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
		struct migrate_alias alias;

		if (migrate_alias_decode(data.mv_data, data.mv_size, &alias) == 0 &&
		    strcmp(alias.account, address) == 0 &&
		    (rc = mdb_cursor_del(cursor, 0)) != 0)
			break;
	}
	mdb_cursor_close(cursor);
	return rc == MDB_NOTFOUND ? 0 : store_txn_fail(t, rc, "deleting aliases");
}

static int do_account_forget(struct store_txn *t, void *context)
{
	struct account_op *op = context;
	struct migrate_account account;
	struct migrate_stats stats;
	int ret = store_account_read(t, op->address, &account);

	if (ret <= 0)
		return ret;
	if (store_stats_read(t, &stats) < 0)
		return -1;
	stats.state_counts[account.state]--;
	if (store_del(t, t->store->accounts, store_key(op->address)) < 0 ||
	    store_index_move(t, op->address, account.state, MIGRATE_STATE_UNKNOWN) < 0 ||
	    store_queue_remove(t, op->address) < 0 ||
	    delete_aliases_of(t, op->address) < 0 ||
	    store_stats_write(t, &stats) < 0)
		return -1;
	return 1;
}

int migrate_store_account_forget(struct migrate_store *store, const char *address,
				 char *error, size_t error_size)
{
	struct account_op op = { .address = address };
	struct secret_op sop = { .address = address };
	int ret;

	if (store_check_address(address, error, error_size) < 0)
		return -1;
	/* the account first: a crash in between leaves an orphan secret */
	ret = store_write(store, &store->routing, do_account_forget, &op, error, error_size);
	if (ret < 0 ||
	    store_write(store, &store->secrets, store_secret_delete_txn, &sop, error, error_size) < 0 ||
	    (store->access == MIGRATE_STORE_WRITE &&
	     migrate_store_ledger_forget(store, address, error, error_size) < 0))
		return -1;
	return ret;
}

struct iterate_op {
	migrate_store_account_fn *fn;
	void *context;
	enum migrate_account_state state;
};

int store_accounts_foreach(struct store_txn *t, store_account_txn_fn *fn, void *context)
{
	MDB_cursor *cursor;
	MDB_val key, data;
	int ret = 0, rc = mdb_cursor_open(t->txn, t->store->accounts, &cursor);

	if (rc != 0)
		return store_txn_fail(t, rc, "accounts");
	for (rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST); rc == 0 && ret == 0;
	     rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
		struct migrate_account account;

		if (key.mv_size > MIGRATE_ACCOUNT_ADDRESS_MAX ||
		    migrate_account_decode(data.mv_data, data.mv_size, &account,
					   t->error, t->error_size) < 0) {
			ret = -1;
			break;
		}
		memcpy(account.address, key.mv_data, key.mv_size);
		account.address[key.mv_size] = '\0';
		ret = fn(t, &account, context);
	}
	mdb_cursor_close(cursor);
	if (ret < 0)
		return -1;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_txn_fail(t, rc, "iterating accounts");
}

static int call_iterate_fn(struct store_txn *t, const struct migrate_account *account,
			   void *context)
{
	struct iterate_op *op = context;

	(void)t;
	return op->fn(account, op->context) != 0 ? 1 : 0;
}

static int do_account_iterate(struct store_txn *t, void *context)
{
	return store_accounts_foreach(t, call_iterate_fn, context);
}

int migrate_store_account_iterate(struct migrate_store *store,
				  migrate_store_account_fn *fn, void *context,
				  char *error, size_t error_size)
{
	struct iterate_op op = { fn, context, MIGRATE_STATE_UNKNOWN };

	return store_read(store, &store->routing, do_account_iterate, &op, error, error_size);
}

static int do_state_iterate(struct store_txn *t, void *context)
{
	struct iterate_op *op = context;
	unsigned char first = (unsigned char)op->state;
	MDB_val key = store_val(&first, 1), data;
	MDB_cursor *cursor;
	int ret = 0, rc = mdb_cursor_open(t->txn, t->store->by_state, &cursor);

	if (rc != 0)
		return store_txn_fail(t, rc, "state index");
	for (rc = mdb_cursor_get(cursor, &key, &data, MDB_SET_RANGE);
	     rc == 0 && key.mv_size > 1 && key.mv_size <= 1 + MIGRATE_ACCOUNT_ADDRESS_MAX &&
	     ((const unsigned char *)key.mv_data)[0] == first;
	     rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
		char address[MIGRATE_ACCOUNT_ADDRESS_MAX + 1];
		struct migrate_account account;

		memcpy(address, (const char *)key.mv_data + 1, key.mv_size - 1);
		address[key.mv_size - 1] = '\0';
		ret = store_account_read(t, address, &account);
		if (ret < 0)
			break;
		if (ret == 0 || account.state != op->state) {
			ret = store_fail(t->error, t->error_size,
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
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_txn_fail(t, rc, "iterating the state index");
}

int migrate_store_account_iterate_state(struct migrate_store *store,
					enum migrate_account_state state,
					migrate_store_account_fn *fn, void *context,
					char *error, size_t error_size)
{
	struct iterate_op op = { fn, context, state };

	if (!store->by_state_ok)
		return store_fail(error, error_size, "store: schema 1 store, not upgraded yet "
			    "(the Dovecot side upgrades it when it opens it)");
	return store_read(store, &store->routing, do_state_iterate, &op, error, error_size);
}


void migrate_stats_rate(const struct migrate_stats *stats, int64_t now,
			double *messages_per_sec_r, double *bytes_per_sec_r)
{
	int64_t since = now - stats->rate_window_start;
	uint64_t messages = stats->rate_window_messages;
	uint64_t bytes = stats->rate_window_bytes;
	int64_t span = since;

	*messages_per_sec_r = *bytes_per_sec_r = 0;
	if (stats->rate_window_start == 0 || since < 0 ||
	    since >= 2 * MIGRATE_RATE_WINDOW_SECS)
		return;
	if (since < MIGRATE_RATE_WINDOW_SECS && stats->rate_prev_start != 0) {
		/* the window still fills: the one before it too */
		messages += stats->rate_prev_messages;
		bytes += stats->rate_prev_bytes;
		span = now - stats->rate_prev_start;
	}
	if (span < 1)
		span = 1;
	*messages_per_sec_r = (double)messages / (double)span;
	*bytes_per_sec_r = (double)bytes / (double)span;
}
