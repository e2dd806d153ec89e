/* Unit tests for the state store (common/migrate-store*.c): the state
   machine, secrets, aliases, the import ledger, the queue with leases, permissions, map
   growth, readers beside a writer, and kill -9 of a writer. */

#include "lib.h"
#include "str.h"
#include "test-common.h"

#include "fixture-accounts.h"
#include "migrate-store-codec.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <lmdb.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char store_dir[256];
static char error[512];
static int64_t fake_now = 1700000000;

static int64_t test_clock(void)
{
	return fake_now;
}

static struct migrate_store *store_open(enum migrate_store_access access, size_t map)
{
	struct migrate_store_settings set = {
		.path = store_dir, .access = access, .initial_map_size = map,
		.now = test_clock,
	};
	struct migrate_store *store = NULL;

	/* tests that expect a refusal read the reason from error */
	if (migrate_store_open(&set, &store, error, sizeof(error)) < 0)
		return NULL;
	return store;
}

static void store_reset(void)
{
	if (store_dir[0] == '\0')
		i_snprintf(store_dir, sizeof(store_dir), "/tmp/test-store.%d", (int)getpid());
	fixture_remove_tree(store_dir);
}

static struct migrate_account new_account(const char *address,
					  enum migrate_account_state state)
{
	struct migrate_account a;

	i_zero(&a);
	i_snprintf(a.address, sizeof(a.address), "%s", address);
	i_snprintf(a.domain, sizeof(a.domain), "example.com");
	a.state = state;
	a.protocol = MIGRATE_PROTOCOL_IMAP;
	return a;
}

static struct migrate_secret new_secret(const char *hash)
{
	struct migrate_secret s;

	i_zero(&s);
	i_snprintf(s.password_hash, sizeof(s.password_hash), "%s", hash);
	memcpy(s.credential, "\x01" "ciphertext", 11);
	s.credential_len = 11;
	return s;
}

static int create(struct migrate_store *store, const char *address,
		  enum migrate_account_state state)
{
	struct migrate_account a = new_account(address, state);
	struct migrate_secret s = new_secret("{CRYPT}$y$hash");

	return migrate_store_account_create(store, &a, &s, error, sizeof(error));
}

static bool consistent(struct migrate_store *store)
{
	int ret = migrate_store_check(store, error, sizeof(error));

	if (ret != 1)
		i_error("check: %s", error);
	return ret == 1;
}

static void test_store_accounts(void)
{
	struct migrate_store *store;
	struct migrate_account a;
	struct migrate_stats stats;

	test_begin("store: accounts and the state machine");
	store_reset();
	store = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(store != NULL);
	test_assert(migrate_store_account_get(store, "a@example.com", &a, error, sizeof(error)) == 0);
	test_assert(create(store, "a@example.com", MIGRATE_STATE_QUEUED) == 1);
	test_assert(create(store, "a@example.com", MIGRATE_STATE_QUEUED) == 0);
	test_assert(create(store, "b@example.com", MIGRATE_STATE_PASSWORDS_ONLY) == 1);
	test_assert(create(store, "c@example.com", MIGRATE_STATE_MIGRATED) < 0);
	test_assert_strcmp(error, "store: a new account is queued or passwords-only, not migrated");

	test_assert(migrate_store_account_get(store, "a@example.com", &a, error, sizeof(error)) == 1);
	test_assert(a.state == MIGRATE_STATE_QUEUED && a.created == fake_now);
	test_assert_strcmp(a.address, "a@example.com");
	test_assert_strcmp(a.domain, "example.com");

	/* illegal, and legal but from the wrong state */
	test_assert(migrate_store_account_transition(store, "a@example.com",
		MIGRATE_STATE_QUEUED, MIGRATE_STATE_MIGRATED, NULL, 0, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "store: illegal transition queued -> migrated for a@example.com");
	test_assert(migrate_store_account_transition(store, "a@example.com",
		MIGRATE_STATE_SYNCED, MIGRATE_STATE_CUTOVER, NULL, 0, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "store: account a@example.com is queued, not synced: not moved to cutover");

	/* importing -> failed records why and when to retry */
	test_assert(migrate_store_account_transition(store, "a@example.com",
		MIGRATE_STATE_QUEUED, MIGRATE_STATE_IMPORTING, NULL, 0, error, sizeof(error)) == 0);
	test_assert(migrate_store_account_transition(store, "a@example.com",
		MIGRATE_STATE_IMPORTING, MIGRATE_STATE_FAILED, "legacy said NO [UNAVAILABLE]",
		fake_now + 60, error, sizeof(error)) == 0);
	test_assert(migrate_store_account_get(store, "a@example.com", &a, error, sizeof(error)) == 1);
	test_assert(a.state == MIGRATE_STATE_FAILED && a.attempts == 1 &&
		    a.next_retry == fake_now + 60);
	test_assert_strcmp(a.last_error, "legacy said NO [UNAVAILABLE]");

	/* all the way to migrated, with progress counted in the statistics */
	test_assert(migrate_store_account_transition(store, "a@example.com",
		MIGRATE_STATE_FAILED, MIGRATE_STATE_QUEUED, NULL, 0, error, sizeof(error)) == 0);
	test_assert(migrate_store_account_transition(store, "a@example.com",
		MIGRATE_STATE_QUEUED, MIGRATE_STATE_IMPORTING, NULL, 0, error, sizeof(error)) == 0);
	{
		struct migrate_account_progress p = { .pass = 1, .folders_done = 3,
			.folders_total = 3, .messages_done = 120, .messages_total = 120,
			.bytes_done = 5000000, .bytes_total = 5000000 };
		test_assert(migrate_store_account_set_progress(store, "a@example.com", &p,
							       error, sizeof(error)) == 0);
	}
	test_assert(migrate_store_account_transition(store, "a@example.com",
		MIGRATE_STATE_IMPORTING, MIGRATE_STATE_SYNCED, NULL, 0, error, sizeof(error)) == 0);
	test_assert(migrate_store_account_transition(store, "a@example.com",
		MIGRATE_STATE_SYNCED, MIGRATE_STATE_CUTOVER, NULL, 0, error, sizeof(error)) == 0);
	test_assert(migrate_store_account_transition(store, "a@example.com",
		MIGRATE_STATE_CUTOVER, MIGRATE_STATE_MIGRATED, NULL, 0, error, sizeof(error)) == 0);
	test_assert(migrate_store_account_get(store, "a@example.com", &a, error, sizeof(error)) == 1);
	test_assert(a.state == MIGRATE_STATE_MIGRATED && a.attempts == 0 &&
		    a.progress.messages_done == 120);

	test_assert(migrate_store_stats_get(store, &stats, error, sizeof(error)) == 0);
	test_assert(stats.started_at == fake_now && stats.mailboxes_migrated == 1 &&
		    stats.messages_migrated == 120 && stats.bytes_migrated == 5000000 &&
		    stats.errors == 1);
	test_assert_strcmp(stats.last_mailbox, "a@example.com");
	test_assert(stats.state_counts[MIGRATE_STATE_MIGRATED] == 1 &&
		    stats.state_counts[MIGRATE_STATE_PASSWORDS_ONLY] == 1 &&
		    stats.state_counts[MIGRATE_STATE_QUEUED] == 0);
	test_assert(consistent(store));
	migrate_store_close(&store);
	test_end();
}

static void set_done(struct migrate_store *store, uint64_t messages, uint64_t bytes)
{
	struct migrate_account_progress p = { .pass = 1, .messages_done = messages,
		.messages_total = 1000, .bytes_done = bytes };

	test_assert(migrate_store_account_set_progress(store, "r@example.com", &p,
						       error, sizeof(error)) == 0);
}

static void test_store_throughput(void)
{
	struct migrate_store *store;
	struct migrate_stats stats;
	int64_t start = fake_now;
	double mps, bps;

	test_begin("store: imported totals and the throughput windows");
	store_reset();
	store = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(create(store, "r@example.com", MIGRATE_STATE_QUEUED) == 1);
	set_done(store, 100, 1000);
	fake_now += 100;
	set_done(store, 300, 3000);
	test_assert(migrate_store_stats_get(store, &stats, error, sizeof(error)) == 0);
	test_assert(stats.imported_messages == 300 && stats.imported_bytes == 3000);
	migrate_stats_rate(&stats, fake_now, &mps, &bps);
	test_assert(mps == 3.0 && bps == 30.0);
	/* a recount that went down adds nothing; growing again does */
	fake_now += 250;
	set_done(store, 50, 500);
	set_done(store, 350, 3500);
	/* a new window: the old one still counts while it fills */
	fake_now += 100;
	set_done(store, 450, 4500);
	test_assert(migrate_store_stats_get(store, &stats, error, sizeof(error)) == 0);
	test_assert(stats.imported_messages == 700 && stats.imported_bytes == 7000);
	migrate_stats_rate(&stats, fake_now, &mps, &bps);
	test_assert(mps == 700.0 / 450);
	/* ten idle minutes: no rate */
	migrate_stats_rate(&stats, fake_now + 600, &mps, &bps);
	test_assert(mps == 0 && bps == 0);
	fake_now = start;
	migrate_store_close(&store);
	test_end();
}

static void test_store_secrets_and_aliases(void)
{
	struct migrate_store *store, *reader;
	struct migrate_secret s;
	struct migrate_alias alias, got;
	struct migrate_account a;
	struct migrate_stats stats;

	test_begin("store: secrets, aliases, forget");
	store_reset();
	store = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(create(store, "a@example.com", MIGRATE_STATE_QUEUED) == 1);
	test_assert(migrate_store_secret_get(store, "a@example.com", &s, error, sizeof(error)) == 1);
	test_assert_strcmp(s.password_hash, "{CRYPT}$y$hash");
	test_assert(s.credential_len == 11 && memcmp(s.credential, "\x01" "ciphertext", 11) == 0);

	i_zero(&alias);
	i_snprintf(alias.alias, sizeof(alias.alias), "sales@example.com");
	i_snprintf(alias.account, sizeof(alias.account), "a@example.com");
	i_snprintf(alias.source, sizeof(alias.source), "legacy-forward");
	test_assert(migrate_store_alias_set(store, &alias, error, sizeof(error)) == 1);
	test_assert(migrate_store_alias_set(store, &alias, error, sizeof(error)) == 0);
	test_assert(migrate_store_alias_get(store, "sales@example.com", &got, error, sizeof(error)) == 1);
	test_assert_strcmp(got.account, "a@example.com");
	test_assert_strcmp(got.source, "legacy-forward");
	i_snprintf(alias.account, sizeof(alias.account), "nobody@example.com");
	test_assert(migrate_store_alias_set(store, &alias, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "store: alias sales@example.com: account nobody@example.com does not exist");

	/* the routing side cannot read secrets (LMDB forbids one process
	   opening an environment twice: close the writer meanwhile) */
	migrate_store_close(&store);
	reader = store_open(MIGRATE_STORE_READ_ROUTING, 0);
	test_assert(reader != NULL);
	test_assert(migrate_store_account_get(reader, "a@example.com", &a, error, sizeof(error)) == 1);
	test_assert(migrate_store_secret_get(reader, "a@example.com", &s, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "store: secrets are not open in this process");
	test_assert(create(reader, "x@example.com", MIGRATE_STATE_QUEUED) < 0);
	migrate_store_close(&reader);
	store = store_open(MIGRATE_STORE_WRITE, 0);

	/* finish: credentials go, hashes stay */
	test_assert(create(store, "b@example.com", MIGRATE_STATE_QUEUED) == 1);
	test_assert(migrate_store_secret_wipe_credential(store, "b@example.com", error, sizeof(error)) == 1);
	test_assert(migrate_store_secret_wipe_credential(store, "b@example.com", error, sizeof(error)) == 0);
	test_assert(migrate_store_secret_wipe_credential(store, "nobody@example.com", error, sizeof(error)) == 0);
	test_assert(migrate_store_secret_get(store, "b@example.com", &s, error, sizeof(error)) == 1);
	test_assert(s.credential_len == 0);
	test_assert_strcmp(s.password_hash, "{CRYPT}$y$hash");
	test_assert(migrate_store_account_forget(store, "b@example.com", error, sizeof(error)) == 1);
	test_assert(migrate_store_secrets_wipe_credentials(store, error, sizeof(error)) == 1);
	test_assert(migrate_store_secret_get(store, "a@example.com", &s, error, sizeof(error)) == 1);
	test_assert(s.credential_len == 0);
	test_assert_strcmp(s.password_hash, "{CRYPT}$y$hash");

	test_assert(migrate_store_account_forget(store, "a@example.com", error, sizeof(error)) == 1);
	test_assert(migrate_store_account_forget(store, "a@example.com", error, sizeof(error)) == 0);
	test_assert(migrate_store_alias_get(store, "sales@example.com", &got, error, sizeof(error)) == 0);
	test_assert(migrate_store_secret_get(store, "a@example.com", &s, error, sizeof(error)) == 0);
	test_assert(migrate_store_stats_get(store, &stats, error, sizeof(error)) == 0);
	test_assert(stats.state_counts[MIGRATE_STATE_QUEUED] == 0 && stats.aliases_created == 1);
	test_assert(consistent(store));
	migrate_store_close(&store);
	test_end();
}

static void test_store_queue(void)
{
	char address[MIGRATE_ACCOUNT_ADDRESS_MAX + 1];
	struct migrate_store *store;
	/* two live processes: a lease of a dead pid would be free at once */
	pid_t me = getpid(), other = getppid(), dead;
	uint64_t length;
	int status;

	test_begin("store: queue order, leases, expiry, release");
	store_reset();
	store = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(create(store, "first@example.com", MIGRATE_STATE_QUEUED) == 1);
	fake_now += 10;
	test_assert(create(store, "second@example.com", MIGRATE_STATE_QUEUED) == 1);
	test_assert(migrate_store_queue_length(store, &length, error, sizeof(error)) == 0 && length == 2);

	test_assert(migrate_store_queue_take(store, me, 60, address, error, sizeof(error)) == 1);
	test_assert_strcmp(address, "first@example.com");
	test_assert(migrate_store_queue_take(store, me, 60, address, error, sizeof(error)) == 1);
	test_assert_strcmp(address, "second@example.com");
	test_assert(migrate_store_queue_take(store, me, 60, address, error, sizeof(error)) == 0);

	/* a lease past its expiry is free again; renew keeps it */
	test_assert(migrate_store_queue_renew(store, "second@example.com", me, 600, error, sizeof(error)) == 1);
	fake_now += 61;
	test_assert(migrate_store_queue_take(store, other, 60, address, error, sizeof(error)) == 1);
	test_assert_strcmp(address, "first@example.com");
	/* the old holder lost it */
	test_assert(migrate_store_queue_release(store, "first@example.com", me, -1, error, sizeof(error)) == 0);
	test_assert(migrate_store_queue_take(store, me, 60, address, error, sizeof(error)) == 0);

	/* retry later: not taken before its time */
	test_assert(migrate_store_queue_release(store, "first@example.com", other,
						fake_now + 300, error, sizeof(error)) == 1);
	test_assert(migrate_store_queue_take(store, me, 60, address, error, sizeof(error)) == 0);
	fake_now += 301;
	/* second's lease (600 s from before) still runs: only first comes */
	test_assert(migrate_store_queue_take(store, me, 60, address, error, sizeof(error)) == 1);
	test_assert_strcmp(address, "first@example.com");
	test_assert(migrate_store_queue_release(store, "first@example.com", me, -1, error, sizeof(error)) == 1);

	/* a lease whose owner process is gone is free at once */
	dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, &status, 0);
	test_assert(migrate_store_queue_release(store, "second@example.com", me, fake_now,
						error, sizeof(error)) == 1);
	test_assert(migrate_store_queue_take(store, dead, 600, address, error, sizeof(error)) == 1);
	test_assert(migrate_store_queue_take(store, me, 60, address, error, sizeof(error)) == 1);
	test_assert_strcmp(address, "second@example.com");
	test_assert(migrate_store_queue_length(store, &length, error, sizeof(error)) == 0 && length == 1);
	migrate_store_close(&store);
	test_end();
}

static void test_store_permissions(void)
{
	struct migrate_store *store;
	char path[512];

	test_begin("store: file modes, and refusing readable stores");
	store_reset();
	store = store_open(MIGRATE_STORE_WRITE, 0);
	migrate_store_close(&store);
	{
		static const struct { const char *file; mode_t mode; } want[] = {
			{ "routing", 0770 }, { "routing/data.mdb", 0640 },
			{ "routing/lock.mdb", 0660 }, { "secrets", 0700 },
			{ "secrets/data.mdb", 0600 }, { "secrets/lock.mdb", 0600 },
		};
		struct stat st;
		unsigned int i;

		for (i = 0; i < N_ELEMENTS(want); i++) {
			i_snprintf(path, sizeof(path), "%s/%s", store_dir, want[i].file);
			test_assert_idx(stat(path, &st) == 0 &&
					(st.st_mode & 07777) == want[i].mode, i);
		}
	}
	i_snprintf(path, sizeof(path), "%s/secrets", store_dir);
	test_assert(chmod(path, 0750) == 0);
	test_assert(store_open(MIGRATE_STORE_WRITE, 0) == NULL);
	test_assert(strstr(error, "secrets is mode 0750: the secrets store must not be "
			   "accessible to group or others (chmod go-rwx, or as root: doveadm migrate init)") != NULL);
	test_assert(chmod(path, 0700) == 0);
	i_snprintf(path, sizeof(path), "%s/routing", store_dir);
	test_assert(chmod(path, 0775) == 0);
	test_assert(store_open(MIGRATE_STORE_READ_ROUTING, 0) == NULL);
	test_assert(strstr(error, "routing is mode 0775: the routing store must not be "
			   "accessible to others (chmod o-rwx, or as root: doveadm migrate init)") != NULL);
	test_assert(chmod(path, 0770) == 0);

	/* created by root for the Dovecot side's user and the routing group */
	if (geteuid() == 0 && getpwnam("dovecot") != NULL && getgrnam("postfix") != NULL) {
		struct migrate_store_settings set = {
			.path = store_dir, .access = MIGRATE_STORE_WRITE,
			.owner_user = "dovecot", .routing_group = "postfix",
		};
		struct passwd *pw = getpwnam("dovecot");
		gid_t postfix_gid = getgrnam("postfix")->gr_gid;
		struct stat st;

		store_reset();
		test_assert(migrate_store_open(&set, &store, error, sizeof(error)) == 0);
		migrate_store_close(&store);
		i_snprintf(path, sizeof(path), "%s/routing/lock.mdb", store_dir);
		test_assert(stat(path, &st) == 0 && st.st_uid == pw->pw_uid &&
			    st.st_gid == postfix_gid);
		i_snprintf(path, sizeof(path), "%s/secrets/data.mdb", store_dir);
		test_assert(stat(path, &st) == 0 && st.st_uid == pw->pw_uid &&
			    st.st_gid == pw->pw_gid);
		set.owner_user = "no-such-user-here";
		test_assert(migrate_store_open(&set, &store, error, sizeof(error)) < 0);
		test_assert_strcmp(error, "store: unknown user no-such-user-here");
	}

	/* a reader cannot create a store */
	store_reset();
	test_assert(store_open(MIGRATE_STORE_READ_ROUTING, 0) == NULL);
	test_assert(strstr(error, "does not exist (create it, as root: doveadm migrate init)") != NULL);
	test_end();
}

/* Writes a schema version (and drops the state index) with raw LMDB, as
   another version of the program would have left the store. */
static void set_schema_raw(uint32_t version, bool drop_state_index)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, by_state;
	MDB_val key = { 6, (void *)"schema" }, data = { sizeof(version), &version };
	char path[512];

	i_snprintf(path, sizeof(path), "%s/routing", store_dir);
	test_assert(mdb_env_create(&env) == 0);
	mdb_env_set_maxdbs(env, 8);
	mdb_env_set_mapsize(env, 64 * 1024 * 1024);
	test_assert(mdb_env_open(env, path, 0, 0660) == 0);
	test_assert(mdb_txn_begin(env, NULL, 0, &txn) == 0);
	test_assert(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
	if (drop_state_index) {
		test_assert(mdb_dbi_open(txn, "by_state", 0, &by_state) == 0);
		test_assert(mdb_drop(txn, by_state, 1) == 0);
	}
	test_assert(mdb_put(txn, meta, &key, &data, 0) == 0);
	test_assert(mdb_txn_commit(txn) == 0);
	mdb_env_close(env);
}

static void test_store_growth_and_schema(void)
{
	struct migrate_store *store;
	char address[64];
	unsigned int i;
	int ok = 0;

	test_begin("store: the map grows by itself; newer schema refused");
	store_reset();
	store = store_open(MIGRATE_STORE_WRITE, 64 * 1024);
	for (i = 0; i < 3000; i++) {
		i_snprintf(address, sizeof(address), "user%05u@example.com", i);
		ok += create(store, address, MIGRATE_STATE_QUEUED) == 1;
	}
	test_assert(ok == 3000);
	test_assert(consistent(store));
	migrate_store_close(&store);

	/* a store written by a newer version */
	set_schema_raw(MIGRATE_STORE_SCHEMA_VERSION + 1, FALSE);
	test_assert(store_open(MIGRATE_STORE_WRITE, 0) == NULL);
	test_assert(strstr(error, "schema version 3 is newer than this program supports (2)") != NULL);
	test_end();
}

static int collect(const struct migrate_account *account, void *context)
{
	string_t *str = context;

	str_printfa(str, "%s ", account->address);
	return 0;
}

static const char *in_state(struct migrate_store *store, enum migrate_account_state state)
{
	string_t *str = t_str_new(128);

	if (migrate_store_account_iterate_state(store, state, collect, str,
						error, sizeof(error)) < 0)
		return error;
	return str_c(str);
}

static void test_store_state_index_and_upgrade(void)
{
	struct migrate_store *store;

	test_begin("store: accounts by state; schema 1 upgraded on open");
	store_reset();
	store = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(create(store, "b@example.com", MIGRATE_STATE_QUEUED) == 1);
	test_assert(create(store, "a@example.com", MIGRATE_STATE_QUEUED) == 1);
	test_assert(create(store, "c@example.com", MIGRATE_STATE_PASSWORDS_ONLY) == 1);
	test_assert(migrate_store_account_transition(store, "b@example.com",
		MIGRATE_STATE_QUEUED, MIGRATE_STATE_IMPORTING, NULL, 0, error, sizeof(error)) == 0);
	test_assert_strcmp(in_state(store, MIGRATE_STATE_QUEUED), "a@example.com ");
	test_assert_strcmp(in_state(store, MIGRATE_STATE_IMPORTING), "b@example.com ");
	test_assert_strcmp(in_state(store, MIGRATE_STATE_PASSWORDS_ONLY), "c@example.com ");
	test_assert_strcmp(in_state(store, MIGRATE_STATE_MIGRATED), "");
	test_assert(migrate_store_account_forget(store, "c@example.com", error, sizeof(error)) == 1);
	test_assert_strcmp(in_state(store, MIGRATE_STATE_PASSWORDS_ONLY), "");
	migrate_store_close(&store);

	/* what a schema-1 store looks like: no state index, version 1 */
	set_schema_raw(1, TRUE);
	/* a reader of the old store works, without the index */
	store = store_open(MIGRATE_STORE_READ_ROUTING, 0);
	test_assert(store != NULL);
	test_assert(strstr(in_state(store, MIGRATE_STATE_QUEUED), "not upgraded yet") != NULL);
	migrate_store_close(&store);
	/* a writer upgrades it */
	store = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(store != NULL);
	test_assert_strcmp(in_state(store, MIGRATE_STATE_QUEUED), "a@example.com ");
	test_assert_strcmp(in_state(store, MIGRATE_STATE_IMPORTING), "b@example.com ");
	test_assert(consistent(store));
	migrate_store_close(&store);

	/* the check finds a lost index at the current version */
	set_schema_raw(MIGRATE_STORE_SCHEMA_VERSION, TRUE);
	store = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(migrate_store_check(store, error, sizeof(error)) == 0);
	test_assert_strcmp(error, "store: no state index entry for a@example.com");
	migrate_store_close(&store);
	test_end();
}

static void test_store_orphan_secret(void)
{
	struct migrate_store *store;
	struct migrate_secret s = new_secret("{CRYPT}$y$orphan"), got;

	test_begin("store: a secret without its account is removed later");
	store_reset();
	store = store_open(MIGRATE_STORE_WRITE, 0);
	/* as if the process died between the secret and the account */
	test_assert(migrate_store_secret_set(store, "ghost@example.com", &s, error, sizeof(error)) == 0);
	migrate_store_close(&store);
	/* young orphans may be a create in progress elsewhere: kept */
	store = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(migrate_store_secret_get(store, "ghost@example.com", &got, error, sizeof(error)) == 1);
	migrate_store_close(&store);
	fake_now += 7200;
	store = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(migrate_store_secret_get(store, "ghost@example.com", &got, error, sizeof(error)) == 0);
	migrate_store_close(&store);
	test_end();
}

/* A child that writes for ever: creates accounts and walks them through
   the state machine, one transaction at a time. */
static void writer_loop(unsigned int seed, int ready_fd)
{
	struct migrate_store *store = store_open(MIGRATE_STORE_WRITE, 32 * 1024);
	char address[64], taken[MIGRATE_ACCOUNT_ADDRESS_MAX + 1];
	unsigned int i;

	if (store == NULL)
		_exit(1);
	if (ready_fd >= 0 && write(ready_fd, "", 1) != 1)
		_exit(1);
	for (i = 0;; i++) {
		i_snprintf(address, sizeof(address), "u%u-%u@example.com", seed, i);
		(void)create(store, address, (i % 5) == 0 ? MIGRATE_STATE_PASSWORDS_ONLY :
			     MIGRATE_STATE_QUEUED);
		if (migrate_store_queue_take(store, getpid(), 60, taken, error, sizeof(error)) == 1 &&
		    migrate_store_account_transition(store, taken, MIGRATE_STATE_QUEUED,
			MIGRATE_STATE_IMPORTING, NULL, 0, error, sizeof(error)) == 0) {
			(void)migrate_store_account_transition(store, taken,
				MIGRATE_STATE_IMPORTING, MIGRATE_STATE_SYNCED, NULL, 0, error, sizeof(error));
			(void)migrate_store_queue_release(store, taken, getpid(), -1, error, sizeof(error));
		}
		if (i % 7 == 3)
			(void)migrate_store_account_forget(store, address, error, sizeof(error));
	}
}

static void test_store_kill9_writer(void)
{
	struct migrate_store *store;
	unsigned int round, bad = 0;
	struct migrate_stats stats;

	test_begin("store: kill -9 of a writer at 100 random points");
	store_reset();
	for (round = 0; round < 100; round++) {
		int status, fd[2];
		char c;
		pid_t pid;

		if (pipe(fd) < 0)
			i_fatal("pipe() failed: %m");
		pid = fork();
		if (pid == 0)
			writer_loop(round, fd[1]);
		/* once it is writing, 0-20 ms: lands inside transactions,
		   commits and map growth */
		if (read(fd[0], &c, 1) != 1)
			bad++;
		i_close_fd(&fd[0]);
		i_close_fd(&fd[1]);
		usleep((useconds_t)i_rand_limit(20000));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		store = store_open(MIGRATE_STORE_WRITE, 0);
		if (store == NULL || !consistent(store))
			bad++;
		migrate_store_close(&store);
	}
	test_assert(bad == 0);
	store = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(migrate_store_stats_get(store, &stats, error, sizeof(error)) == 0);
	/* the writers got real work done between the kills */
	test_assert(stats.state_counts[MIGRATE_STATE_QUEUED] +
		    stats.state_counts[MIGRATE_STATE_SYNCED] > 0);
	migrate_store_close(&store);
	test_end();
}

static void test_store_reader_beside_writer(void)
{
	struct migrate_store *store;
	unsigned int i, reads = 0, bad = 0;
	pid_t writer;
	int status;

	test_begin("store: a reader process never waits on a writer process");
	store_reset();
	store = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(create(store, "watched@example.com", MIGRATE_STATE_QUEUED) == 1);
	migrate_store_close(&store);

	writer = fork();
	if (writer == 0)
		writer_loop(1000, -1);
	store = store_open(MIGRATE_STORE_READ_ROUTING, 0);
	test_assert(store != NULL);
	for (i = 0; store != NULL && i < 200000; i++) {
		struct migrate_account a;
		int ret = migrate_store_account_get(store, "watched@example.com", &a,
						    error, sizeof(error));

		/* the writer takes it through queued/importing/synced */
		if (ret != 1 || (a.state != MIGRATE_STATE_QUEUED &&
				 a.state != MIGRATE_STATE_IMPORTING &&
				 a.state != MIGRATE_STATE_SYNCED))
			bad++;
		reads++;
	}
	kill(writer, SIGKILL);
	waitpid(writer, &status, 0);
	migrate_store_close(&store);
	test_assert(reads == 200000 && bad == 0);
	test_end();
}

struct ledger_seen {
	unsigned int imap, pop3, pending;
	uint32_t max_uid;
};

static int ledger_seen_one(const struct migrate_ledger_message *m, void *context)
{
	struct ledger_seen *seen = context;

	if (m->uidl[0] != '\0')
		seen->pop3++;
	else
		seen->imap++;
	seen->pending += m->pending ? 1 : 0;
	if (m->uid > seen->max_uid)
		seen->max_uid = m->uid;
	return 0;
}

static struct migrate_ledger_message ledger_message(uint32_t uid, const char *uidl,
						    bool pending)
{
	struct migrate_ledger_message m;

	i_zero(&m);
	m.uidvalidity = 1234;
	m.uid = uid;
	i_snprintf(m.uidl, sizeof(m.uidl), "%s", uidl);
	m.pending = pending;
	m.local_uid = 100 + uid;
	i_snprintf(m.local, sizeof(m.local), "INBOX");
	i_snprintf(m.message_id, sizeof(m.message_id), "<%u@example.com>", uid);
	memset(m.sha256, (int)uid, sizeof(m.sha256));
	return m;
}

static void test_store_ledger(void)
{
	struct migrate_store *store;
	struct migrate_ledger_folder f, got;
	struct migrate_ledger_message msgs[3];
	struct migrate_ledger_account la;
	struct ledger_seen seen;
	struct migrate_ledger_folder batch[3];
	char address[MIGRATE_ACCOUNT_ADDRESS_MAX + 1];
	unsigned char hash[MIGRATE_LEDGER_HASH_SIZE];
	uint64_t count;

	test_begin("store: ledger, sweep schedule");
	store_reset();
	store = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(create(store, "a@example.com", MIGRATE_STATE_QUEUED) == 1);

	/* folders: the whole legacy name round-trips, a long one too */
	i_zero(&f);
	i_snprintf(f.legacy, sizeof(f.legacy), "Itens Enviados");
	i_snprintf(f.local, sizeof(f.local), "Sent");
	f.uidvalidity = 1234;
	f.dsync_below = 57;
	test_assert(migrate_store_ledger_folder_get(store, "a@example.com", "Itens Enviados", &got, error, sizeof(error)) == 0);
	test_assert(migrate_store_ledger_folder_set(store, "a@example.com", &f, error, sizeof(error)) == 0);
	test_assert(migrate_store_ledger_folder_get(store, "a@example.com", "Itens Enviados", &got, error, sizeof(error)) == 1);
	test_assert_strcmp(got.local, "Sent");
	test_assert(got.uidvalidity == 1234 && got.dsync_below == 57 && !got.seeded);
	memset(f.legacy, 'x', MIGRATE_LEDGER_FOLDER_MAX);
	f.legacy[MIGRATE_LEDGER_FOLDER_MAX] = '\0';
	test_assert(migrate_store_ledger_folder_set(store, "a@example.com", &f, error, sizeof(error)) == 0);
	test_assert(migrate_store_ledger_folder_get(store, "a@example.com", f.legacy, &got, error, sizeof(error)) == 1);
	test_assert(strlen(got.legacy) == MIGRATE_LEDGER_FOLDER_MAX);
	f.local[0] = '\0';
	test_assert(migrate_store_ledger_folder_set(store, "a@example.com", &f, error, sizeof(error)) < 0);

	/* several folders in one commit (the cut-over's marks); a bad one
	   refuses them all */
	i_zero(&batch);
	for (unsigned int i = 0; i < N_ELEMENTS(batch); i++) {
		i_snprintf(batch[i].legacy, sizeof(batch[i].legacy), "Batch%u", i);
		i_snprintf(batch[i].local, sizeof(batch[i].local), "Batch%u", i);
		batch[i].uidvalidity = 100 + i;
		batch[i].dsync_below = 10 + i;
	}
	batch[2].local[0] = '\0';
	test_assert(migrate_store_ledger_folders_set(store, "a@example.com", batch, 3, error, sizeof(error)) < 0);
	test_assert(migrate_store_ledger_folder_get(store, "a@example.com", "Batch0", &got, error, sizeof(error)) == 0);
	test_assert(migrate_store_ledger_folders_set(store, "a@example.com", batch, 2, error, sizeof(error)) == 0);
	test_assert(migrate_store_ledger_folder_get(store, "a@example.com", "Batch1", &got, error, sizeof(error)) == 1);
	test_assert(got.uidvalidity == 101 && got.dsync_below == 11);
	test_assert(migrate_store_ledger_folders_set(store, "a@example.com", batch, 0, error, sizeof(error)) == 0);

	/* messages: IMAP keys and a POP3 UIDL; a pending one has no hash yet */
	msgs[0] = ledger_message(5, "", FALSE);
	msgs[1] = ledger_message(6, "", TRUE);
	msgs[2] = ledger_message(0, "UID7-1699999999", FALSE);
	test_assert(migrate_store_ledger_put(store, "a@example.com", "INBOX", msgs, 3, error, sizeof(error)) == 0);
	i_zero(&seen);
	test_assert(migrate_store_ledger_messages(store, "a@example.com", "INBOX", ledger_seen_one, &seen, error, sizeof(error)) == 0);
	test_assert(seen.imap == 2 && seen.pop3 == 1 && seen.pending == 1 && seen.max_uid == 6);
	memset(hash, 5, sizeof(hash));
	test_assert(migrate_store_ledger_hash_known(store, "a@example.com", "INBOX", hash, error, sizeof(error)) == 1);
	test_assert(migrate_store_ledger_hash_known(store, "a@example.com", "Sent", hash, error, sizeof(error)) == 0);
	memset(hash, 6, sizeof(hash));
	test_assert(migrate_store_ledger_hash_known(store, "a@example.com", "INBOX", hash, error, sizeof(error)) == 0);
	/* the pending one confirmed: same key, now with its hash */
	msgs[1].pending = FALSE;
	test_assert(migrate_store_ledger_put(store, "a@example.com", "INBOX", &msgs[1], 1, error, sizeof(error)) == 0);
	test_assert(migrate_store_ledger_hash_known(store, "a@example.com", "INBOX", hash, error, sizeof(error)) == 1);
	test_assert(migrate_store_ledger_drop(store, "a@example.com", "INBOX", &msgs[0], error, sizeof(error)) == 0);
	test_assert(migrate_store_ledger_count(store, "a@example.com", &count, error, sizeof(error)) == 0 && count == 2);
	i_zero(&seen);
	test_assert(migrate_store_ledger_messages(store, "a@example.com", "Sent", ledger_seen_one, &seen, error, sizeof(error)) == 0);
	test_assert(seen.imap == 0 && seen.pop3 == 0);

	/* the sweep schedule: earliest first, only when due, leased */
	test_assert(create(store, "b@example.com", MIGRATE_STATE_QUEUED) == 1);
	i_zero(&la);
	la.engine = MIGRATE_ENGINE_DSYNC;
	la.sweep_due = fake_now + 60;
	test_assert(migrate_store_ledger_account_set(store, "a@example.com", &la, error, sizeof(error)) == 0);
	la.sweep_due = fake_now + 30;
	test_assert(migrate_store_ledger_account_set(store, "b@example.com", &la, error, sizeof(error)) == 0);
	test_assert(migrate_store_sweep_take(store, 600, address, error, sizeof(error)) == 0);
	fake_now += 61;
	test_assert(migrate_store_sweep_take(store, 600, address, error, sizeof(error)) == 1);
	test_assert_strcmp(address, "b@example.com");
	test_assert(migrate_store_sweep_take(store, 600, address, error, sizeof(error)) == 1);
	test_assert_strcmp(address, "a@example.com");
	test_assert(migrate_store_sweep_take(store, 600, address, error, sizeof(error)) == 0);
	test_assert(migrate_store_ledger_account_get(store, "a@example.com", &la, error, sizeof(error)) == 1);
	test_assert(la.engine == MIGRATE_ENGINE_DSYNC && la.sweep_due == fake_now + 600);
	/* a finished sweep leaves the schedule, the rest of the record kept */
	la.swept_messages = 3;
	test_assert(migrate_store_ledger_account_set(store, "a@example.com", &la, error, sizeof(error)) == 0);
	test_assert(migrate_store_sweep_schedule(store, "a@example.com", 0, error, sizeof(error)) == 0);
	test_assert(migrate_store_ledger_account_get(store, "a@example.com", &la, error, sizeof(error)) == 1);
	test_assert(la.sweep_due == 0 && la.swept_messages == 3 && la.engine == MIGRATE_ENGINE_DSYNC);
	/* the unflushed pass's boot survives a round trip; a record from
	   before that field reads as flushed */
	memset(la.unflushed_boot, 0xa5, sizeof(la.unflushed_boot));
	memset(la.legacy_fingerprint, 0x5a, sizeof(la.legacy_fingerprint));
	test_assert(migrate_store_ledger_account_set(store, "a@example.com", &la, error, sizeof(error)) == 0);
	test_assert(migrate_store_ledger_account_get(store, "a@example.com", &la, error, sizeof(error)) == 1);
	test_assert(la.unflushed_boot[0] == 0xa5 && la.unflushed_boot[15] == 0xa5 && la.swept_messages == 3);
	test_assert(la.legacy_fingerprint[0] == 0x5a && la.legacy_fingerprint[31] == 0x5a);
	{
		unsigned char rec[MIGRATE_LEDGER_ACCOUNT_RECORD_SIZE];
		size_t len = migrate_ledger_account_encode(&la, rec);

		test_assert(len == sizeof(rec));
		/* from before the fingerprint: none, the boot kept */
		test_assert(migrate_ledger_account_decode(rec, len - MIGRATE_LEGACY_FINGERPRINT_SIZE, &la) == 0);
		test_assert(la.unflushed_boot[0] == 0xa5 && la.legacy_fingerprint[0] == 0 &&
			    la.legacy_fingerprint[31] == 0);
		/* from before both */
		test_assert(migrate_ledger_account_decode(rec, len - MIGRATE_LEGACY_FINGERPRINT_SIZE -
							  MIGRATE_BOOT_ID_SIZE, &la) == 0);
		test_assert(la.unflushed_boot[0] == 0 && la.unflushed_boot[15] == 0 &&
			    la.swept_messages == 3);
		test_assert(migrate_ledger_account_decode(rec, len - MIGRATE_LEGACY_FINGERPRINT_SIZE -
							  MIGRATE_BOOT_ID_SIZE - 1, &la) < 0);
	}
	fake_now += 601;
	test_assert(migrate_store_sweep_take(store, 600, address, error, sizeof(error)) == 1);
	test_assert_strcmp(address, "b@example.com");
	test_assert(migrate_store_sweep_take(store, 600, address, error, sizeof(error)) == 0);

	/* forget takes the whole ledger with it, schedule included */
	test_assert(migrate_store_account_forget(store, "a@example.com", error, sizeof(error)) == 1);
	test_assert(migrate_store_ledger_count(store, "a@example.com", &count, error, sizeof(error)) == 0 && count == 0);
	test_assert(migrate_store_ledger_account_get(store, "a@example.com", &la, error, sizeof(error)) == 0);
	test_assert(migrate_store_ledger_folder_get(store, "a@example.com", "Itens Enviados", &got, error, sizeof(error)) == 0);
	test_assert(migrate_store_account_forget(store, "b@example.com", error, sizeof(error)) == 1);
	fake_now += 601;
	test_assert(migrate_store_sweep_take(store, 600, address, error, sizeof(error)) == 0);
	test_assert(consistent(store));
	migrate_store_close(&store);
	test_end();
}

/* The grant and the flip order against each other: a grant is written
   while the account's logins are proxied and never once it is in
   cutover, so the cut-over's fence knows the newest one. */
static void test_store_shared_handle(void)
{
	struct migrate_store *a, *b;
	struct migrate_account acc;

	test_begin("store: opened twice in one process, one handle");
	store_reset();
	a = store_open(MIGRATE_STORE_WRITE, 0);
	b = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(a != NULL && a == b);
	test_assert(create(b, "nested@example.com", MIGRATE_STATE_QUEUED) == 1);
	migrate_store_close(&b);
	/* the outer one still works after the inner one closed */
	test_assert(migrate_store_account_get(a, "nested@example.com", &acc,
					      error, sizeof(error)) == 1);
	b = store_open(MIGRATE_STORE_READ_ROUTING, 0);
	test_assert(b == a);
	migrate_store_close(&b);
	migrate_store_close(&a);
	/* read-only first: a writer in the same process is refused */
	a = store_open(MIGRATE_STORE_READ_ROUTING, 0);
	test_assert(a != NULL && store_open(MIGRATE_STORE_WRITE, 0) == NULL);
	migrate_store_close(&a);
	/* all closed: a new handle */
	a = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(a != NULL);
	migrate_store_close(&a);
	test_end();
}

static void test_store_proxy_grant(void)
{
	struct migrate_store *store;
	struct migrate_account a;
	bool granted;

	test_begin("store: proxy grants stop at the cut-over's flip");
	store_reset();
	store = store_open(MIGRATE_STORE_WRITE, 0);
	test_assert(store != NULL);
	test_assert(migrate_store_account_proxy_grant(store, "new@example.com",
		1000, &a, &granted, error, sizeof(error)) == 0 && !granted);
	test_assert(create(store, "a@example.com", MIGRATE_STATE_QUEUED) == 1);
	test_assert(migrate_store_account_proxy_grant(store, "a@example.com",
		1000, &a, &granted, error, sizeof(error)) == 1 && granted);
	test_assert(a.proxy_granted_ms == 1000 && a.state == MIGRATE_STATE_QUEUED);
	test_assert(migrate_store_account_transition(store, "a@example.com",
		MIGRATE_STATE_QUEUED, MIGRATE_STATE_IMPORTING, NULL, 0, error, sizeof(error)) == 0);
	test_assert(migrate_store_account_transition(store, "a@example.com",
		MIGRATE_STATE_IMPORTING, MIGRATE_STATE_SYNCED, NULL, 0, error, sizeof(error)) == 0);
	test_assert(migrate_store_account_proxy_grant(store, "a@example.com",
		2000, &a, &granted, error, sizeof(error)) == 1 && granted);
	test_assert(migrate_store_account_transition(store, "a@example.com",
		MIGRATE_STATE_SYNCED, MIGRATE_STATE_CUTOVER, NULL, 0, error, sizeof(error)) == 0);
	/* after the flip: refused, the state says why, the grant stays */
	test_assert(migrate_store_account_proxy_grant(store, "a@example.com",
		3000, &a, &granted, error, sizeof(error)) == 1 && !granted);
	test_assert(a.state == MIGRATE_STATE_CUTOVER && a.proxy_granted_ms == 2000);
	test_assert(migrate_store_account_get(store, "a@example.com", &a,
		error, sizeof(error)) == 1 && a.proxy_granted_ms == 2000);
	test_assert(migrate_store_account_transition(store, "a@example.com",
		MIGRATE_STATE_CUTOVER, MIGRATE_STATE_MIGRATED, NULL, 0, error, sizeof(error)) == 0);
	test_assert(migrate_store_account_proxy_grant(store, "a@example.com",
		4000, &a, &granted, error, sizeof(error)) == 1 && !granted);
	/* a local account is never proxied */
	test_assert(create(store, "l@example.com", MIGRATE_STATE_QUEUED) == 1);
	test_assert(migrate_store_account_set_local(store, "l@example.com", TRUE,
		error, sizeof(error)) == 0);
	test_assert(migrate_store_account_proxy_grant(store, "l@example.com",
		5000, &a, &granted, error, sizeof(error)) == 1 && !granted);
	test_assert(consistent(store));
	migrate_store_close(&store);
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_store_accounts,
		test_store_proxy_grant,
		test_store_shared_handle,
		test_store_secrets_and_aliases,
		test_store_ledger,
		test_store_queue,
		test_store_permissions,
		test_store_growth_and_schema,
		test_store_orphan_secret,
		test_store_state_index_and_upgrade,
		test_store_reader_beside_writer,
		test_store_kill9_writer,
		test_store_throughput,
		NULL
	};
	int ret = test_run(tests);

	store_reset();
	return ret;
}
