/* libFuzzer target: migrate.conf parser on arbitrary bytes. */

#include "migrate-config.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct migrate_config *config = NULL;
	char error[256];

	if (migrate_config_parse("fuzz.conf", (const char *)data, size,
				 &config, error, sizeof(error)) == 0) {
		(void)migrate_config_domain_for_ip(config, "127.0.0.1");
		migrate_config_free(&config);
	} else if (config != NULL || memchr(error, '\0', sizeof(error)) == NULL) {
		__builtin_trap();
	}
	return 0;
}
