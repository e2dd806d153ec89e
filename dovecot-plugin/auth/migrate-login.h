#ifndef MIGRATE_LOGIN_H
#define MIGRATE_LOGIN_H

/* One login handled by the migrate passdb, and how it is answered: the
   result, the log line, and for a good password the answer its account's
   state and the mode give (proxy fields, a refusal with a message, or a
   local login). Shared by passdb-migrate.c (known accounts) and
   legacy-capture.c (checks on the legacy server). */

#include "array.h"
#include "passdb.h"
#include "migrate-auth.h"

struct migrate_passdb_module {
	struct passdb_module module;
	struct migrate_auth *auth;
	/* fingerprint (hex) -> capture in flight */
	HASH_TABLE(char *, struct legacy_capture *) captures;
	/* counts recorded captures: a login whose store lookup is older than
	   the last one looks again before asking the legacy server */
	unsigned int record_generation;
};

struct migrate_login {
	struct migrate_passdb_module *module;
	struct auth_request *request;
	verify_plain_callback_t *callback;
	const struct migrate_domain *domain;
	struct migrate_address addr;
	/* the user name as the client gave it (legacy_user's %u) */
	char *typed_user;
	char *password;
	enum migrate_protocol protocol;
	struct timeval started;
	/* what a legacy check did on the way, for the log (static string) */
	const char *note;
	/* the level of the line a temporary failure is logged at: warning
	   (the legacy server), error (our store) */
	enum log_type fail_level;
	unsigned int lookup_generation;
	bool looked_again;

	/* STORE lane results */
	int store_ret;
	char error[256];
	struct migrate_account account;
	char password_hash[MIGRATE_SECRET_HASH_MAX + 1];
	/* CRYPT lane result: 1 match, 0 mismatch, -1 unusable hash or a
	   hash that could not be computed (verify_errno) */
	int verify_ret, verify_errno;
	/* the password was accepted by the legacy server, not the stored
	   hash */
	bool legacy_verified;
	/* the answer: the account re-read after the password check, the
	   legacy server's address and whether a proxy grant was written */
	struct migrate_account fresh;
	struct ip_addr proxy_ip;
	bool granted;
};

/* One legacy check and the recording of its result, shared by every
   login of the same account with the same password meanwhile. The logins
   are answered as soon as the legacy server has spoken; hashing and
   recording go on in the background, with the capture's own copies. */

ARRAY_DEFINE_TYPE(migrate_login, struct migrate_login *);

/* Answers with a failure result, logs it, frees the login. */
void migrate_login_fail(struct migrate_login *login, enum passdb_result result,
			const char *decision, const char *reason);
/* Answers a temporary failure for the store error in login->error. */
void migrate_login_fail_store(struct migrate_login *login);
/* STORE lane: the store for a job of the login; NULL (store_ret -1, the
   reason in error) when it cannot be opened. */
struct migrate_store *migrate_login_store(struct migrate_login *login);
/* The password is right: answers what login->account.state and the mode
   give, and frees the login. */
void migrate_login_answer(struct migrate_login *login);
/* Answering this login needs its account recorded first (a local
   session's userdb lookup). */
bool migrate_login_needs_account(const struct migrate_login *login);
in_port_t migrate_login_legacy_port(const struct migrate_login *login);
/* The legacy login name: %u as typed, %n local part, %d domain. */
const char *migrate_login_legacy_user(const struct migrate_login *login);
/* (Again) looks the account up in the store and goes on from there
   (passdb-migrate.c). */
void migrate_login_start_lookup(struct migrate_login *login);

#endif
