/* libFuzzer target: a socketmap client's byte stream, decoded as
   netstrings, parsed as requests and answered, as the daemon does. */

#include "netstring.h"
#include "policyd.h"
#include "socketmap.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A config with a migrating domain and a store path that does not exist:
   lookups in the domain exercise normalisation and the TEMP path. */
static struct policyd *fuzz_policyd(void)
{
	static const char config[] =
		"store = /nonexistent/dovecot-migrate-fuzz\n"
		"[domain example.com]\nlegacy_host = 192.0.2.1\n";
	static struct policyd d;
	char error[256];

	if (d.config == NULL &&
	    migrate_config_parse("fuzz", config, sizeof(config) - 1, &d.config,
				 error, sizeof(error)) < 0)
		__builtin_trap();
	return &d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *input = (const char *)data;
	size_t pos = 0;

	while (pos < size) {
		const char *payload, *error;
		size_t len, consumed;
		char request[SOCKETMAP_MAX_REQUEST + 1], reply[1024], framed[1100];
		struct socketmap_request req;

		if (netstring_decode(input + pos, size - pos, SOCKETMAP_MAX_REQUEST,
				     &payload, &len, &consumed, &error) != NETSTRING_OK)
			break;
		if (socketmap_parse_request(payload, len, request, sizeof(request),
					    &req, &error) == 0) {
			size_t reply_len = socketmap_answer(fuzz_policyd(), &req, reply, sizeof(reply));

			if (netstring_encode(framed, sizeof(framed), reply, reply_len) == 0)
				__builtin_trap();
		}
		pos += consumed;
	}
	return 0;
}
