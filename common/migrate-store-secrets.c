/* The state store's secrets environment: password hashes and encrypted
   legacy credentials, and orphan repair (see migrate-store.h). */

#include "migrate-store-lmdb.h"

#include <string.h>
/* an orphan secret younger than this may belong to a create in progress */
#define ORPHAN_SECRET_AGE 3600

/* -- secrets ------------------------------------------------------------ */

int store_secret_set_txn(struct store_txn *t, void *context)
{
	struct secret_op *op = context;
	unsigned char buf[MIGRATE_SECRET_RECORD_MAX];
	size_t len = migrate_secret_encode(op->secret, op->created, buf);
	int ret = store_put(t, t->store->secret_db, store_key(op->address), store_val(buf, len));

	/* the plaintext never was here, but the hash and the ciphertext
	   need not linger in freed stack either */
	memset(buf, 0, sizeof(buf));
	return ret;
}

int store_secret_delete_txn(struct store_txn *t, void *context)
{
	struct secret_op *op = context;

	return store_del(t, t->store->secret_db, store_key(op->address));
}


static int do_secret_get(struct store_txn *t, void *context)
{
	struct secret_op *op = context;
	MDB_val data;
	int64_t created;
	int ret = store_get(t, t->store->secret_db, store_key(op->address), &data);

	if (ret <= 0)
		return ret;
	if (migrate_secret_decode(data.mv_data, data.mv_size, op->secret_r, &created) < 0)
		return store_fail(t->error, t->error_size, "store: corrupt secret for %s", op->address);
	return 1;
}

int store_need_secrets(struct migrate_store *store, char *error, size_t error_size)
{
	if (store->access != MIGRATE_STORE_WRITE)
		return store_fail(error, error_size, "store: secrets are not open in this process");
	return 0;
}

int migrate_store_secret_get(struct migrate_store *store, const char *address,
			     struct migrate_secret *secret_r,
			     char *error, size_t error_size)
{
	struct secret_op op = { .address = address, .secret_r = secret_r };

	if (store_need_secrets(store, error, error_size) < 0 ||
	    store_check_address(address, error, error_size) < 0)
		return -1;
	return store_read(store, &store->secrets, do_secret_get, &op, error, error_size);
}

int migrate_store_secret_set(struct migrate_store *store, const char *address,
			     const struct migrate_secret *secret,
			     char *error, size_t error_size)
{
	struct secret_op op = { .address = address, .secret = secret };

	if (store_need_secrets(store, error, error_size) < 0 ||
	    store_check_address(address, error, error_size) < 0)
		return -1;
	op.created = store->now();
	return store_write(store, &store->secrets, store_secret_set_txn, &op, error, error_size);
}

static int do_wipe_credential(struct store_txn *t, void *context)
{
	struct secret_op *op = context;
	struct migrate_secret secret;
	unsigned char buf[MIGRATE_SECRET_RECORD_MAX];
	int64_t created;
	MDB_val data;
	int ret = store_get(t, t->store->secret_db, store_key(op->address), &data);

	if (ret <= 0)
		return ret;
	if (migrate_secret_decode(data.mv_data, data.mv_size, &secret, &created) < 0)
		return store_fail(t->error, t->error_size, "store: corrupt secret for %s",
				  op->address);
	if (secret.credential_len == 0)
		return 0;
	memset(secret.credential, 0, sizeof(secret.credential));
	secret.credential_len = 0;
	ret = store_put(t, t->store->secret_db, store_key(op->address),
			store_val(buf, migrate_secret_encode(&secret, created, buf)));
	return ret < 0 ? -1 : 1;
}

int migrate_store_secret_wipe_credential(struct migrate_store *store,
					 const char *address,
					 char *error, size_t error_size)
{
	struct secret_op op = { .address = address };

	if (store_need_secrets(store, error, error_size) < 0 ||
	    store_check_address(address, error, error_size) < 0)
		return -1;
	return store_write(store, &store->secrets, do_wipe_credential, &op,
			   error, error_size);
}

static int do_wipe_credentials(struct store_txn *t, void *context)
{
	struct secret_op *op = context;
	MDB_cursor *cursor;
	MDB_val key, data;
	int rc = mdb_cursor_open(t->txn, t->store->secret_db, &cursor);

	if (rc != 0)
		return store_txn_fail(t, rc, "secrets");
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
		data = store_val(buf, len);
		if ((rc = mdb_cursor_put(cursor, &key, &data, MDB_CURRENT)) != 0)
			break;
		op->count++;
	}
	mdb_cursor_close(cursor);
	if (rc != MDB_NOTFOUND)
		return store_txn_fail(t, rc, "wiping credentials");
	return op->count;
}

int migrate_store_secrets_wipe_credentials(struct migrate_store *store,
					   char *error, size_t error_size)
{
	struct secret_op op = { .address = NULL };

	if (store_need_secrets(store, error, error_size) < 0)
		return -1;
	return store_write(store, &store->secrets, do_wipe_credentials, &op, error, error_size);
}

/* Orphans: secrets whose account record never got written (a crash
   between the two transactions) or was forgotten. */
struct orphan_op {
	struct migrate_store *store;
	char *error;
	size_t error_size;
};

static int do_remove_orphans(struct store_txn *t, void *context)
{
	struct orphan_op *op = context;
	MDB_cursor *cursor;
	MDB_val key, data;
	int64_t cutoff = t->store->now() - ORPHAN_SECRET_AGE;
	int rc = mdb_cursor_open(t->txn, t->store->secret_db, &cursor);
	int removed = 0;

	if (rc != 0)
		return store_txn_fail(t, rc, "secrets");
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
		return store_txn_fail(t, rc, "removing orphan secrets");
	return rc == 0 ? -1 : removed;
}

int store_remove_orphan_secrets(struct migrate_store *store, char *error, size_t error_size)
{
	struct orphan_op op = { store, error, error_size };

	return store_write(store, &store->secrets, do_remove_orphans, &op,
			 error, error_size) < 0 ? -1 : 0;
}

