/* Local password hashes (see migrate-password.h) on libxcrypt's
   reentrant API. Plain C, no Dovecot dependency. The crypt_data work
   area holds password-derived state, so it is wiped after every use. */

#include "migrate-password.h"

#include <crypt.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

/* gensalt() lets libxcrypt draw the salt from the system's entropy */
#ifndef CRYPT_GENSALT_IMPLEMENTS_AUTO_ENTROPY
#  error "libxcrypt with automatic salt entropy (4.0 or later) is needed"
#endif

struct hash_method {
	const char *prefix;	/* crypt(3) method prefix */
	const char *scheme;	/* Dovecot scheme that verifies it */
};

/* In order of preference. yescrypt is stored as {CRYPT}: Dovecot 2.3 has
   no scheme of its own for it, but CRYPT hands the string to crypt(). */
static const struct hash_method hash_methods[] = {
	{ "$y$", "CRYPT" },
	{ "$6$", "SHA512-CRYPT" },
};

struct verify_scheme {
	const char *name;
	const char *prefix;	/* the crypt string must start with it; NULL: any */
};

static const struct verify_scheme verify_schemes[] = {
	{ "CRYPT", NULL },
	{ "SHA512-CRYPT", "$6$" },
	{ "SHA256-CRYPT", "$5$" },
	{ "BLF-CRYPT", "$2" },
	{ "MD5-CRYPT", "$1$" },
};

#define N_ELEMENTS(arr) (sizeof(arr) / sizeof((arr)[0]))

/* 32 KB: on the heap, not on the stack of Dovecot's auth process. */
static struct crypt_data *crypt_data_new(void)
{
	struct crypt_data *data = calloc(1, sizeof(*data));

	if (data == NULL)
		abort();
	return data;
}

static void crypt_data_free(struct crypt_data **_data)
{
	OPENSSL_cleanse(*_data, sizeof(**_data));
	free(*_data);
	*_data = NULL;
}

/* A fresh setting (method, cost, salt from the system's entropy) for the
   first method this libxcrypt offers. */
static const struct hash_method *
gensalt(char *setting, int setting_size, char *error, size_t error_size)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(hash_methods); i++) {
		/* count 0 = the method's default cost (yescrypt 5,
		   SHA512-CRYPT 5000 rounds) */
		if (crypt_gensalt_rn(hash_methods[i].prefix, 0, NULL, 0,
				     setting, setting_size) != NULL &&
		    setting[0] != '*')
			return &hash_methods[i];
	}
	snprintf(error, error_size,
		 "crypt_gensalt_rn() failed for yescrypt and SHA512-CRYPT: %s",
		 strerror(errno));
	return NULL;
}

int migrate_password_hash(const char *password, char *out, size_t out_size,
			  char *error, size_t error_size)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	const struct hash_method *method;
	struct crypt_data *data;
	const char *hash;
	int n, ret = 0;

	if (out_size > 0)
		out[0] = '\0';
	if (password == NULL || password[0] == '\0') {
		snprintf(error, error_size, "refusing to hash an empty password");
		return -1;
	}
	if (strlen(password) > MIGRATE_PASSWORD_MAX_LEN) {
		snprintf(error, error_size, "password is longer than %d bytes",
			 MIGRATE_PASSWORD_MAX_LEN);
		return -1;
	}
	if ((method = gensalt(setting, sizeof(setting), error, error_size)) == NULL)
		return -1;

	data = crypt_data_new();
	hash = crypt_rn(password, setting, data, sizeof(*data));
	if (hash == NULL || hash[0] == '*') {
		snprintf(error, error_size, "crypt_rn() failed for method %s: %s",
			 method->prefix, strerror(errno));
		ret = -1;
	} else {
		n = snprintf(out, out_size, "{%s}%s", method->scheme, hash);
		if (n < 0 || (size_t)n >= out_size) {
			snprintf(error, error_size,
				 "output buffer of %zu bytes is too small for a %s hash "
				 "(%d bytes needed)", out_size, method->scheme, n + 1);
			OPENSSL_cleanse(out, out_size);
			if (out_size > 0)
				out[0] = '\0';
			ret = -1;
		}
	}
	crypt_data_free(&data);
	return ret;
}

/* The crypt string after a known "{SCHEME}", or NULL. */
static const char *stored_crypt_string(const char *stored)
{
	const char *end;
	unsigned int i;
	size_t len;

	if (stored[0] != '{' || (end = strchr(stored, '}')) == NULL)
		return NULL;
	len = (size_t)(end - stored - 1);
	for (i = 0; i < N_ELEMENTS(verify_schemes); i++) {
		const struct verify_scheme *scheme = &verify_schemes[i];

		if (strlen(scheme->name) == len &&
		    strncasecmp(stored + 1, scheme->name, len) == 0) {
			if (scheme->prefix != NULL &&
			    strncmp(end + 1, scheme->prefix, strlen(scheme->prefix)) != 0)
				return NULL;
			return end + 1;
		}
	}
	return NULL;
}

/* Compares two NUL-terminated strings of at most CRYPT_OUTPUT_SIZE-1 bytes
   over fixed-size zero-padded copies: no early exit at the first
   difference or at the end of the shorter one. */
static bool crypt_strings_equal(const char *computed, const char *stored)
{
	char a[CRYPT_OUTPUT_SIZE], b[CRYPT_OUTPUT_SIZE];
	int diff;

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memcpy(a, computed, strlen(computed));
	memcpy(b, stored, strlen(stored));
	diff = CRYPTO_memcmp(a, b, sizeof(a));
	OPENSSL_cleanse(a, sizeof(a));
	return diff == 0;
}

int migrate_password_verify(const char *password, const char *stored)
{
	struct crypt_data *data;
	const char *crypted, *computed;
	size_t stored_len;
	int ret;

	if (password == NULL || stored == NULL)
		return -1;
	if ((crypted = stored_crypt_string(stored)) == NULL)
		return -1;
	stored_len = strlen(crypted);
	if (stored_len == 0 || stored_len >= CRYPT_OUTPUT_SIZE ||
	    crypted[0] == '*' || crypted[0] == '!')
		return -1;
	/* no hash of an empty password is ever stored (see
	   migrate_password_hash), and libxcrypt cannot hash a longer one */
	if (password[0] == '\0' || strlen(password) > MIGRATE_PASSWORD_MAX_LEN)
		return 0;

	data = crypt_data_new();
	computed = crypt_rn(password, crypted, data, sizeof(*data));
	if (computed == NULL || computed[0] == '*')
		ret = -1;
	else if (!crypt_strings_equal(computed, crypted))
		ret = 0;
	else
		ret = 1;
	/* crypt's output length depends only on the setting, never on the
	   password: a different length means the stored value is damaged,
	   and saying so leaks nothing about the password */
	if (ret == 0 && strlen(computed) != stored_len)
		ret = -1;
	crypt_data_free(&data);
	return ret;
}
