#ifndef PROTOCOL_H
#define PROTOCOL_H

/* The two protocols the daemon serves, behind one shape so the event loop
   does not care which one a connection speaks. */

#include <stddef.h>
#include <sys/types.h>

struct policyd;

/* Room a reply may need in the output buffer. */
#define PROTOCOL_REPLY_ROOM 1100

/* Serves the first complete request in `in`: appends its framed reply to
   out (at least PROTOCOL_REPLY_ROOM bytes free) and sets *out_len_r.
   Returns the bytes consumed, 0 while the request is incomplete, or -1
   when it is malformed or too long (*error_r says why). */
typedef ssize_t protocol_serve_fn(struct policyd *d, const char *in, size_t in_len,
				  char *out, size_t *out_len_r, const char **error_r);

struct protocol {
	const char *name;
	size_t max_request;	/* input buffer size */
	protocol_serve_fn *serve;
};

extern const struct protocol protocol_socketmap;
extern const struct protocol protocol_policy;

#endif
