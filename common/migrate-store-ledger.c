/* The state store's import ledger and sweep schedule (see
   migrate-store.h), in the secrets environment's "ledger" database.

   Keys (the address never contains NUL, so no account's keys can run into
   another's, and the schedule's NUL-led keys sort before every account):
     ADDRESS \0 'S'                      the account's ledger record
     ADDRESS \0 'F' FOLDER               folder record
     ADDRESS \0 'M' FOLDER 'I' UIDV UID  message (IMAP)
     ADDRESS \0 'M' FOLDER 'P' UIDL      message (POP3)
     ADDRESS \0 'H' FOLDER SHA256        content known in the folder
     \0 'D' DUE ADDRESS                  sweep schedule, earliest first
   FOLDER is a 64-bit FNV-1a hash of the legacy folder name: names can be
   longer than an LMDB key. The folder record keeps the whole name, and a
   second folder meeting the same hash is an error, not a merge. */

#include "migrate-store-lmdb.h"

#include <stdio.h>
#include <string.h>

#define LEDGER_KEY_MAX 511
#define FOLDER_HASH_SIZE 8

struct ledger_key {
	unsigned char data[LEDGER_KEY_MAX];
	size_t size;
};

static void key_add(struct ledger_key *k, const void *data, size_t size)
{
	memcpy(k->data + k->size, data, size);
	k->size += size;
}

static void key_add_u64(struct ledger_key *k, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		b[i] = (unsigned char)(v & 0xff);
	key_add(k, b, sizeof(b));
}

static void key_add_u32(struct ledger_key *k, uint32_t v)
{
	unsigned char b[4] = { v >> 24, v >> 16, v >> 8, v };

	key_add(k, b, sizeof(b));
}

static uint64_t folder_hash(const char *name)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (; *name != '\0'; name++) {
		h ^= (unsigned char)*name;
		h *= UINT64_C(1099511628211);
	}
	return h;
}

/* ADDRESS \0 TYPE [FOLDER] */
static void key_init(struct ledger_key *k, const char *address, char type,
		     const char *legacy)
{
	k->size = 0;
	key_add(k, address, strlen(address) + 1);
	key_add(k, &type, 1);
	if (legacy != NULL)
		key_add_u64(k, folder_hash(legacy));
}

static void message_key(struct ledger_key *k, const char *address, const char *legacy,
			const struct migrate_ledger_message *m)
{
	key_init(k, address, 'M', legacy);
	if (m->uidl[0] != '\0') {
		key_add(k, "P", 1);
		key_add(k, m->uidl, strnlen(m->uidl, MIGRATE_LEDGER_UIDL_MAX));
	} else {
		key_add(k, "I", 1);
		key_add_u32(k, m->uidvalidity);
		key_add_u32(k, m->uid);
	}
}

static void schedule_key(struct ledger_key *k, int64_t due, const char *address)
{
	k->size = 0;
	key_add(k, "\0D", 2);
	/* flipping the sign bit makes signed times sort as unsigned bytes */
	key_add_u64(k, (uint64_t)due ^ (UINT64_C(1) << 63));
	key_add(k, address, strlen(address));
}

static MDB_val key_val(const struct ledger_key *k)
{
	return store_val(k->data, k->size);
}

/* The legacy key at the end of a message key (after the folder hash). */
static int message_key_decode(const MDB_val *key, size_t prefix,
			      struct migrate_ledger_message *m)
{
	const unsigned char *p = (const unsigned char *)key->mv_data + prefix;
	size_t len = key->mv_size - prefix;

	if (len == 9 && p[0] == 'I') {
		m->uidvalidity = ((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) |
			((uint32_t)p[3] << 8) | p[4];
		m->uid = ((uint32_t)p[5] << 24) | ((uint32_t)p[6] << 16) |
			((uint32_t)p[7] << 8) | p[8];
		return 0;
	}
	if (len >= 2 && len - 1 <= MIGRATE_LEDGER_UIDL_MAX && p[0] == 'P' &&
	    memchr(p + 1, '\0', len - 1) == NULL) {
		memcpy(m->uidl, p + 1, len - 1);
		m->uidl[len - 1] = '\0';
		return 0;
	}
	return -1;
}

static int check_args(struct migrate_store *store, const char *address,
		      const char *legacy, char *error, size_t error_size)
{
	if (store_need_secrets(store, error, error_size) < 0 ||
	    store_check_address(address, error, error_size) < 0)
		return -1;
	if (legacy != NULL && (legacy[0] == '\0' ||
			       strlen(legacy) > MIGRATE_LEDGER_FOLDER_MAX))
		return store_fail(error, error_size, "ledger: bad folder name");
	return 0;
}

/* Calls fn for every key starting with prefix; fn returns < 0 to fail,
   > 0 to stop. With del, each key is deleted after fn (fn may be NULL). */
typedef int prefix_fn(struct store_txn *t, const MDB_val *key, const MDB_val *data,
		      void *context);
static int prefix_foreach(struct store_txn *t, const struct ledger_key *prefix,
			  prefix_fn *fn, void *context, bool del)
{
	MDB_cursor *cursor;
	MDB_val key = key_val(prefix), data;
	int ret = 0, rc = mdb_cursor_open(t->txn, t->store->ledger, &cursor);

	if (rc != 0)
		return store_txn_fail(t, rc, "ledger");
	for (rc = mdb_cursor_get(cursor, &key, &data, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
		if (key.mv_size < prefix->size ||
		    memcmp(key.mv_data, prefix->data, prefix->size) != 0)
			break;
		if (fn != NULL && (ret = fn(t, &key, &data, context)) != 0)
			break;
		if (del && (rc = mdb_cursor_del(cursor, 0)) != 0)
			break;
	}
	mdb_cursor_close(cursor);
	if (ret != 0)
		return ret < 0 ? -1 : 0;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_txn_fail(t, rc, "ledger");
	return 0;
}

/* -- the account's record and the sweep schedule --------------------------- */

struct account_op {
	const char *address;
	struct migrate_ledger_account account;
	unsigned int lease_secs;
	char *address_r;
};

static int account_read(struct store_txn *t, const char *address,
			struct migrate_ledger_account *account_r)
{
	struct ledger_key k;
	MDB_val data;
	int ret;

	key_init(&k, address, 'S', NULL);
	memset(account_r, 0, sizeof(*account_r));
	if ((ret = store_get(t, t->store->ledger, key_val(&k), &data)) <= 0)
		return ret;
	if (migrate_ledger_account_decode(data.mv_data, data.mv_size, account_r) < 0)
		return store_fail(t->error, t->error_size,
				  "ledger: corrupt record for %s", address);
	return 1;
}

static int account_write(struct store_txn *t, const char *address,
			 const struct migrate_ledger_account *account)
{
	struct migrate_ledger_account old;
	unsigned char buf[MIGRATE_LEDGER_ACCOUNT_RECORD_SIZE];
	struct ledger_key k;

	if (account_read(t, address, &old) < 0)
		return -1;
	if (old.sweep_due != 0) {
		schedule_key(&k, old.sweep_due, address);
		if (store_del(t, t->store->ledger, key_val(&k)) < 0)
			return -1;
	}
	if (account->sweep_due != 0) {
		schedule_key(&k, account->sweep_due, address);
		if (store_put(t, t->store->ledger, key_val(&k), store_val("", 0)) < 0)
			return -1;
	}
	key_init(&k, address, 'S', NULL);
	return store_put(t, t->store->ledger, key_val(&k),
			 store_val(buf, migrate_ledger_account_encode(account, buf)));
}

static int do_account_get(struct store_txn *t, void *context)
{
	struct account_op *op = context;

	return account_read(t, op->address, &op->account);
}

int migrate_store_ledger_account_get(struct migrate_store *store, const char *address,
				     struct migrate_ledger_account *account_r,
				     char *error, size_t error_size)
{
	struct account_op op = { .address = address };
	int ret;

	if (check_args(store, address, NULL, error, error_size) < 0)
		return -1;
	ret = store_read(store, &store->secrets, do_account_get, &op, error, error_size);
	*account_r = op.account;
	return ret;
}

static int do_account_set(struct store_txn *t, void *context)
{
	struct account_op *op = context;

	return account_write(t, op->address, &op->account);
}

int migrate_store_ledger_account_set(struct migrate_store *store, const char *address,
				     const struct migrate_ledger_account *account,
				     char *error, size_t error_size)
{
	struct account_op op = { .address = address, .account = *account };

	if (check_args(store, address, NULL, error, error_size) < 0)
		return -1;
	return store_write(store, &store->secrets, do_account_set, &op, error, error_size);
}

static int do_sweep_schedule(struct store_txn *t, void *context)
{
	struct account_op *op = context;
	int64_t due = op->account.sweep_due;

	if (account_read(t, op->address, &op->account) < 0)
		return -1;
	op->account.sweep_due = due;
	return account_write(t, op->address, &op->account);
}

int migrate_store_sweep_schedule(struct migrate_store *store, const char *address,
				 int64_t due, char *error, size_t error_size)
{
	struct account_op op = { .address = address };

	if (check_args(store, address, NULL, error, error_size) < 0)
		return -1;
	op.account.sweep_due = due;
	return store_write(store, &store->secrets, do_sweep_schedule, &op,
			   error, error_size);
}

static int do_sweep_take(struct store_txn *t, void *context)
{
	struct account_op *op = context;
	MDB_cursor *cursor;
	struct ledger_key prefix = { .size = 0 };
	MDB_val key, data;
	int64_t due, now = t->store->now();
	size_t len;
	int rc = mdb_cursor_open(t->txn, t->store->ledger, &cursor);

	if (rc != 0)
		return store_txn_fail(t, rc, "ledger");
	key_add(&prefix, "\0D", 2);
	key = key_val(&prefix);
	rc = mdb_cursor_get(cursor, &key, &data, MDB_SET_RANGE);
	mdb_cursor_close(cursor);
	if (rc == MDB_NOTFOUND || (rc == 0 && (key.mv_size < 2 ||
					       memcmp(key.mv_data, "\0D", 2) != 0)))
		return 0;
	if (rc != 0)
		return store_txn_fail(t, rc, "ledger");
	len = key.mv_size - 10;
	if (key.mv_size <= 10 || len > MIGRATE_ACCOUNT_ADDRESS_MAX)
		return store_fail(t->error, t->error_size, "ledger: corrupt schedule key");
	due = 0;
	for (size_t i = 2; i < 10; i++)
		due = (int64_t)(((uint64_t)due << 8) | ((unsigned char *)key.mv_data)[i]);
	due = (int64_t)((uint64_t)due ^ (UINT64_C(1) << 63));
	if (due > now)
		return 0;
	memcpy(op->address_r, (unsigned char *)key.mv_data + 10, len);
	op->address_r[len] = '\0';
	if (account_read(t, op->address_r, &op->account) < 0)
		return -1;
	op->account.sweep_due = now + op->lease_secs;
	return account_write(t, op->address_r, &op->account) < 0 ? -1 : 1;
}

int migrate_store_sweep_take(struct migrate_store *store, unsigned int lease_secs,
			     char address_r[MIGRATE_ACCOUNT_ADDRESS_MAX + 1],
			     char *error, size_t error_size)
{
	struct account_op op = { .lease_secs = lease_secs, .address_r = address_r };

	if (store_need_secrets(store, error, error_size) < 0)
		return -1;
	return store_write(store, &store->secrets, do_sweep_take, &op, error, error_size);
}

/* -- folders ---------------------------------------------------------------- */

struct folder_op {
	const char *address, *legacy;
	struct migrate_ledger_folder *folder;
};

static int folder_read(struct store_txn *t, const char *address, const char *legacy,
		       struct migrate_ledger_folder *folder_r)
{
	struct ledger_key k;
	MDB_val data;
	int ret;

	key_init(&k, address, 'F', legacy);
	if ((ret = store_get(t, t->store->ledger, key_val(&k), &data)) <= 0)
		return ret;
	if (migrate_ledger_folder_decode(data.mv_data, data.mv_size, folder_r) < 0)
		return store_fail(t->error, t->error_size,
				  "ledger: corrupt folder record for %s", address);
	if (strcmp(folder_r->legacy, legacy) != 0)
		return store_fail(t->error, t->error_size,
				  "ledger: %s: folders '%s' and '%s' share a key",
				  address, folder_r->legacy, legacy);
	return 1;
}

static int do_folder_get(struct store_txn *t, void *context)
{
	struct folder_op *op = context;

	return folder_read(t, op->address, op->legacy, op->folder);
}

int migrate_store_ledger_folder_get(struct migrate_store *store, const char *address,
				    const char *legacy,
				    struct migrate_ledger_folder *folder_r,
				    char *error, size_t error_size)
{
	struct folder_op op = { address, legacy, folder_r };

	memset(folder_r, 0, sizeof(*folder_r));
	if (check_args(store, address, legacy, error, error_size) < 0)
		return -1;
	return store_read(store, &store->secrets, do_folder_get, &op, error, error_size);
}

static int do_folder_set(struct store_txn *t, void *context)
{
	struct folder_op *op = context;
	struct migrate_ledger_folder old;
	unsigned char buf[MIGRATE_LEDGER_FOLDER_RECORD_MAX];
	struct ledger_key k;

	if (folder_read(t, op->address, op->legacy, &old) < 0)
		return -1;
	key_init(&k, op->address, 'F', op->legacy);
	return store_put(t, t->store->ledger, key_val(&k),
			 store_val(buf, migrate_ledger_folder_encode(op->folder, buf)));
}

int migrate_store_ledger_folder_set(struct migrate_store *store, const char *address,
				    const struct migrate_ledger_folder *folder,
				    char *error, size_t error_size)
{
	struct folder_op op = { address, folder->legacy,
				(struct migrate_ledger_folder *)folder };

	if (check_args(store, address, folder->legacy, error, error_size) < 0)
		return -1;
	if (folder->local[0] == '\0')
		return store_fail(error, error_size, "ledger: no local folder for '%s'",
				  folder->legacy);
	return store_write(store, &store->secrets, do_folder_set, &op, error, error_size);
}

struct folders_op {
	const char *address;
	const struct migrate_ledger_folder *folders;
	unsigned int count;
};

static int do_folders_set(struct store_txn *t, void *context)
{
	struct folders_op *op = context;
	unsigned int i;

	for (i = 0; i < op->count; i++) {
		struct folder_op one = { op->address, op->folders[i].legacy,
			(struct migrate_ledger_folder *)&op->folders[i] };

		if (do_folder_set(t, &one) < 0)
			return -1;
	}
	return 0;
}

int migrate_store_ledger_folders_set(struct migrate_store *store, const char *address,
				     const struct migrate_ledger_folder *folders,
				     unsigned int count, char *error, size_t error_size)
{
	struct folders_op op = { address, folders, count };
	unsigned int i;

	for (i = 0; i < count; i++) {
		if (check_args(store, address, folders[i].legacy, error, error_size) < 0)
			return -1;
		if (folders[i].local[0] == '\0')
			return store_fail(error, error_size, "ledger: no local folder "
					  "for '%s'", folders[i].legacy);
	}
	return store_write(store, &store->secrets, do_folders_set, &op, error, error_size);
}

/* -- messages ----------------------------------------------------------------- */

struct message_op {
	const char *address, *legacy;
	const struct migrate_ledger_message *messages;
	unsigned int count;
	const unsigned char *sha256;
	migrate_ledger_message_fn *fn;
	void *context;
	size_t prefix_size;
	uint64_t counted;
};

static int message_call(struct store_txn *t, const MDB_val *key, const MDB_val *data,
			void *context)
{
	struct message_op *op = context;
	struct migrate_ledger_message m;

	if (migrate_ledger_message_decode(data->mv_data, data->mv_size, &m) < 0 ||
	    message_key_decode(key, op->prefix_size, &m) < 0)
		return store_fail(t->error, t->error_size,
				  "ledger: corrupt message record for %s", op->address);
	return op->fn(&m, op->context) != 0 ? 1 : 0;
}

static int do_messages(struct store_txn *t, void *context)
{
	struct message_op *op = context;
	struct ledger_key prefix;

	key_init(&prefix, op->address, 'M', op->legacy);
	op->prefix_size = prefix.size;
	return prefix_foreach(t, &prefix, message_call, op, false);
}

int migrate_store_ledger_messages(struct migrate_store *store, const char *address,
				  const char *legacy, migrate_ledger_message_fn *fn,
				  void *context, char *error, size_t error_size)
{
	struct message_op op = { .address = address, .legacy = legacy,
				 .fn = fn, .context = context };

	if (check_args(store, address, legacy, error, error_size) < 0)
		return -1;
	return store_read(store, &store->secrets, do_messages, &op, error, error_size);
}

static void hash_key(struct ledger_key *k, const char *address, const char *legacy,
		     const unsigned char sha256[MIGRATE_LEDGER_HASH_SIZE])
{
	key_init(k, address, 'H', legacy);
	key_add(k, sha256, MIGRATE_LEDGER_HASH_SIZE);
}

static int do_put(struct store_txn *t, void *context)
{
	struct message_op *op = context;
	unsigned char buf[MIGRATE_LEDGER_MESSAGE_RECORD_MAX];
	struct ledger_key k;
	unsigned int i;

	for (i = 0; i < op->count; i++) {
		const struct migrate_ledger_message *m = &op->messages[i];

		message_key(&k, op->address, op->legacy, m);
		if (store_put(t, t->store->ledger, key_val(&k),
			      store_val(buf, migrate_ledger_message_encode(m, buf))) < 0)
			return -1;
		if (m->pending)
			continue;
		hash_key(&k, op->address, op->legacy, m->sha256);
		if (store_put(t, t->store->ledger, key_val(&k), store_val("", 0)) < 0)
			return -1;
	}
	return 0;
}

static int check_messages(const struct migrate_ledger_message *messages,
			  unsigned int count, char *error, size_t error_size)
{
	unsigned int i;

	for (i = 0; i < count; i++) {
		if (strlen(messages[i].uidl) > MIGRATE_LEDGER_UIDL_MAX)
			return store_fail(error, error_size, "ledger: UIDL too long");
	}
	return 0;
}

int migrate_store_ledger_put(struct migrate_store *store, const char *address,
			     const char *legacy,
			     const struct migrate_ledger_message *messages,
			     unsigned int count, char *error, size_t error_size)
{
	struct message_op op = { .address = address, .legacy = legacy,
				 .messages = messages, .count = count };

	if (check_args(store, address, legacy, error, error_size) < 0 ||
	    check_messages(messages, count, error, error_size) < 0)
		return -1;
	return store_write(store, &store->secrets, do_put, &op, error, error_size);
}

static int do_drop(struct store_txn *t, void *context)
{
	struct message_op *op = context;
	struct ledger_key k;

	message_key(&k, op->address, op->legacy, op->messages);
	return store_del(t, t->store->ledger, key_val(&k)) < 0 ? -1 : 0;
}

int migrate_store_ledger_drop(struct migrate_store *store, const char *address,
			      const char *legacy,
			      const struct migrate_ledger_message *message,
			      char *error, size_t error_size)
{
	struct message_op op = { .address = address, .legacy = legacy,
				 .messages = message, .count = 1 };

	if (check_args(store, address, legacy, error, error_size) < 0 ||
	    check_messages(message, 1, error, error_size) < 0)
		return -1;
	return store_write(store, &store->secrets, do_drop, &op, error, error_size);
}

static int do_hash_known(struct store_txn *t, void *context)
{
	struct message_op *op = context;
	struct ledger_key k;
	MDB_val data;

	hash_key(&k, op->address, op->legacy, op->sha256);
	return store_get(t, t->store->ledger, key_val(&k), &data);
}

int migrate_store_ledger_hash_known(struct migrate_store *store, const char *address,
				    const char *legacy,
				    const unsigned char sha256[MIGRATE_LEDGER_HASH_SIZE],
				    char *error, size_t error_size)
{
	struct message_op op = { .address = address, .legacy = legacy, .sha256 = sha256 };

	if (check_args(store, address, legacy, error, error_size) < 0)
		return -1;
	return store_read(store, &store->secrets, do_hash_known, &op, error, error_size);
}

static int do_forget(struct store_txn *t, void *context)
{
	struct message_op *op = context;
	struct migrate_ledger_account account;
	struct ledger_key k;

	if (account_read(t, op->address, &account) < 0)
		return -1;
	if (account.sweep_due != 0) {
		schedule_key(&k, account.sweep_due, op->address);
		if (store_del(t, t->store->ledger, key_val(&k)) < 0)
			return -1;
	}
	k.size = 0;
	key_add(&k, op->address, strlen(op->address) + 1);
	return prefix_foreach(t, &k, NULL, NULL, true);
}

int migrate_store_ledger_forget(struct migrate_store *store, const char *address,
				char *error, size_t error_size)
{
	struct message_op op = { .address = address };

	if (check_args(store, address, NULL, error, error_size) < 0)
		return -1;
	return store_write(store, &store->secrets, do_forget, &op, error, error_size);
}

static int count_one(struct store_txn *t, const MDB_val *key, const MDB_val *data,
		     void *context)
{
	struct message_op *op = context;

	(void)t; (void)key; (void)data;
	op->counted++;
	return 0;
}

static int do_count(struct store_txn *t, void *context)
{
	struct message_op *op = context;
	struct ledger_key prefix;

	key_init(&prefix, op->address, 'M', NULL);
	return prefix_foreach(t, &prefix, count_one, op, false);
}

int migrate_store_ledger_count(struct migrate_store *store, const char *address,
			       uint64_t *messages_r, char *error, size_t error_size)
{
	struct message_op op = { .address = address };
	int ret;

	*messages_r = 0;
	if (check_args(store, address, NULL, error, error_size) < 0)
		return -1;
	ret = store_read(store, &store->secrets, do_count, &op, error, error_size);
	*messages_r = op.counted;
	return ret;
}
