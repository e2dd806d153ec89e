/* The state store's learnt aliases (see migrate-store.h). */

#include "migrate-store-lmdb.h"

#include <stdio.h>
#include <string.h>

/* -- aliases -------------------------------------------------------------- */

struct alias_op {
	const struct migrate_alias *alias;
	struct migrate_alias *alias_r;
	const char *name;
};

static int do_alias_set(struct store_txn *t, void *context)
{
	struct alias_op *op = context;
	struct migrate_alias existing;
	struct migrate_account account;
	struct migrate_stats stats;
	unsigned char buf[MIGRATE_ALIAS_RECORD_MAX];
	MDB_val data;
	int ret = store_get(t, t->store->aliases, store_key(op->alias->alias), &data);

	if (ret < 0)
		return -1;
	if (ret > 0 && migrate_alias_decode(data.mv_data, data.mv_size, &existing) == 0 &&
	    strcmp(existing.account, op->alias->account) == 0)
		return 0;
	ret = store_account_read(t, op->alias->account, &account);
	if (ret <= 0)
		return ret < 0 ? -1 : store_fail(t->error, t->error_size,
					   "store: alias %s: account %s does not exist",
					   op->alias->alias, op->alias->account);
	if (store_stats_read(t, &stats) < 0)
		return -1;
	stats.aliases_created++;
	if (store_put(t, t->store->aliases, store_key(op->alias->alias),
		  store_val(buf, migrate_alias_encode(op->alias, buf))) < 0 ||
	    store_stats_write(t, &stats) < 0)
		return -1;
	return 1;
}

int migrate_store_alias_set(struct migrate_store *store,
			    const struct migrate_alias *alias,
			    char *error, size_t error_size)
{
	struct alias_op op = { .alias = alias };

	if (store_check_address(alias->alias, error, error_size) < 0 ||
	    store_check_address(alias->account, error, error_size) < 0)
		return -1;
	if (strcmp(alias->alias, alias->account) == 0)
		return store_fail(error, error_size, "store: alias %s points at itself", alias->alias);
	return store_write(store, &store->routing, do_alias_set, &op, error, error_size);
}

static int do_alias_get(struct store_txn *t, void *context)
{
	struct alias_op *op = context;
	MDB_val data;
	int ret = store_get(t, t->store->aliases, store_key(op->name), &data);

	if (ret <= 0)
		return ret;
	if (migrate_alias_decode(data.mv_data, data.mv_size, op->alias_r) < 0)
		return store_fail(t->error, t->error_size, "store: corrupt alias %s", op->name);
	snprintf(op->alias_r->alias, sizeof(op->alias_r->alias), "%s", op->name);
	return 1;
}

int migrate_store_alias_get(struct migrate_store *store, const char *alias,
			    struct migrate_alias *alias_r,
			    char *error, size_t error_size)
{
	struct alias_op op = { .name = alias, .alias_r = alias_r };

	if (store_check_address(alias, error, error_size) < 0)
		return -1;
	return store_read(store, &store->routing, do_alias_get, &op, error, error_size);
}

