/* Test helper: puts accounts and aliases into a store, the way the
   Dovecot side will, so integration tests can set up routing states.

   store-fixture [-g GROUP] STORE account ADDRESS STATE
   store-fixture [-g GROUP] STORE alias ALIAS ACCOUNT
   store-fixture [-g GROUP] STORE batch    (lines "account A S" / "alias A B"
                                            on stdin, in bulk mode)
   store-fixture [-u USER] STORE state ADDRESS STATE
                                            walks an existing account there
   store-fixture STORE show ADDRESS -       prints "STATE PROTOCOL DOMAIN
                                            ATTEMPTS" or "none"
   store-fixture STORE progress ADDRESS -   prints "PASS FOLDERS/TOTAL
                                            MESSAGES/TOTAL BYTES/TOTAL"
   store-fixture STORE hash ADDRESS -       prints the stored password hash
                                            (benchmarks compare passdbs on it)
   store-fixture STORE corrupt ADDRESS -    replaces the account's record with
                                            bytes no decoder accepts, keeping
                                            the original aside
   store-fixture STORE repair ADDRESS -     puts the original back
   store-fixture STORE pending ADDRESS "FOLDER UIDVALIDITY UID LOCAL_UIDNEXT SHA256HEX"
                                            writes a pending ledger record, as
                                            a sweep killed before confirming
                                            its batch leaves it */

#include "fixture-accounts.h"

#include <lmdb.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int add_account(struct migrate_store *store, const char *address,
		       const char *state_name, char *error, size_t error_size)
{
	enum migrate_account_state state;

	if (migrate_account_state_parse(state_name, &state) < 0) {
		snprintf(error, error_size, "unknown state %s", state_name);
		return -1;
	}
	return fixture_account_create(store, address, state, NULL, error, error_size);
}

/* Raw LMDB: the point is to write what the store API never would. */
static int corrupt_or_repair(const char *dir, const char *address, bool corrupt,
			     char *error, size_t error_size)
{
	static const char garbage[] = "\x09 not a record";
	char env_dir[4096], backup[512];
	MDB_val key = { strlen(address), (void *)address }, bkey, data;
	MDB_dbi accounts, meta;
	MDB_env *env;
	MDB_txn *txn;
	int rc;

	snprintf(env_dir, sizeof(env_dir), "%s/routing", dir);
	snprintf(backup, sizeof(backup), "fixture-backup:%s", address);
	bkey.mv_size = strlen(backup);
	bkey.mv_data = backup;
	if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 8)) != 0 ||
	    (rc = mdb_env_set_mapsize(env, 1024 * 1024 * 1024)) != 0 ||
	    (rc = mdb_env_open(env, env_dir, 0, 0660)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "accounts", 0, &accounts)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", 0, &meta)) != 0) {
		snprintf(error, error_size, "%.400s: %s", env_dir, mdb_strerror(rc));
		return -1;
	}
	if (corrupt) {
		MDB_val bad = { sizeof(garbage) - 1, (void *)garbage };

		if ((rc = mdb_get(txn, accounts, &key, &data)) == 0 &&
		    (rc = mdb_put(txn, meta, &bkey, &data, 0)) == 0)
			rc = mdb_put(txn, accounts, &key, &bad, 0);
	} else if ((rc = mdb_get(txn, meta, &bkey, &data)) == 0 &&
		   (rc = mdb_put(txn, accounts, &key, &data, 0)) == 0) {
		rc = mdb_del(txn, meta, &bkey, NULL);
	}
	rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
	mdb_env_close(env);
	if (rc != 0)
		snprintf(error, error_size, "%s %s: %s", corrupt ? "corrupt" : "repair",
			 address, mdb_strerror(rc));
	return rc == 0 ? 0 : -1;
}

static int show_account(struct migrate_store *store, const char *address,
			char *error, size_t error_size)
{
	struct migrate_account a;
	int ret = migrate_store_account_get(store, address, &a, error, error_size);

	if (ret == 0)
		printf("none\n");
	else if (ret > 0)
		printf("%s %s %s %u\n", migrate_account_state_name(a.state),
		       a.protocol == MIGRATE_PROTOCOL_POP3 ? "pop3" : "imap",
		       a.domain, a.attempts);
	return ret < 0 ? -1 : 0;
}

static int show_progress(struct migrate_store *store, const char *address,
			 char *error, size_t error_size)
{
	struct migrate_account a;
	int ret = migrate_store_account_get(store, address, &a, error, error_size);

	if (ret == 0)
		snprintf(error, error_size, "no account %s", address);
	else if (ret > 0)
		printf("%u %u/%u %llu/%llu %llu/%llu\n", a.progress.pass,
		       a.progress.folders_done, a.progress.folders_total,
		       (unsigned long long)a.progress.messages_done,
		       (unsigned long long)a.progress.messages_total,
		       (unsigned long long)a.progress.bytes_done,
		       (unsigned long long)a.progress.bytes_total);
	return ret > 0 ? 0 : -1;
}

static int show_hash(struct migrate_store *store, const char *address,
		     char *error, size_t error_size)
{
	struct migrate_secret secret;
	int ret = migrate_store_secret_get(store, address, &secret, error, error_size);

	if (ret == 0)
		snprintf(error, error_size, "no secret for %s", address);
	else if (ret > 0)
		printf("%s\n", secret.password_hash);
	return ret > 0 ? 0 : -1;
}

static int add_pending(struct migrate_store *store, const char *address,
		       const char *spec, char *error, size_t error_size)
{
	struct migrate_ledger_message m;
	char folder[256], hex[65];
	unsigned int i, byte;

	memset(&m, 0, sizeof(m));
	if (sscanf(spec, "%255s %u %u %u %64s", folder, &m.uidvalidity, &m.uid,
		   &m.local_uid, hex) != 5 || strlen(hex) != 64) {
		snprintf(error, error_size, "expected FOLDER UIDVALIDITY UID LOCAL_UIDNEXT SHA256HEX");
		return -1;
	}
	for (i = 0; i < MIGRATE_LEDGER_HASH_SIZE; i++) {
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
			snprintf(error, error_size, "bad hash");
			return -1;
		}
		m.sha256[i] = (unsigned char)byte;
	}
	m.pending = true;
	snprintf(m.local, sizeof(m.local), "%s", folder);
	return migrate_store_ledger_put(store, address, folder, &m, 1, error, error_size);
}

/* "-": prints the account's unflushed-pass boot (32 hex digits, zeros when
   flushed); else sets it to the 32 hex digits given (a crash simulated:
   a boot that is not this one). */
static int unflushed(struct migrate_store *store, const char *address,
		     const char *hex, char *error, size_t error_size)
{
	struct migrate_ledger_account la;
	unsigned int i, byte;

	if (migrate_store_ledger_account_get(store, address, &la, error, error_size) < 0)
		return -1;
	if (strcmp(hex, "-") == 0) {
		for (i = 0; i < MIGRATE_BOOT_ID_SIZE; i++)
			printf("%02x", la.unflushed_boot[i]);
		printf("\n");
		return 0;
	}
	if (strlen(hex) != 2 * MIGRATE_BOOT_ID_SIZE) {
		snprintf(error, error_size, "expected %d hex digits", 2 * MIGRATE_BOOT_ID_SIZE);
		return -1;
	}
	for (i = 0; i < MIGRATE_BOOT_ID_SIZE; i++) {
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
			snprintf(error, error_size, "bad hex");
			return -1;
		}
		la.unflushed_boot[i] = (uint8_t)byte;
	}
	return migrate_store_ledger_account_set(store, address, &la, error, error_size);
}

static int apply(struct migrate_store *store, const char *what, const char *a,
		 const char *b, char *error, size_t error_size)
{
	struct migrate_alias alias;
	enum migrate_account_state state;

	if (strcmp(what, "account") == 0)
		return add_account(store, a, b, error, error_size);
	if (strcmp(what, "show") == 0)
		return show_account(store, a, error, error_size);
	if (strcmp(what, "progress") == 0)
		return show_progress(store, a, error, error_size);
	if (strcmp(what, "hash") == 0)
		return show_hash(store, a, error, error_size);
	if (strcmp(what, "pending") == 0)
		return add_pending(store, a, b, error, error_size);
	if (strcmp(what, "unflushed") == 0)
		return unflushed(store, a, b, error, error_size);
	if (strcmp(what, "state") == 0) {
		if (migrate_account_state_parse(b, &state) < 0) {
			snprintf(error, error_size, "unknown state %s", b);
			return -1;
		}
		return fixture_account_advance(store, a, state, error, error_size);
	}
	if (strcmp(what, "alias") != 0) {
		snprintf(error, error_size, "unknown record type %s", what);
		return -1;
	}
	memset(&alias, 0, sizeof(alias));
	snprintf(alias.alias, sizeof(alias.alias), "%s", a);
	snprintf(alias.account, sizeof(alias.account), "%s", b);
	snprintf(alias.source, sizeof(alias.source), "test");
	return migrate_store_alias_set(store, &alias, error, error_size);
}

static int batch(struct migrate_store *store, char *error, size_t error_size)
{
	char line[1024], what[16], a[400], b[400];
	unsigned int n = 0;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		n++;
		if (sscanf(line, "%15s %399s %399s", what, a, b) != 3) {
			snprintf(error, error_size, "line %u: expected TYPE A B", n);
			return -1;
		}
		if (apply(store, what, a, b, error, error_size) < 0)
			return -1;
	}
	return 0;
}

int main(int argc, char *argv[])
{
	struct migrate_store_settings set = { .access = MIGRATE_STORE_WRITE };
	struct migrate_store *store;
	char error[512];
	int c, ret;

	while ((c = getopt(argc, argv, "g:u:")) != -1) {
		if (c == 'g')
			set.routing_group = optarg;
		else if (c == 'u')
			set.owner_user = optarg;
		else
			return 2;
	}
	argc -= optind;
	argv += optind;
	if (!(argc == 4 || (argc == 2 && strcmp(argv[1], "batch") == 0))) {
		fprintf(stderr, "usage: store-fixture [-g GROUP] STORE account ADDRESS STATE\n"
			"       store-fixture [-g GROUP] STORE alias ALIAS ACCOUNT\n"
			"       store-fixture STORE unflushed ADDRESS -|HEX32\n"
			"       store-fixture [-g GROUP] STORE batch\n");
		return 2;
	}
	set.path = argv[0];
	set.bulk = argc == 2;
	if (argc == 4 && (strcmp(argv[1], "corrupt") == 0 || strcmp(argv[1], "repair") == 0)) {
		ret = corrupt_or_repair(argv[0], argv[2], strcmp(argv[1], "corrupt") == 0,
					error, sizeof(error));
		if (ret < 0)
			fprintf(stderr, "store-fixture: %s\n", error);
		return ret < 0 ? 1 : 0;
	}
	if (migrate_store_open(&set, &store, error, sizeof(error)) < 0) {
		fprintf(stderr, "store-fixture: %s\n", error);
		return 1;
	}
	ret = argc == 2 ? batch(store, error, sizeof(error)) :
		apply(store, argv[1], argv[2], argv[3], error, sizeof(error));
	if (ret < 0)
		fprintf(stderr, "store-fixture: %s\n", error);
	migrate_store_close(&store);
	return ret < 0 ? 1 : 0;
}
