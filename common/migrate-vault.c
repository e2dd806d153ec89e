/* The credential vault (see migrate-vault.h): AES-256-GCM through OpenSSL
   EVP. Plain C, no Dovecot dependency. Key material lives in one page of
   its own that is left out of core dumps, and is wiped before it is
   freed. */

#include "migrate-vault.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* Changing the label changes every key id: it is part of the format. */
#define KEY_ID_LABEL "dovecot-migrate vault key id v1"
/* An account address is at most a few hundred bytes; this only keeps the
   length within what EVP takes as an int. */
#define MAX_AAD_LEN 4096

struct vault_key {
	unsigned char key[MIGRATE_VAULT_KEY_SIZE];
	unsigned char id[MIGRATE_VAULT_KEY_ID_SIZE];
};

/* The keys get a page of their own; the rest is ordinary heap memory,
   where leak checkers see the pointers it holds. */
struct migrate_vault {
	EVP_CIPHER *cipher;
	struct vault_key *keys;	/* keys[0] is the current key */
	size_t keys_size;
	unsigned int key_count;
	char key_id_hex[MIGRATE_VAULT_KEY_ID_SIZE * 2 + 1];
};

#define VAULT_KEY_SLOTS (1 + MIGRATE_VAULT_MAX_OLD_KEYS)

static int vault_error(char *error, size_t error_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int vault_error(char *error, size_t error_size, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(error, error_size, fmt, args);
	va_end(args);
	return -1;
}

/* Reports OpenSSL's reason and empties its error queue: Dovecot's own TLS
   code reads the same per-thread queue and must not find our leftovers. */
static int openssl_error(char *error, size_t error_size, const char *what)
{
	unsigned long code = ERR_get_error();
	char reason[256] = "unknown error";

	if (code != 0)
		ERR_error_string_n(code, reason, sizeof(reason));
	ERR_clear_error();
	return vault_error(error, error_size, "vault: %s failed: %s", what, reason);
}

/* Key material in private pages excluded from core dumps: the rules
   forbid secrets in core files, and the auth process may crash like any
   other. */
static struct migrate_vault *vault_alloc(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t size = VAULT_KEY_SLOTS * sizeof(struct vault_key);
	struct migrate_vault *vault;

	if (page > 0)
		size = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
	vault = calloc(1, sizeof(*vault));
	if (vault == NULL)
		abort();
	vault->keys = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vault->keys == MAP_FAILED)
		abort();
#ifdef MADV_DONTDUMP
	(void)madvise(vault->keys, size, MADV_DONTDUMP);
#endif
	vault->keys_size = size;
	return vault;
}

void migrate_vault_close(struct migrate_vault **_vault)
{
	struct migrate_vault *vault = *_vault;

	if (vault == NULL)
		return;
	*_vault = NULL;
	EVP_CIPHER_free(vault->cipher);
	OPENSSL_cleanse(vault->keys, vault->keys_size);
	(void)munmap(vault->keys, vault->keys_size);
	free(vault);
}

static int key_id_compute(struct vault_key *key, char *error, size_t error_size)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	ok = ctx != NULL &&
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		EVP_DigestUpdate(ctx, KEY_ID_LABEL, sizeof(KEY_ID_LABEL) - 1) == 1 &&
		EVP_DigestUpdate(ctx, key->key, sizeof(key->key)) == 1 &&
		EVP_DigestFinal_ex(ctx, digest, &digest_len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok || digest_len < sizeof(key->id))
		return openssl_error(error, error_size, "SHA-256 of the key id");
	memcpy(key->id, digest, sizeof(key->id));
	OPENSSL_cleanse(digest, sizeof(digest));
	return 0;
}

/* Reads one key file, checking that only its owner can use it. */
static int key_read(const char *path, struct vault_key *key,
		    char *error, size_t error_size)
{
	unsigned char buf[MIGRATE_VAULT_KEY_SIZE + 1];
	struct stat st;
	ssize_t n;
	int fd;

	/* O_NONBLOCK: a FIFO planted at the key path must not hang us
	   before fstat() can refuse it */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		return vault_error(error, error_size, "open(%s) failed: %s",
				   path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		vault_error(error, error_size, "fstat(%s) failed: %s",
			    path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return vault_error(error, error_size,
			"vault key %s is not a regular file", path);
	}
	if ((st.st_mode & 077) != 0) {
		close(fd);
		return vault_error(error, error_size,
			"vault key %s has mode %04o: group or others can access it "
			"(fix with: chmod 0600 %s)",
			path, (unsigned int)(st.st_mode & 07777), path);
	}
	if (st.st_size != MIGRATE_VAULT_KEY_SIZE) {
		close(fd);
		return vault_error(error, error_size,
			"vault key %s has %lld bytes, expected %d "
			"(make one with: head -c 32 /dev/urandom)",
			path, (long long)st.st_size, MIGRATE_VAULT_KEY_SIZE);
	}
	/* one byte more than needed notices a file that grew since fstat() */
	do {
		n = read(fd, buf, sizeof(buf));
	} while (n < 0 && errno == EINTR);
	close(fd);
	if (n != MIGRATE_VAULT_KEY_SIZE) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return vault_error(error, error_size, "read(%s) failed: %s", path,
			n < 0 ? strerror(errno) : "file changed size while read");
	}
	memcpy(key->key, buf, sizeof(key->key));
	OPENSSL_cleanse(buf, sizeof(buf));
	return key_id_compute(key, error, error_size);
}

static struct migrate_vault *vault_new(char *error, size_t error_size)
{
	struct migrate_vault *vault = vault_alloc();

	/* fetched once: an implicit fetch on every encryption costs time */
	vault->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	if (vault->cipher == NULL) {
		openssl_error(error, error_size, "EVP_CIPHER_fetch(AES-256-GCM)");
		migrate_vault_close(&vault);
	}
	return vault;
}

static void vault_set_key_id_hex(struct migrate_vault *vault)
{
	static const char hex[] = "0123456789abcdef";
	unsigned int i;

	for (i = 0; i < MIGRATE_VAULT_KEY_ID_SIZE; i++) {
		vault->key_id_hex[i * 2] = hex[vault->keys[0].id[i] >> 4];
		vault->key_id_hex[i * 2 + 1] = hex[vault->keys[0].id[i] & 0x0f];
	}
	vault->key_id_hex[i * 2] = '\0';
}

int migrate_vault_open(const char *key_path, const char *const *old_key_paths,
		       struct migrate_vault **vault_r,
		       char *error, size_t error_size)
{
	struct migrate_vault *vault;
	unsigned int i;

	*vault_r = NULL;
	if ((vault = vault_new(error, error_size)) == NULL)
		return -1;
	if (key_read(key_path, &vault->keys[0], error, error_size) < 0) {
		migrate_vault_close(&vault);
		return -1;
	}
	vault->key_count = 1;
	for (i = 0; old_key_paths != NULL && old_key_paths[i] != NULL; i++) {
		if (i == MIGRATE_VAULT_MAX_OLD_KEYS) {
			migrate_vault_close(&vault);
			return vault_error(error, error_size,
				"vault: more than %d old keys given",
				MIGRATE_VAULT_MAX_OLD_KEYS);
		}
		if (key_read(old_key_paths[i], &vault->keys[vault->key_count],
			     error, error_size) < 0) {
			migrate_vault_close(&vault);
			return -1;
		}
		vault->key_count++;
	}
	vault_set_key_id_hex(vault);
	*vault_r = vault;
	return 0;
}

int migrate_vault_open_raw(const unsigned char key[MIGRATE_VAULT_KEY_SIZE],
			   struct migrate_vault **vault_r,
			   char *error, size_t error_size)
{
	struct migrate_vault *vault;

	*vault_r = NULL;
	if ((vault = vault_new(error, error_size)) == NULL)
		return -1;
	memcpy(vault->keys[0].key, key, MIGRATE_VAULT_KEY_SIZE);
	vault->key_count = 1;
	if (key_id_compute(&vault->keys[0], error, error_size) < 0) {
		migrate_vault_close(&vault);
		return -1;
	}
	vault_set_key_id_hex(vault);
	*vault_r = vault;
	return 0;
}

const char *migrate_vault_key_id_hex(const struct migrate_vault *vault)
{
	return vault->key_id_hex;
}

static int write_full(int fd, const unsigned char *data, size_t size)
{
	while (size > 0) {
		ssize_t n = write(fd, data, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		data += n;
		size -= (size_t)n;
	}
	return 0;
}

/* Makes the new directory entry durable, not only the file's data. */
static int fsync_parent_dir(const char *path, char *error, size_t error_size)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int fd, ret = 0;

	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == path)
		strcpy(dir, "/");
	else if ((size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	} else {
		return vault_error(error, error_size, "%s: path too long", path);
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		ret = vault_error(error, error_size, "fsync(%s) failed: %s",
				  dir, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

int migrate_vault_keygen(const char *path, char *error, size_t error_size)
{
	unsigned char key[MIGRATE_VAULT_KEY_SIZE];
	const char *failed = NULL;
	int fd, failed_errno;

	if (RAND_bytes(key, sizeof(key)) != 1)
		return openssl_error(error, error_size, "RAND_bytes");
	/* O_EXCL and O_NOFOLLOW: never replace a key, never write through
	   a symlink someone left at the path */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		int open_errno = errno;

		OPENSSL_cleanse(key, sizeof(key));
		if (open_errno == EEXIST) {
			return vault_error(error, error_size,
				"vault key %s already exists: refusing to overwrite it "
				"(credentials encrypted with it could no longer be read)",
				path);
		}
		return vault_error(error, error_size, "open(%s) failed: %s",
				   path, strerror(open_errno));
	}
	if (write_full(fd, key, sizeof(key)) < 0)
		failed = "write";
	else if (fsync(fd) < 0)
		failed = "fsync";
	failed_errno = errno;
	OPENSSL_cleanse(key, sizeof(key));
	if (close(fd) < 0 && failed == NULL) {
		failed = "close";
		failed_errno = errno;
	}
	if (failed != NULL) {
		vault_error(error, error_size, "%s(%s) failed: %s",
			    failed, path, strerror(failed_errno));
		/* a short key file would only fail later, far from here */
		(void)unlink(path);
		return -1;
	}
	return fsync_parent_dir(path, error, error_size);
}

static int check_aad(const char *aad, char *error, size_t error_size)
{
	if (aad == NULL || aad[0] == '\0') {
		return vault_error(error, error_size,
			"vault: the account address (AAD) is empty");
	}
	if (strlen(aad) > MAX_AAD_LEN) {
		return vault_error(error, error_size,
			"vault: the account address (AAD) is longer than %d bytes",
			MAX_AAD_LEN);
	}
	return 0;
}

/* The header (version and key id) is authenticated along with the account
   address, so no part of a stored value can be changed unnoticed. */
static int add_aad(EVP_CIPHER_CTX *ctx, const unsigned char *header,
		   const char *aad)
{
	int n;

	return EVP_CipherUpdate(ctx, NULL, &n, header,
				1 + MIGRATE_VAULT_KEY_ID_SIZE) == 1 &&
		EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)aad,
				 (int)strlen(aad)) == 1 ? 0 : -1;
}

static int gcm_encrypt(struct migrate_vault *vault, const char *aad,
		       const unsigned char *plaintext, size_t len,
		       unsigned char *out)
{
	const unsigned char *nonce = out + 1 + MIGRATE_VAULT_KEY_ID_SIZE;
	unsigned char *body = out + MIGRATE_VAULT_HEADER_SIZE;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, final_n = 0, ok;

	ok = ctx != NULL &&
		EVP_EncryptInit_ex2(ctx, vault->cipher, vault->keys[0].key,
				    nonce, NULL) == 1 &&
		add_aad(ctx, out, aad) == 0 &&
		(len == 0 ||
		 EVP_EncryptUpdate(ctx, body, &n, plaintext, (int)len) == 1) &&
		EVP_EncryptFinal_ex(ctx, body + n, &final_n) == 1 &&
		(size_t)(n + final_n) == len &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
				    MIGRATE_VAULT_TAG_SIZE, body + len) == 1;
	/* freeing the context wipes its copy of the key schedule */
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

int migrate_vault_encrypt(struct migrate_vault *vault, const char *aad,
			  const void *plaintext, size_t len,
			  unsigned char *out, size_t out_size, size_t *out_len_r,
			  char *error, size_t error_size)
{
	*out_len_r = 0;
	if (check_aad(aad, error, error_size) < 0)
		return -1;
	if (len > MIGRATE_VAULT_MAX_PLAINTEXT) {
		return vault_error(error, error_size,
			"vault: plaintext of %zu bytes is longer than %d bytes",
			len, MIGRATE_VAULT_MAX_PLAINTEXT);
	}
	if (out_size < len + MIGRATE_VAULT_OVERHEAD) {
		return vault_error(error, error_size,
			"vault: output buffer of %zu bytes is too small "
			"(%zu bytes needed)", out_size, len + MIGRATE_VAULT_OVERHEAD);
	}
	out[0] = MIGRATE_VAULT_VERSION;
	memcpy(out + 1, vault->keys[0].id, MIGRATE_VAULT_KEY_ID_SIZE);
	/* a random 96-bit nonce per value: one key encrypts far fewer than
	   the 2^32 values GCM allows with random nonces */
	if (RAND_bytes(out + 1 + MIGRATE_VAULT_KEY_ID_SIZE,
		       MIGRATE_VAULT_NONCE_SIZE) != 1)
		return openssl_error(error, error_size, "RAND_bytes");
	if (gcm_encrypt(vault, aad, plaintext, len, out) < 0) {
		OPENSSL_cleanse(out, len + MIGRATE_VAULT_OVERHEAD);
		return openssl_error(error, error_size, "AES-256-GCM encryption");
	}
	*out_len_r = len + MIGRATE_VAULT_OVERHEAD;
	return 0;
}

static const struct vault_key *
vault_find_key(const struct migrate_vault *vault, const unsigned char *id)
{
	unsigned int i;

	for (i = 0; i < vault->key_count; i++) {
		if (memcmp(vault->keys[i].id, id, MIGRATE_VAULT_KEY_ID_SIZE) == 0)
			return &vault->keys[i];
	}
	return NULL;
}

/* 1 = decrypted and authenticated, 0 = authentication failed,
   -1 = OpenSSL failed otherwise */
static int gcm_decrypt(const struct migrate_vault *vault,
		       const struct vault_key *key, const char *aad,
		       const unsigned char *in, size_t pt_len,
		       unsigned char *out)
{
	const unsigned char *nonce = in + 1 + MIGRATE_VAULT_KEY_ID_SIZE;
	const unsigned char *body = in + MIGRATE_VAULT_HEADER_SIZE;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	unsigned char tag[MIGRATE_VAULT_TAG_SIZE];
	int n = 0, final_n = 0, ret = -1;

	memcpy(tag, body + pt_len, sizeof(tag));
	if (ctx != NULL &&
	    EVP_DecryptInit_ex2(ctx, vault->cipher, key->key, nonce, NULL) == 1 &&
	    add_aad(ctx, in, aad) == 0 &&
	    (pt_len == 0 ||
	     EVP_DecryptUpdate(ctx, out, &n, body, (int)pt_len) == 1) &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, sizeof(tag), tag) == 1) {
		ret = EVP_DecryptFinal_ex(ctx, out + n, &final_n) == 1 &&
			(size_t)(n + final_n) == pt_len ? 1 : 0;
	}
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

static int decrypt_fail(unsigned char *out, size_t out_size)
{
	if (out != NULL)
		OPENSSL_cleanse(out, out_size);
	return -1;
}

int migrate_vault_decrypt(struct migrate_vault *vault, const char *aad,
			  const void *ciphertext, size_t len,
			  unsigned char *out, size_t out_size, size_t *out_len_r,
			  char *error, size_t error_size)
{
	const unsigned char *in = ciphertext;
	const struct vault_key *key;
	size_t pt_len;
	int ret;

	*out_len_r = 0;
	if (check_aad(aad, error, error_size) < 0)
		return decrypt_fail(out, out_size);
	/* the version decides the layout, so it is checked before the length */
	if (len > 0 && in[0] != MIGRATE_VAULT_VERSION) {
		vault_error(error, error_size,
			"vault: unsupported ciphertext version %u (this build reads %d)",
			in[0], MIGRATE_VAULT_VERSION);
		return decrypt_fail(out, out_size);
	}
	if (len < MIGRATE_VAULT_OVERHEAD || len > MIGRATE_VAULT_MAX_CIPHERTEXT) {
		vault_error(error, error_size,
			"vault: ciphertext is truncated or malformed "
			"(%zu bytes, expected %d to %d)", len,
			MIGRATE_VAULT_OVERHEAD, MIGRATE_VAULT_MAX_CIPHERTEXT);
		return decrypt_fail(out, out_size);
	}
	if ((key = vault_find_key(vault, in + 1)) == NULL) {
		char id[MIGRATE_VAULT_KEY_ID_SIZE * 2 + 1];
		unsigned int i;

		for (i = 0; i < MIGRATE_VAULT_KEY_ID_SIZE; i++)
			snprintf(id + i * 2, 3, "%02x", in[1 + i]);
		vault_error(error, error_size,
			"vault: value was encrypted with a key this vault does not have "
			"(key id %s; current key %s)", id, vault->key_id_hex);
		return decrypt_fail(out, out_size);
	}
	pt_len = len - MIGRATE_VAULT_OVERHEAD;
	if (out_size < pt_len) {
		vault_error(error, error_size,
			"vault: output buffer of %zu bytes is too small "
			"(%zu bytes needed)", out_size, pt_len);
		return decrypt_fail(out, out_size);
	}
	ret = gcm_decrypt(vault, key, aad, in, pt_len, out);
	if (ret <= 0) {
		if (ret < 0)
			openssl_error(error, error_size, "AES-256-GCM decryption");
		else {
			ERR_clear_error();
			vault_error(error, error_size,
				"vault: authentication failed: the value was tampered "
				"with or belongs to another account");
		}
		return decrypt_fail(out, out_size);
	}
	*out_len_r = pt_len;
	return 0;
}
