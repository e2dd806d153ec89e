/* Sealing a password into an account's secret (see migrate-secret-seal.h). */

#include "migrate-secret-seal.h"
#include "migrate-credential.h"
#include "migrate-password.h"
#include "migrate-store.h"
#include "migrate-vault.h"

#include <string.h>

int migrate_secret_seal(struct migrate_vault *vault, const char *address,
			const char *legacy_user, const char *password,
			struct migrate_secret *secret_r,
			char *error, size_t error_size)
{
	unsigned char plain[MIGRATE_CREDENTIAL_MAX];
	int len, ret = -1;

	memset(secret_r, 0, sizeof(*secret_r));
	if (migrate_password_hash(password, secret_r->password_hash,
				  sizeof(secret_r->password_hash),
				  error, error_size) < 0)
		goto out;
	len = migrate_credential_encode(legacy_user, password, plain,
					sizeof(plain), error, error_size);
	if (len < 0)
		goto out;
	ret = migrate_vault_encrypt(vault, address, plain, (size_t)len,
				    secret_r->credential,
				    sizeof(secret_r->credential),
				    &secret_r->credential_len, error, error_size);
	explicit_bzero(plain, sizeof(plain));
out:
	if (ret < 0)
		explicit_bzero(secret_r, sizeof(*secret_r));
	return ret < 0 ? -1 : 0;
}
