#ifndef MIGRATE_PASSWORD_POLICY_H
#define MIGRATE_PASSWORD_POLICY_H

/* The password policy account lists are checked against (migrate.conf
   "password_policy"): a minimum length and the character classes a
   password must hold. The default is the hosting guide's: at least 8
   characters with a lower-case letter, an upper-case letter, a digit and
   a special character. migrate.conf's parser reads it ("none", or words
   min=N (1-511), lower, upper, digit, special); the check is in the
   secrets library, which the routing daemon does not link. */

#include <stdbool.h>
#include <stddef.h>

#define MIGRATE_PASSWORD_POLICY_DEFAULT "min=8 lower upper digit special"

struct migrate_password_policy {
	unsigned int min_length;	/* in characters (UTF-8 sequences) */
	bool lower, upper, digit, special;
};

/* 0 when password satisfies the policy; -1 and what it lacks in error
   (never the password itself). Non-ASCII letters count as neither case:
   only "special" is about characters outside A-Z, a-z and 0-9. */
int migrate_password_policy_check(const struct migrate_password_policy *policy,
				  const char *password,
				  char *error, size_t error_size);

#endif
