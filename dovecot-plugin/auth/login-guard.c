/* Rate limits and the failure cache of legacy checks, see login-guard.h. */

#include "lib.h"
#include "hash.h"
#include "hex-binary.h"
#include "safe-memset.h"
#include "hmac.h"
#include "ioloop.h"
#include "randgen.h"
#include "sha2.h"
#include "login-guard.h"

#define LOGIN_GUARD_WINDOW_SECS 60

struct guard_counter {
	time_t window_start;
	unsigned int count;
};

struct login_guard {
	unsigned int per_account, per_ip, failure_secs;
	unsigned char key[32];
	/* "a:<account>" and "i:<ip>" -> counter */
	HASH_TABLE(char *, struct guard_counter *) counters;
	/* hex fingerprint -> expiry */
	HASH_TABLE(char *, void *) failures;
	time_t last_sweep;
};

struct login_guard *login_guard_init(const struct migrate_config *config)
{
	struct login_guard *guard = i_new(struct login_guard, 1);

	guard->per_account = config->legacy_checks_per_user;
	guard->per_ip = config->legacy_checks_per_ip;
	guard->failure_secs = config->legacy_failure_cache_secs;
	random_fill(guard->key, sizeof(guard->key));
	hash_table_create(&guard->counters, default_pool, 0, str_hash, strcmp);
	hash_table_create(&guard->failures, default_pool, 0, str_hash, strcmp);
	guard->last_sweep = ioloop_time;
	return guard;
}

static void login_guard_clear(struct login_guard *guard)
{
	struct hash_iterate_context *iter;
	struct guard_counter *counter;
	char *key;
	void *value;

	iter = hash_table_iterate_init(guard->counters);
	while (hash_table_iterate(iter, guard->counters, &key, &counter)) {
		i_free(key);
		i_free(counter);
	}
	hash_table_iterate_deinit(&iter);
	iter = hash_table_iterate_init(guard->failures);
	while (hash_table_iterate(iter, guard->failures, &key, &value))
		i_free(key);
	hash_table_iterate_deinit(&iter);
	hash_table_clear(guard->counters, FALSE);
	hash_table_clear(guard->failures, FALSE);
}

void login_guard_deinit(struct login_guard **_guard)
{
	struct login_guard *guard = *_guard;

	*_guard = NULL;
	login_guard_clear(guard);
	hash_table_destroy(&guard->counters);
	hash_table_destroy(&guard->failures);
	safe_memset(guard->key, 0, sizeof(guard->key));
	i_free(guard);
}

/* Drops expired counters and failures, at most once a window. */
static void login_guard_sweep(struct login_guard *guard)
{
	struct hash_iterate_context *iter;
	struct guard_counter *counter;
	char *key;
	void *value;

	if (ioloop_time < guard->last_sweep + LOGIN_GUARD_WINDOW_SECS)
		return;
	guard->last_sweep = ioloop_time;
	iter = hash_table_iterate_init(guard->counters);
	while (hash_table_iterate(iter, guard->counters, &key, &counter)) {
		if (counter->window_start + LOGIN_GUARD_WINDOW_SECS <= ioloop_time) {
			hash_table_remove(guard->counters, key);
			i_free(key);
			i_free(counter);
		}
	}
	hash_table_iterate_deinit(&iter);
	iter = hash_table_iterate_init(guard->failures);
	while (hash_table_iterate(iter, guard->failures, &key, &value)) {
		if ((time_t)POINTER_CAST_TO(value, uintptr_t) <= ioloop_time) {
			hash_table_remove(guard->failures, key);
			i_free(key);
		}
	}
	hash_table_iterate_deinit(&iter);
}

void login_guard_fingerprint(struct login_guard *guard, const char *account,
			     const char *password,
			     unsigned char fp_r[LOGIN_GUARD_FINGERPRINT_SIZE])
{
	struct hmac_context ctx;

	hmac_init(&ctx, guard->key, sizeof(guard->key), &hash_method_sha256);
	hmac_update(&ctx, account, strlen(account) + 1);
	hmac_update(&ctx, password, strlen(password));
	hmac_final(&ctx, fp_r);
}

static const char *fingerprint_key(const unsigned char *fp)
{
	return binary_to_hex(fp, LOGIN_GUARD_FINGERPRINT_SIZE);
}

bool login_guard_failed_recently(struct login_guard *guard,
				 const unsigned char fp[LOGIN_GUARD_FINGERPRINT_SIZE])
{
	void *value;

	value = hash_table_lookup(guard->failures, fingerprint_key(fp));
	return value != NULL &&
		(time_t)POINTER_CAST_TO(value, uintptr_t) > ioloop_time;
}

void login_guard_remember_failure(struct login_guard *guard,
				  const unsigned char fp[LOGIN_GUARD_FINGERPRINT_SIZE])
{
	const char *key = fingerprint_key(fp);
	char *orig_key;
	void *value, *expiry;

	login_guard_sweep(guard);
	expiry = POINTER_CAST((uintptr_t)(ioloop_time + guard->failure_secs));
	if (hash_table_lookup_full(guard->failures, key, &orig_key, &value))
		hash_table_update(guard->failures, orig_key, expiry);
	else
		hash_table_insert(guard->failures, i_strdup(key), expiry);
}

static struct guard_counter *
login_guard_counter(struct login_guard *guard, const char *key)
{
	struct guard_counter *counter;

	counter = hash_table_lookup(guard->counters, key);
	if (counter == NULL) {
		counter = i_new(struct guard_counter, 1);
		hash_table_insert(guard->counters, i_strdup(key), counter);
	}
	if (counter->window_start + LOGIN_GUARD_WINDOW_SECS <= ioloop_time) {
		counter->window_start = ioloop_time;
		counter->count = 0;
	}
	return counter;
}

bool login_guard_allow_check(struct login_guard *guard, const char *account,
			     const struct ip_addr *ip, const char **limit_r)
{
	struct guard_counter *by_account, *by_ip = NULL;

	login_guard_sweep(guard);
	by_account = login_guard_counter(guard, t_strconcat("a:", account, NULL));
	if (by_account->count >= guard->per_account) {
		*limit_r = "account";
		return FALSE;
	}
	if (ip->family != 0) {
		by_ip = login_guard_counter(guard,
			t_strconcat("i:", net_ip2addr(ip), NULL));
		if (by_ip->count >= guard->per_ip) {
			*limit_r = "client IP";
			return FALSE;
		}
		by_ip->count++;
	}
	by_account->count++;
	return TRUE;
}
