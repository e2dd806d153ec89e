/* Password policy for account lists (see migrate-password-policy.h). */

#include "migrate-password-policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_MAX_LENGTH 511

static int policy_word(const char *word, size_t len,
		       struct migrate_password_policy *policy,
		       char *error, size_t error_size)
{
	if (len == 5 && memcmp(word, "lower", 5) == 0)
		policy->lower = true;
	else if (len == 5 && memcmp(word, "upper", 5) == 0)
		policy->upper = true;
	else if (len == 5 && memcmp(word, "digit", 5) == 0)
		policy->digit = true;
	else if (len == 7 && memcmp(word, "special", 7) == 0)
		policy->special = true;
	else if (len > 4 && len < 8 && memcmp(word, "min=", 4) == 0) {
		unsigned int n = 0;
		size_t i;

		for (i = 4; i < len; i++) {
			if (word[i] < '0' || word[i] > '9')
				break;
			n = n * 10 + (unsigned int)(word[i] - '0');
		}
		if (i < len || n == 0 || n > POLICY_MAX_LENGTH) {
			snprintf(error, error_size, "'%.*s': min= takes a length "
				 "1-%d", (int)len, word, POLICY_MAX_LENGTH);
			return -1;
		}
		policy->min_length = n;
	} else {
		snprintf(error, error_size, "unknown word '%.*s' (expected none, "
			 "min=N, lower, upper, digit, special)",
			 (int)(len > 64 ? 64 : len), word);
		return -1;
	}
	return 0;
}

int migrate_password_policy_parse(const char *text,
				  struct migrate_password_policy *policy_r,
				  char *error, size_t error_size)
{
	const char *p = text;

	memset(policy_r, 0, sizeof(*policy_r));
	if (strcmp(text, "none") == 0)
		return 0;
	while (*p != '\0') {
		size_t len;

		p += strspn(p, " \t");
		len = strcspn(p, " \t");
		if (len > 0 && policy_word(p, len, policy_r, error, error_size) < 0)
			return -1;
		p += len;
	}
	if (policy_r->min_length == 0 && !policy_r->lower && !policy_r->upper &&
	    !policy_r->digit && !policy_r->special) {
		snprintf(error, error_size, "empty policy (write \"none\" for no policy)");
		return -1;
	}
	return 0;
}

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
