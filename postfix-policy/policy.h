#ifndef POLICY_H
#define POLICY_H

/* Postfix's policy delegation protocol (SMTPD_POLICY_README): a request is
   "name=value" lines ended by an empty line; the answer is
   "action=...\n\n". */

#include <stddef.h>

struct policyd;

/* A request longer than this closes the connection: Postfix's own
   requests are a few hundred bytes (about 40 attributes). */
#define POLICY_MAX_REQUEST 16384
#define POLICY_MAX_ATTRIBUTES 128
#define POLICY_MAX_NAME 64

struct policy_request {
	/* NULL when absent; point into storage */
	const char *request, *protocol_state, *recipient, *instance;
	char storage[POLICY_MAX_REQUEST];
};

enum policy_parse_result {
	POLICY_PARSE_OK,
	POLICY_PARSE_INCOMPLETE,
	POLICY_PARSE_ERROR,
};

/* Parses the request at the start of buf (len bytes). OK: *consumed_r is
   its length including the empty line. ERROR: *error_r says why. */
enum policy_parse_result
policy_parse_request(const char *buf, size_t len, struct policy_request *req,
		     size_t *consumed_r, const char **error_r);

/* The answer to a request, "action=...\n\n", written to out. Only RCPT
   requests are routed: unknown recipients are rejected (reject policy) or
   verified (verify policy), a store that cannot answer defers, and the
   rest is DUNNO: the transport lookup does the routing. */
size_t policy_answer(struct policyd *d, const struct policy_request *req,
		     char *out, size_t out_size);

#endif
