/* libFuzzer target: a socketmap client's byte stream, decoded as
   netstrings, parsed as requests and answered, as the daemon does. */

#include "netstring.h"
#include "socketmap.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
			size_t reply_len = socketmap_answer(&req, reply, sizeof(reply));

			if (netstring_encode(framed, sizeof(framed), reply, reply_len) == 0)
				__builtin_trap();
		}
		pos += consumed;
	}
	return 0;
}
