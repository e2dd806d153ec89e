/* Policy delegation request parsing (see policy.h). */

#include "policy.h"
#include "log.h"
#include "protocol.h"
#include "route.h"

#include <stdio.h>
#include <string.h>

/* The attributes we act on; the rest are checked and skipped. */
static const char **attribute_slot(struct policy_request *req,
				   const char *name, size_t name_len)
{
	static const struct {
		const char *name;
		size_t offset;
	} wanted[] = {
		{ "request", offsetof(struct policy_request, request) },
		{ "protocol_state", offsetof(struct policy_request, protocol_state) },
		{ "recipient", offsetof(struct policy_request, recipient) },
		{ "instance", offsetof(struct policy_request, instance) },
	};
	size_t i;

	for (i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
		if (strlen(wanted[i].name) == name_len &&
		    memcmp(wanted[i].name, name, name_len) == 0)
			return (const char **)((char *)req + wanted[i].offset);
	}
	return NULL;
}

static int valid_name(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > POLICY_MAX_NAME)
		return 0;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

static int valid_value(const char *value, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		/* a value is one line: no NUL, no CR (Postfix sends LF) */
		if (c == '\0' || c == '\r')
			return 0;
	}
	return 1;
}

enum policy_parse_result
policy_parse_request(const char *buf, size_t len, struct policy_request *req,
		     size_t *consumed_r, const char **error_r)
{
	const char *end = memchr(buf, '\n', len);
	size_t pos = 0, stored = 0;
	unsigned int count = 0;

	/* storage holds at most one whole request: look no further */
	if (len > POLICY_MAX_REQUEST) {
		len = POLICY_MAX_REQUEST;
		end = memchr(buf, '\n', len);
	}
	memset(req, 0, offsetof(struct policy_request, storage));
	while (end != NULL) {
		size_t line_len = (size_t)(end - (buf + pos));
		const char *line = buf + pos, *eq;
		const char **slot;

		if (line_len == 0) {
			*consumed_r = pos + 1;
			return POLICY_PARSE_OK;
		}
		eq = memchr(line, '=', line_len);
		if (eq == NULL || !valid_name(line, (size_t)(eq - line))) {
			*error_r = "malformed attribute line (expected name=value)";
			return POLICY_PARSE_ERROR;
		}
		if (!valid_value(eq + 1, line_len - (size_t)(eq + 1 - line))) {
			*error_r = "control character in attribute value";
			return POLICY_PARSE_ERROR;
		}
		if (++count > POLICY_MAX_ATTRIBUTES) {
			*error_r = "too many attributes";
			return POLICY_PARSE_ERROR;
		}
		slot = attribute_slot(req, line, (size_t)(eq - line));
		if (slot != NULL) {
			size_t vlen = line_len - (size_t)(eq + 1 - line);

			/* storage is as large as a whole request: it fits */
			memcpy(req->storage + stored, eq + 1, vlen);
			req->storage[stored + vlen] = '\0';
			*slot = req->storage + stored;
			stored += vlen + 1;
		}
		pos += line_len + 1;
		end = memchr(buf + pos, '\n', len - pos);
	}
	if (len >= POLICY_MAX_REQUEST) {
		*error_r = "request longer than allowed";
		return POLICY_PARSE_ERROR;
	}
	return POLICY_PARSE_INCOMPLETE;
}

static const char *rcpt_action(struct policyd *d, const struct policy_request *req)
{
	struct route r;

	if (req->request == NULL || strcmp(req->request, "smtpd_access_policy") != 0 ||
	    req->protocol_state == NULL || strcmp(req->protocol_state, "RCPT") != 0 ||
	    req->recipient == NULL)
		return "DUNNO";
	route_lookup(d, req->recipient, &r);
	switch (r.kind) {
	case ROUTE_REJECT:
		/* Postfix puts "<rcpt>: Recipient address rejected: " first */
		return "550 5.1.1 User unknown in a migrating domain";
	case ROUTE_VERIFY:
		/* Postfix probes the legacy host (address_verify_*) */
		return "reject_unverified_recipient";
	case ROUTE_TEMP:
		return "DEFER_IF_PERMIT 4.3.0 Migration routing unavailable";
	case ROUTE_OTHER:
	case ROUTE_LOCAL:
	case ROUTE_LEGACY:
		break;
	}
	return "DUNNO";
}

size_t policy_answer(struct policyd *d, const struct policy_request *req,
		     char *out, size_t out_size)
{
	const char *action = rcpt_action(d, req);
	int n = snprintf(out, out_size, "action=%s\n\n", action);

	if (req->recipient != NULL)
		log_debug("policy %s %s: %s", req->protocol_state != NULL ?
			  req->protocol_state : "-", req->recipient, action);
	return n < 0 || (size_t)n >= out_size ? 0 : (size_t)n;
}

static ssize_t policy_serve(struct policyd *d, const char *in, size_t in_len,
			    char *out, size_t *out_len_r, const char **error_r)
{
	static struct policy_request req; /* 16 KiB: not on the stack */
	size_t consumed;

	switch (policy_parse_request(in, in_len, &req, &consumed, error_r)) {
	case POLICY_PARSE_INCOMPLETE:
		return 0;
	case POLICY_PARSE_ERROR:
		return -1;
	case POLICY_PARSE_OK:
		break;
	}
	*out_len_r = policy_answer(d, &req, out, PROTOCOL_REPLY_ROOM);
	return (ssize_t)consumed;
}

const struct protocol protocol_policy = {
	.name = "policy",
	.max_request = POLICY_MAX_REQUEST,
	.serve = policy_serve,
};
