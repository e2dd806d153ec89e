/* Unit tests for common/migrate-vault.c */

#include "lib.h"
#include "test-common.h"

#include "migrate-vault.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define ACCOUNT "alice@example.com"
#define SECRET "legacy-Passw0rd"

static char tmpdir[] = "/tmp/test-vault.XXXXXX";
static char error[512];

static const char *tmp_path(const char *name)
{
	return t_strdup_printf("%s/%s", tmpdir, name);
}

/* A key file written by hand, as `head -c 32 /dev/urandom` would. */
static const char *write_key(const char *name, unsigned char fill,
			     size_t size, mode_t mode)
{
	const char *path = tmp_path(name);
	unsigned char key[MIGRATE_VAULT_KEY_SIZE * 2];
	int fd;

	i_assert(size <= sizeof(key));
	memset(key, fill, sizeof(key));
	i_unlink_if_exists(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	test_assert(fd >= 0);
	test_assert(write(fd, key, size) == (ssize_t)size);
	test_assert(fchmod(fd, mode) == 0);
	i_close_fd(&fd);
	return path;
}

static struct migrate_vault *open_ok(const char *path, const char *const *old)
{
	struct migrate_vault *vault = NULL;

	if (migrate_vault_open(path, old, &vault, error, sizeof(error)) < 0)
		i_error("unexpected vault error: %s", error);
	test_assert(vault != NULL);
	return vault;
}

static size_t encrypt_ok(struct migrate_vault *vault, const char *aad,
			 const char *plaintext, unsigned char *out, size_t out_size)
{
	size_t out_len = 0;

	test_assert(migrate_vault_encrypt(vault, aad, plaintext, strlen(plaintext),
					  out, out_size, &out_len,
					  error, sizeof(error)) == 0);
	test_assert(out_len == strlen(plaintext) + MIGRATE_VAULT_OVERHEAD);
	return out_len;
}

static int decrypt(struct migrate_vault *vault, const char *aad,
		   const unsigned char *in, size_t len,
		   unsigned char *out, size_t out_size, size_t *out_len_r)
{
	error[0] = '\0';
	return migrate_vault_decrypt(vault, aad, in, len, out, out_size,
				     out_len_r, error, sizeof(error));
}

static bool all_zero(const unsigned char *buf, size_t size)
{
	size_t i;

	for (i = 0; i < size; i++) {
		if (buf[i] != 0)
			return FALSE;
	}
	return TRUE;
}

static bool contains(const unsigned char *buf, size_t size, const char *str)
{
	size_t i, len = strlen(str);

	for (i = 0; i + len <= size; i++) {
		if (memcmp(buf + i, str, len) == 0)
			return TRUE;
	}
	return FALSE;
}

static void test_vault_keygen(void)
{
	const char *path = tmp_path("keygen.key");
	const char *link_path = tmp_path("keygen-link.key");
	struct stat st;

	test_begin("vault: keygen writes a 0600 32-byte file, never overwrites");
	test_assert(migrate_vault_keygen(path, error, sizeof(error)) == 0);
	test_assert(stat(path, &st) == 0);
	test_assert(S_ISREG(st.st_mode));
	test_assert((st.st_mode & 07777) == 0600);
	test_assert(st.st_size == MIGRATE_VAULT_KEY_SIZE);

	test_assert(migrate_vault_keygen(path, error, sizeof(error)) < 0);
	test_assert_strcmp(error, t_strdup_printf(
		"vault key %s already exists: refusing to overwrite it "
		"(credentials encrypted with it could no longer be read)", path));
	test_assert(stat(path, &st) == 0 && st.st_size == MIGRATE_VAULT_KEY_SIZE);

	/* not even through a dangling symlink */
	test_assert(symlink(tmp_path("nowhere"), link_path) == 0);
	test_assert(migrate_vault_keygen(link_path, error, sizeof(error)) < 0);
	test_assert(access(tmp_path("nowhere"), F_OK) < 0);

	test_assert(migrate_vault_keygen(tmp_path("no/such/dir.key"),
					 error, sizeof(error)) < 0);
	test_assert_strcmp(error, t_strdup_printf(
		"open(%s) failed: No such file or directory",
		tmp_path("no/such/dir.key")));
	test_end();
}

static void test_vault_open_errors(void)
{
	struct migrate_vault *vault = NULL;
	const char *path;

	test_begin("vault: open refuses unsafe or malformed key files");
	path = write_key("group.key", 0x11, MIGRATE_VAULT_KEY_SIZE, 0640);
	test_assert(migrate_vault_open(path, NULL, &vault, error, sizeof(error)) < 0);
	test_assert(vault == NULL);
	test_assert_strcmp(error, t_strdup_printf(
		"vault key %s has mode 0640: group or others can access it "
		"(fix with: chmod 0600 %s)", path, path));

	path = write_key("world.key", 0x11, MIGRATE_VAULT_KEY_SIZE, 0644);
	test_assert(migrate_vault_open(path, NULL, &vault, error, sizeof(error)) < 0);
	test_assert_strcmp(error, t_strdup_printf(
		"vault key %s has mode 0644: group or others can access it "
		"(fix with: chmod 0600 %s)", path, path));

	path = write_key("short.key", 0x11, MIGRATE_VAULT_KEY_SIZE - 1, 0600);
	test_assert(migrate_vault_open(path, NULL, &vault, error, sizeof(error)) < 0);
	test_assert_strcmp(error, t_strdup_printf(
		"vault key %s has 31 bytes, expected 32 "
		"(make one with: head -c 32 /dev/urandom)", path));
	path = write_key("long.key", 0x11, MIGRATE_VAULT_KEY_SIZE + 1, 0600);
	test_assert(migrate_vault_open(path, NULL, &vault, error, sizeof(error)) < 0);
	test_assert_strcmp(error, t_strdup_printf(
		"vault key %s has 33 bytes, expected 32 "
		"(make one with: head -c 32 /dev/urandom)", path));

	test_assert(migrate_vault_open(tmpdir, NULL, &vault, error, sizeof(error)) < 0);
	test_assert_strcmp(error, t_strdup_printf(
		"vault key %s is not a regular file", tmpdir));

	path = tmp_path("missing.key");
	test_assert(migrate_vault_open(path, NULL, &vault, error, sizeof(error)) < 0);
	test_assert_strcmp(error, t_strdup_printf(
		"open(%s) failed: No such file or directory", path));

	/* a bad old key fails the whole open: rotation must not lose one */
	{
		const char *good = write_key("good.key", 0x22, MIGRATE_VAULT_KEY_SIZE, 0600);
		const char *old[] = { tmp_path("world.key"), NULL };

		test_assert(migrate_vault_open(good, old, &vault, error, sizeof(error)) < 0);
		test_assert(vault == NULL);
		test_assert(strstr(error, "world.key has mode 0644") != NULL);
	}
	test_end();
}

static void test_vault_round_trip(void)
{
	const char *path = tmp_path("round.key");
	unsigned char ct[MIGRATE_VAULT_MAX_CIPHERTEXT], ct2[MIGRATE_VAULT_MAX_CIPHERTEXT];
	unsigned char pt[MIGRATE_VAULT_MAX_PLAINTEXT];
	struct migrate_vault *vault, *vault2;
	size_t ct_len, ct2_len, pt_len;
	const char *hex;
	unsigned int i;

	test_begin("vault: round trip, fresh nonce per encryption, key id");
	test_assert(migrate_vault_keygen(path, error, sizeof(error)) == 0);
	vault = open_ok(path, NULL);
	if (vault == NULL) {
		test_end();
		return;
	}
	ct_len = encrypt_ok(vault, ACCOUNT, SECRET, ct, sizeof(ct));
	test_assert(ct[0] == MIGRATE_VAULT_VERSION);
	test_assert(!contains(ct, ct_len, SECRET));
	test_assert(decrypt(vault, ACCOUNT, ct, ct_len, pt, sizeof(pt), &pt_len) == 0);
	test_assert_memcmp(pt, pt_len, SECRET, strlen(SECRET));

	/* same plaintext, same account: different nonce, different bytes */
	ct2_len = encrypt_ok(vault, ACCOUNT, SECRET, ct2, sizeof(ct2));
	test_assert(ct2_len == ct_len);
	test_assert(memcmp(ct + 1 + MIGRATE_VAULT_KEY_ID_SIZE,
			   ct2 + 1 + MIGRATE_VAULT_KEY_ID_SIZE,
			   MIGRATE_VAULT_NONCE_SIZE) != 0);
	test_assert(memcmp(ct + MIGRATE_VAULT_HEADER_SIZE,
			   ct2 + MIGRATE_VAULT_HEADER_SIZE,
			   ct_len - MIGRATE_VAULT_HEADER_SIZE) != 0);

	/* the key id names the key: 16 hex digits, stable across opens */
	hex = migrate_vault_key_id_hex(vault);
	test_assert(strlen(hex) == MIGRATE_VAULT_KEY_ID_SIZE * 2);
	test_assert(strspn(hex, "0123456789abcdef") == strlen(hex));
	vault2 = open_ok(path, NULL);
	test_assert(vault2 != NULL && strcmp(hex, migrate_vault_key_id_hex(vault2)) == 0);
	for (i = 0; i < MIGRATE_VAULT_KEY_ID_SIZE; i++)
		test_assert(strtoul(t_strndup(hex + i * 2, 2), NULL, 16) == ct[1 + i]);
	migrate_vault_close(&vault2);

	/* empty and maximum-size plaintexts */
	test_assert(migrate_vault_encrypt(vault, ACCOUNT, "", 0, ct, sizeof(ct),
					  &ct_len, error, sizeof(error)) == 0);
	test_assert(ct_len == MIGRATE_VAULT_OVERHEAD);
	test_assert(decrypt(vault, ACCOUNT, ct, ct_len, pt, sizeof(pt), &pt_len) == 0 &&
		    pt_len == 0);
	memset(pt, 'x', sizeof(pt));
	test_assert(migrate_vault_encrypt(vault, ACCOUNT, pt, sizeof(pt), ct, sizeof(ct),
					  &ct_len, error, sizeof(error)) == 0);
	memset(pt, 0, sizeof(pt));
	test_assert(decrypt(vault, ACCOUNT, ct, ct_len, pt, sizeof(pt), &pt_len) == 0 &&
		    pt_len == sizeof(pt) && pt[0] == 'x' && pt[sizeof(pt) - 1] == 'x');
	test_assert(migrate_vault_encrypt(vault, ACCOUNT, pt, sizeof(pt) + 1, ct,
					  sizeof(ct) + 1, &ct_len, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "vault: plaintext of 1025 bytes is longer than 1024 bytes");

	test_assert(migrate_vault_encrypt(vault, "", SECRET, strlen(SECRET), ct,
					  sizeof(ct), &ct_len, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "vault: the account address (AAD) is empty");
	migrate_vault_close(&vault);
	test_assert(vault == NULL);
	migrate_vault_close(&vault);
	test_end();
}

static void test_vault_tampering(void)
{
	static const unsigned char key[MIGRATE_VAULT_KEY_SIZE] = { 1, 2, 3 };
	unsigned char ct[64], pt[64];
	struct migrate_vault *vault;
	size_t ct_len, pt_len, i;
	unsigned int bit, failures = 0, cleansed = 0, flips = 0;

	test_begin("vault: other account, bit flips, truncation, version");
	test_assert(migrate_vault_open_raw(key, &vault, error, sizeof(error)) == 0);
	ct_len = encrypt_ok(vault, ACCOUNT, SECRET, ct, sizeof(ct));

	memset(pt, 0xaa, sizeof(pt));
	test_assert(decrypt(vault, "bob@example.com", ct, ct_len, pt, sizeof(pt), &pt_len) < 0);
	test_assert_strcmp(error, "vault: authentication failed: the value was "
			   "tampered with or belongs to another account");
	test_assert(pt_len == 0 && all_zero(pt, sizeof(pt)));
	test_assert(decrypt(vault, "Alice@example.com", ct, ct_len, pt, sizeof(pt), &pt_len) < 0);

	/* every single-bit change anywhere is noticed, and leaves no
	   unauthenticated plaintext behind */
	for (i = 0; i < ct_len; i++) {
		for (bit = 0; bit < 8; bit++) {
			ct[i] ^= 1 << bit;
			memset(pt, 0xaa, sizeof(pt));
			flips++;
			if (decrypt(vault, ACCOUNT, ct, ct_len, pt, sizeof(pt), &pt_len) < 0)
				failures++;
			if (all_zero(pt, sizeof(pt)))
				cleansed++;
			ct[i] ^= 1 << bit;
		}
	}
	test_assert(flips == ct_len * 8);
	test_assert(failures == flips);
	test_assert(cleansed == flips);
	test_assert(decrypt(vault, ACCOUNT, ct, ct_len, pt, sizeof(pt), &pt_len) == 0);

	for (i = 0; i < ct_len; i++)
		test_assert_idx(decrypt(vault, ACCOUNT, ct, i, pt, sizeof(pt), &pt_len) < 0, i);
	test_assert(decrypt(vault, ACCOUNT, ct, 0, pt, sizeof(pt), &pt_len) < 0);
	test_assert_strcmp(error, "vault: ciphertext is truncated or malformed "
			   "(0 bytes, expected 37 to 1061)");
	test_assert(decrypt(vault, ACCOUNT, ct, MIGRATE_VAULT_OVERHEAD - 1, pt,
			    sizeof(pt), &pt_len) < 0);
	test_assert_strcmp(error, "vault: ciphertext is truncated or malformed "
			   "(36 bytes, expected 37 to 1061)");
	test_assert(decrypt(vault, ACCOUNT, ct, MIGRATE_VAULT_OVERHEAD, pt,
			    sizeof(pt), &pt_len) < 0);
	test_assert(strstr(error, "authentication failed") != NULL);

	ct[0] = 2;
	test_assert(decrypt(vault, ACCOUNT, ct, ct_len, pt, sizeof(pt), &pt_len) < 0);
	test_assert_strcmp(error, "vault: unsupported ciphertext version 2 (this build reads 1)");
	ct[0] = MIGRATE_VAULT_VERSION;
	migrate_vault_close(&vault);
	test_end();
}

static void test_vault_unknown_key(void)
{
	static const unsigned char key_a[MIGRATE_VAULT_KEY_SIZE] = { 'a' };
	static const unsigned char key_b[MIGRATE_VAULT_KEY_SIZE] = { 'b' };
	struct migrate_vault *vault_a, *vault_b;
	unsigned char ct[64], pt[64];
	size_t ct_len, pt_len;

	test_begin("vault: a value from another key is named as such");
	test_assert(migrate_vault_open_raw(key_a, &vault_a, error, sizeof(error)) == 0);
	test_assert(migrate_vault_open_raw(key_b, &vault_b, error, sizeof(error)) == 0);
	test_assert(strcmp(migrate_vault_key_id_hex(vault_a),
			   migrate_vault_key_id_hex(vault_b)) != 0);
	ct_len = encrypt_ok(vault_a, ACCOUNT, SECRET, ct, sizeof(ct));
	test_assert(decrypt(vault_b, ACCOUNT, ct, ct_len, pt, sizeof(pt), &pt_len) < 0);
	test_assert_strcmp(error, t_strdup_printf(
		"vault: value was encrypted with a key this vault does not have "
		"(key id %s; current key %s)", migrate_vault_key_id_hex(vault_a),
		migrate_vault_key_id_hex(vault_b)));
	migrate_vault_close(&vault_a);
	migrate_vault_close(&vault_b);
	test_end();
}

static void test_vault_rotation(void)
{
	const char *path_a = write_key("rot-a.key", 'A', MIGRATE_VAULT_KEY_SIZE, 0600);
	const char *path_b = write_key("rot-b.key", 'B', MIGRATE_VAULT_KEY_SIZE, 0600);
	const char *old[] = { path_a, NULL };
	struct migrate_vault *vault_a, *vault_ba;
	unsigned char ct_a[64], ct_b[64], pt[64];
	size_t ct_a_len, ct_b_len, pt_len;
	char id_a[MIGRATE_VAULT_KEY_ID_SIZE * 2 + 1];

	test_begin("vault: rotation decrypts with old keys, encrypts with the new");
	vault_a = open_ok(path_a, NULL);
	if (vault_a == NULL) {
		test_end();
		return;
	}
	i_strocpy(id_a, migrate_vault_key_id_hex(vault_a), sizeof(id_a));
	ct_a_len = encrypt_ok(vault_a, ACCOUNT, SECRET, ct_a, sizeof(ct_a));
	migrate_vault_close(&vault_a);

	vault_ba = open_ok(path_b, old);
	if (vault_ba == NULL) {
		test_end();
		return;
	}
	test_assert(strcmp(migrate_vault_key_id_hex(vault_ba), id_a) != 0);
	test_assert(decrypt(vault_ba, ACCOUNT, ct_a, ct_a_len, pt, sizeof(pt), &pt_len) == 0);
	test_assert_memcmp(pt, pt_len, SECRET, strlen(SECRET));

	ct_b_len = encrypt_ok(vault_ba, ACCOUNT, SECRET, ct_b, sizeof(ct_b));
	test_assert(memcmp(ct_b + 1, ct_a + 1, MIGRATE_VAULT_KEY_ID_SIZE) != 0);
	test_assert(decrypt(vault_ba, ACCOUNT, ct_b, ct_b_len, pt, sizeof(pt), &pt_len) == 0);
	migrate_vault_close(&vault_ba);

	/* once the old key is dropped, its values are named as unreadable */
	vault_ba = open_ok(path_b, NULL);
	test_assert(decrypt(vault_ba, ACCOUNT, ct_a, ct_a_len, pt, sizeof(pt), &pt_len) < 0);
	test_assert(strstr(error, "a key this vault does not have") != NULL);
	migrate_vault_close(&vault_ba);
	test_end();
}

static void test_vault_small_buffers(void)
{
	static const unsigned char key[MIGRATE_VAULT_KEY_SIZE] = { 9 };
	struct migrate_vault *vault;
	unsigned char ct[64], pt[64];
	size_t ct_len, pt_len, need = strlen(SECRET) + MIGRATE_VAULT_OVERHEAD;

	test_begin("vault: output buffers too small");
	test_assert(migrate_vault_open_raw(key, &vault, error, sizeof(error)) == 0);
	test_assert(migrate_vault_encrypt(vault, ACCOUNT, SECRET, strlen(SECRET),
					  ct, need - 1, &ct_len, error, sizeof(error)) < 0);
	test_assert_strcmp(error, "vault: output buffer of 51 bytes is too small "
			   "(52 bytes needed)");
	test_assert(ct_len == 0);
	ct_len = encrypt_ok(vault, ACCOUNT, SECRET, ct, need);

	memset(pt, 0xaa, sizeof(pt));
	test_assert(decrypt(vault, ACCOUNT, ct, ct_len, pt, strlen(SECRET) - 1, &pt_len) < 0);
	test_assert_strcmp(error, "vault: output buffer of 14 bytes is too small "
			   "(15 bytes needed)");
	test_assert(all_zero(pt, strlen(SECRET) - 1));
	test_assert(decrypt(vault, ACCOUNT, ct, ct_len, pt, strlen(SECRET), &pt_len) == 0);
	test_assert_memcmp(pt, pt_len, SECRET, strlen(SECRET));
	migrate_vault_close(&vault);
	test_end();
}

/* Runs after test_run() has deinitialized lib: plain libc only. */
static void remove_tmpdir(void)
{
	DIR *dir = opendir(tmpdir);
	struct dirent *d;
	char path[PATH_MAX];

	if (dir == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, d->d_name);
		if (unlink(path) < 0)
			fprintf(stderr, "unlink(%s) failed: %s\n", path, strerror(errno));
	}
	(void)closedir(dir);
	if (rmdir(tmpdir) < 0)
		fprintf(stderr, "rmdir(%s) failed: %s\n", tmpdir, strerror(errno));
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_vault_keygen,
		test_vault_open_errors,
		test_vault_round_trip,
		test_vault_tampering,
		test_vault_unknown_key,
		test_vault_rotation,
		test_vault_small_buffers,
		NULL
	};
	int ret;

	if (mkdtemp(tmpdir) == NULL) {
		fprintf(stderr, "mkdtemp(%s) failed: %s\n", tmpdir, strerror(errno));
		return 1;
	}
	ret = test_run(tests);
	remove_tmpdir();
	return ret;
}
