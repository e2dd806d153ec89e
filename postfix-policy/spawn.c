/* One policy client on a pair of file descriptors (see spawn.h). */

#include "spawn.h"
#include "log.h"
#include "policy.h"
#include "protocol.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int spawn_serve_policy(struct policyd *d, int in_fd, int out_fd)
{
	static char in[POLICY_MAX_REQUEST];
	char out[PROTOCOL_REPLY_ROOM];
	size_t in_len = 0;

	for (;;) {
		const char *error;
		size_t out_len = 0;
		ssize_t used = protocol_policy.serve(d, in, in_len, out, &out_len, &error);

		if (used < 0) {
			log_error("policy client: %s: closing connection", error);
			return -1;
		}
		if (used > 0) {
			if (write_all(out_fd, out, out_len) < 0)
				return -1;
			memmove(in, in + used, in_len - (size_t)used);
			in_len -= (size_t)used;
			continue;
		}
		if (in_len == sizeof(in)) {
			log_error("policy client: request exceeds %zu bytes", sizeof(in));
			return -1;
		}
		used = read(in_fd, in + in_len, sizeof(in) - in_len);
		if (used < 0 && errno == EINTR)
			continue;
		if (used <= 0)
			return used == 0 ? 0 : -1;
		in_len += (size_t)used;
	}
}
