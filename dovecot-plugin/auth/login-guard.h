#ifndef LOGIN_GUARD_H
#define LOGIN_GUARD_H

/* What keeps the new server from becoming a password-guessing amplifier
   for the legacy one: legacy checks counted per account and per client IP
   over a minute, and failed (account, password) pairs remembered for
   legacy_failure_cache_secs. Passwords are only ever held as keyed
   fingerprints whose key lives in this process's memory. */

#include "net.h"
#include "migrate-config.h"

#define LOGIN_GUARD_FINGERPRINT_SIZE 32

struct login_guard;

struct login_guard *login_guard_init(const struct migrate_config *config);
void login_guard_deinit(struct login_guard **guard);

void login_guard_fingerprint(struct login_guard *guard, const char *account,
			     const char *password,
			     unsigned char fp_r[LOGIN_GUARD_FINGERPRINT_SIZE]);

/* A legacy check of this pair failed with a wrong password recently. */
bool login_guard_failed_recently(struct login_guard *guard,
				 const unsigned char fp[LOGIN_GUARD_FINGERPRINT_SIZE]);
void login_guard_remember_failure(struct login_guard *guard,
				  const unsigned char fp[LOGIN_GUARD_FINGERPRINT_SIZE]);

/* Counts one legacy check for the account and the client IP (ip may be
   unset: family 0). FALSE, counting nothing, when either is at its limit;
   limit_r then names which ("account" or "client IP"). */
bool login_guard_allow_check(struct login_guard *guard, const char *account,
			     const struct ip_addr *ip, const char **limit_r);

#endif
