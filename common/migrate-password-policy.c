/* Checking passwords of account lists against the policy (see
   migrate-password-policy.h). In the secrets library: the routing daemon
   never holds code that looks at a password. */

#include "migrate-password-policy.h"

#include <stdio.h>
#include <string.h>

static unsigned int utf8_length(const char *s)
{
	unsigned int n = 0;

	for (; *s != '\0'; s++) {
		/* continuation bytes do not start a character */
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	}
	return n;
}

int migrate_password_policy_check(const struct migrate_password_policy *policy,
				  const char *password,
				  char *error, size_t error_size)
{
	bool lower = false, upper = false, digit = false, special = false;
	char lacks[128] = "";
	const char *p;

	for (p = password; *p != '\0'; p++) {
		if (*p >= 'a' && *p <= 'z')
			lower = true;
		else if (*p >= 'A' && *p <= 'Z')
			upper = true;
		else if (*p >= '0' && *p <= '9')
			digit = true;
		else
			special = true;
	}
	if (utf8_length(password) < policy->min_length) {
		snprintf(lacks, sizeof(lacks), ", fewer than %u characters",
			 policy->min_length);
	}
	if (policy->lower && !lower)
		strcat(lacks, ", no lower-case letter");
	if (policy->upper && !upper)
		strcat(lacks, ", no upper-case letter");
	if (policy->digit && !digit)
		strcat(lacks, ", no digit");
	if (policy->special && !special)
		strcat(lacks, ", no special character");
	if (lacks[0] == '\0')
		return 0;
	snprintf(error, error_size, "password does not meet the policy (%s)",
		 lacks + 2);
	return -1;
}
