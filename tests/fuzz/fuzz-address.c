/* libFuzzer target: address normalisation on arbitrary bytes, under three
   settings. Checks the invariants the state store relies on: a result is
   bounded and NUL-terminated, is "local@domain", and normalises to itself
   again (idempotence), so a key never changes when it is fed back in. */

#include "migrate-address.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct migrate_address_settings settings[] = {
	{ NULL, false },
	{ "+", true },
	{ "+-=", false },
};

#define check(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static void check_terminated(const char *buf, size_t size)
{
	check(memchr(buf, '\0', size) != NULL);
}

static void check_result(const struct migrate_address *a)
{
	size_t local_len, domain_len;

	check_terminated(a->address, sizeof(a->address));
	check_terminated(a->local, sizeof(a->local));
	check_terminated(a->extension, sizeof(a->extension));
	check_terminated(a->domain, sizeof(a->domain));
	local_len = strlen(a->local);
	domain_len = strlen(a->domain);
	check(local_len > 0 && local_len <= MIGRATE_ADDRESS_LOCAL_MAX);
	check(domain_len > 0 && domain_len <= MIGRATE_ADDRESS_DOMAIN_MAX);
	check(strlen(a->address) == local_len + 1 + domain_len);
	check(strlen(a->address) <= MIGRATE_ADDRESS_MAX);
	check(memcmp(a->address, a->local, local_len) == 0);
	check(a->address[local_len] == '@');
	check(strcmp(a->address + local_len + 1, a->domain) == 0);
}

static void check_idempotent(const struct migrate_address *a,
			     const struct migrate_address_settings *set)
{
	struct migrate_address again;
	char domain[MIGRATE_ADDRESS_DOMAIN_MAX + 1];
	char error[256];

	check(migrate_address_normalize(a->address, strlen(a->address), set,
					&again, error, sizeof(error)) == 0);
	check(strcmp(again.address, a->address) == 0);
	check(strcmp(again.local, a->local) == 0);
	check(strcmp(again.domain, a->domain) == 0);
	check(again.extension[0] == '\0');
	check(again.utf8_local == a->utf8_local);
	check(migrate_domain_normalize(a->domain, domain, sizeof(domain),
				       error, sizeof(error)) == 0);
	check(strcmp(domain, a->domain) == 0);
}

static void check_failure(const struct migrate_address *a, const char *error,
			  size_t error_size)
{
	check_terminated(error, error_size);
	check(error[0] != '\0');
	check(a->address[0] == '\0' && a->local[0] == '\0' &&
	      a->extension[0] == '\0' && a->domain[0] == '\0');
}

/* The domain function on its own, when the input is a C string. */
static void fuzz_domain(const uint8_t *data, size_t size)
{
	char domain[MIGRATE_ADDRESS_DOMAIN_MAX + 1], again[sizeof(domain)];
	char error[256], *input;

	if (memchr(data, '\0', size) != NULL || (input = malloc(size + 1)) == NULL)
		return;
	memcpy(input, data, size);
	input[size] = '\0';
	if (migrate_domain_normalize(input, domain, sizeof(domain),
				     error, sizeof(error)) == 0) {
		check(migrate_domain_normalize(domain, again, sizeof(again),
					       error, sizeof(error)) == 0);
		check(strcmp(domain, again) == 0);
	} else {
		check_terminated(error, sizeof(error));
		check(error[0] != '\0' && domain[0] == '\0');
	}
	free(input);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct migrate_address addr;
	char error[256];
	unsigned int i;

	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		error[0] = '\0';
		if (migrate_address_normalize((const char *)data, size, &settings[i],
					      &addr, error, sizeof(error)) == 0) {
			check_result(&addr);
			check_idempotent(&addr, &settings[i]);
		} else {
			check_failure(&addr, error, sizeof(error));
		}
	}
	fuzz_domain(data, size);
	return 0;
}
