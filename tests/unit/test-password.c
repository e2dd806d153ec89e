/* Unit tests for common/migrate-password.c */

#include "lib.h"
#include "test-common.h"

#include "migrate-password.h"

#define PASSWORD "correct horse battery staple"

/* Published test vectors: Drepper's SHA-crypt specification and
   crypt_blowfish's test suite. */
#define SHA512_RAW "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/" \
	"O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
#define SHA512_VECTOR "{SHA512-CRYPT}" SHA512_RAW
#define SHA512_ROUNDS_VECTOR "{SHA512-CRYPT}$6$rounds=10000$saltstringsaltst$" \
	"OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/" \
	"YTBmSK6H9qs/y3RnOaw5v."
#define SHA256_RAW "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"
#define SHA256_VECTOR "{SHA256-CRYPT}" SHA256_RAW
#define BLF_RAW "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
#define BLF_VECTOR "{BLF-CRYPT}" BLF_RAW

static char error[256];

static bool str_begins_with(const char *str, const char *prefix)
{
	return strncmp(str, prefix, strlen(prefix)) == 0;
}

static void test_password_hash_verify(void)
{
	char hash1[MIGRATE_PASSWORD_HASH_MAX], hash2[MIGRATE_PASSWORD_HASH_MAX];

	test_begin("password: hash, verify, salt, {SCHEME} form");
	test_assert(migrate_password_hash(PASSWORD, hash1, sizeof(hash1),
					  error, sizeof(error)) == 0);
	/* yescrypt where libxcrypt has it (Debian 12 does), else SHA512-CRYPT */
	test_assert(str_begins_with(hash1, "{CRYPT}$y$") ||
		    str_begins_with(hash1, "{SHA512-CRYPT}$6$"));
	test_assert(strstr(hash1, PASSWORD) == NULL);
	test_assert(migrate_password_verify(PASSWORD, hash1) == 1);
	test_assert(migrate_password_verify("correct horse battery stapler", hash1) == 0);
	test_assert(migrate_password_verify("Correct horse battery staple", hash1) == 0);
	test_assert(migrate_password_verify("x", hash1) == 0);

	/* a fresh salt every time */
	test_assert(migrate_password_hash(PASSWORD, hash2, sizeof(hash2),
					  error, sizeof(error)) == 0);
	test_assert(strcmp(hash1, hash2) != 0);
	test_assert(migrate_password_verify(PASSWORD, hash2) == 1);

	/* UTF-8 and the longest password libxcrypt takes */
	test_assert(migrate_password_hash("p\xc3\xa4ssw\xc3\xb6rd", hash1, sizeof(hash1),
					  error, sizeof(error)) == 0);
	test_assert(migrate_password_verify("p\xc3\xa4ssw\xc3\xb6rd", hash1) == 1);
	test_assert(migrate_password_verify("passwrd", hash1) == 0);
	{
		char long_pw[MIGRATE_PASSWORD_MAX_LEN + 2];

		memset(long_pw, 'p', sizeof(long_pw));
		long_pw[MIGRATE_PASSWORD_MAX_LEN] = '\0';
		test_assert(migrate_password_hash(long_pw, hash1, sizeof(hash1),
						  error, sizeof(error)) == 0);
		test_assert(migrate_password_verify(long_pw, hash1) == 1);
		long_pw[MIGRATE_PASSWORD_MAX_LEN] = 'p';
		long_pw[MIGRATE_PASSWORD_MAX_LEN + 1] = '\0';
		test_assert(migrate_password_hash(long_pw, hash2, sizeof(hash2),
						  error, sizeof(error)) < 0);
		test_assert_strcmp(error, "password is longer than 511 bytes");
		test_assert(migrate_password_verify(long_pw, hash1) == 0);
	}
	test_end();
}

static void test_password_empty(void)
{
	char hash[MIGRATE_PASSWORD_HASH_MAX];

	/* an empty password is never captured, so never hashed: a legacy
	   server that lets one in must not make it a local password */
	test_begin("password: empty passwords are refused and never match");
	hash[0] = 'x';
	test_assert(migrate_password_hash("", hash, sizeof(hash), error, sizeof(error)) < 0);
	test_assert_strcmp(error, "refusing to hash an empty password");
	test_assert(hash[0] == '\0');
	test_assert(migrate_password_hash(NULL, hash, sizeof(hash), error, sizeof(error)) < 0);

	test_assert(migrate_password_hash(PASSWORD, hash, sizeof(hash),
					  error, sizeof(error)) == 0);
	test_assert(migrate_password_verify("", hash) == 0);
	test_assert(migrate_password_verify("", SHA512_VECTOR) == 0);
	test_end();
}

static void test_password_small_buffer(void)
{
	char hash[20];

	test_begin("password: output buffer too small");
	test_assert(migrate_password_hash(PASSWORD, hash, sizeof(hash),
					  error, sizeof(error)) < 0);
	test_assert(strstr(error, "output buffer of 20 bytes is too small") != NULL);
	test_assert(strstr(error, PASSWORD) == NULL);
	test_assert(hash[0] == '\0');
	test_end();
}

static void test_password_vectors(void)
{
	test_begin("password: known crypt(3) vectors under their schemes");
	test_assert(migrate_password_verify("Hello world!", SHA512_VECTOR) == 1);
	test_assert(migrate_password_verify("Hello world?", SHA512_VECTOR) == 0);
	test_assert(migrate_password_verify("Hello world!", SHA512_ROUNDS_VECTOR) == 1);
	test_assert(migrate_password_verify("Hello world!", SHA256_VECTOR) == 1);
	test_assert(migrate_password_verify("U*U", BLF_VECTOR) == 1);
	test_assert(migrate_password_verify("U*V", BLF_VECTOR) == 0);
	/* CRYPT takes any method; scheme names are case-insensitive */
	test_assert(migrate_password_verify("Hello world!", "{CRYPT}" SHA512_RAW) == 1);
	test_assert(migrate_password_verify("Hello world!", "{sha512-crypt}" SHA512_RAW) == 1);
	test_assert(migrate_password_verify("Hello world!", "{CRYPT}" SHA256_RAW) == 1);
	test_assert(migrate_password_verify("U*U", "{CRYPT}" BLF_RAW) == 1);
	test_end();
}

static void test_password_malformed(void)
{
	static const char *const bad[] = {
		"",
		SHA512_RAW,
		"{SHA512-CRYPT",
		"{}$6$saltstring$x",
		"{PLAIN}Hello world!",
		"{SSHA512}abcd",
		"{CRYPT}",
		"{SHA512-CRYPT}",
		"{CRYPT}*",
		"{CRYPT}*0",
		"{CRYPT}!" SHA512_RAW,
		/* a scheme naming another method than its string */
		"{SHA512-CRYPT}" SHA256_RAW,
		"{BLF-CRYPT}" SHA512_RAW,
		/* truncated, trailing garbage, not a crypt string at all */
		"{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"
			"O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz",
		SHA512_VECTOR "x",
		"{CRYPT}garbage",
		"{CRYPT}$y$",
		"{CRYPT}$2b$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"{CRYPT}$unknown$abc$def",
	};
	char huge[1024];
	unsigned int i;

	test_begin("password: malformed or unsupported stored values give -1");
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		test_assert_idx(migrate_password_verify("Hello world!", bad[i]) == -1, i);
		test_assert_idx(migrate_password_verify("x", bad[i]) == -1, i);
	}
	test_assert(migrate_password_verify("Hello world!", NULL) == -1);
	test_assert(migrate_password_verify(NULL, SHA512_VECTOR) == -1);

	memset(huge, 'a', sizeof(huge));
	memcpy(huge, "{CRYPT}$6$", 10);
	huge[sizeof(huge) - 1] = '\0';
	test_assert(migrate_password_verify("Hello world!", huge) == -1);
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_password_hash_verify,
		test_password_empty,
		test_password_small_buffer,
		test_password_vectors,
		test_password_malformed,
		NULL
	};
	return test_run(tests);
}
