/* The vault's plaintext for an account, see migrate-credential.h. */

#include "migrate-credential.h"

#include <stdio.h>
#include <string.h>

static int part_check(const char *what, const char *value,
		      char *error, size_t error_size)
{
	size_t len = strlen(value);

	if (len == 0 || len > MIGRATE_CREDENTIAL_PART_MAX) {
		snprintf(error, error_size, "credential %s: length %zu not in 1..%d",
			 what, len, MIGRATE_CREDENTIAL_PART_MAX);
		return -1;
	}
	return 0;
}

int migrate_credential_encode(const char *user, const char *password,
			      unsigned char *out, size_t out_size,
			      char *error, size_t error_size)
{
	size_t ulen = strlen(user), plen = strlen(password);

	if (part_check("user", user, error, error_size) < 0 ||
	    part_check("password", password, error, error_size) < 0)
		return -1;
	if (ulen + 1 + plen > out_size) {
		snprintf(error, error_size, "credential: no room");
		return -1;
	}
	memcpy(out, user, ulen);
	out[ulen] = '\0';
	memcpy(out + ulen + 1, password, plen);
	return (int)(ulen + 1 + plen);
}

int migrate_credential_decode(const unsigned char *data, size_t len,
			      char *user_r, char *password_r,
			      char *error, size_t error_size)
{
	const unsigned char *nul = memchr(data, '\0', len);
	size_t ulen, plen;

	user_r[0] = password_r[0] = '\0';
	if (nul == NULL) {
		snprintf(error, error_size, "credential: no user name");
		return -1;
	}
	ulen = (size_t)(nul - data);
	plen = len - ulen - 1;
	if (ulen == 0 || ulen > MIGRATE_CREDENTIAL_PART_MAX ||
	    plen == 0 || plen > MIGRATE_CREDENTIAL_PART_MAX ||
	    memchr(nul + 1, '\0', plen) != NULL) {
		snprintf(error, error_size, "credential: malformed");
		return -1;
	}
	memcpy(user_r, data, ulen);
	user_r[ulen] = '\0';
	memcpy(password_r, nul + 1, plen);
	password_r[plen] = '\0';
	return 0;
}
