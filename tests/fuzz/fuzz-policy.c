/* libFuzzer target: a policy client's byte stream, parsed request by
   request as the daemon does, and answered. */

#include "policy.h"
#include "policyd.h"
#include "protocol.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char config[] =
		"store = /nonexistent/dovecot-migrate-fuzz\n"
		"unknown_recipients = reject\n"
		"[domain example.com]\nlegacy_host = 192.0.2.1\n";
	static struct policyd d;
	const char *input = (const char *)data, *error;
	char out[PROTOCOL_REPLY_ROOM], cfg_error[256];
	size_t pos = 0;

	if (d.config == NULL &&
	    migrate_config_parse("fuzz", config, sizeof(config) - 1, &d.config,
				 cfg_error, sizeof(cfg_error)) < 0)
		__builtin_trap();
	while (pos < size) {
		size_t out_len = 0;
		ssize_t used = protocol_policy.serve(&d, input + pos, size - pos,
						     out, &out_len, &error);

		if (used <= 0)
			break;
		if (out_len < strlen("action=DUNNO\n\n") || (size_t)used > size - pos ||
		    memcmp(out, "action=", 7) != 0)
			__builtin_trap();
		pos += (size_t)used;
	}
	return 0;
}
