/* socketmap request parsing and answering (see socketmap.h). */

#include "dovecot-migrate-config.h"
#include "socketmap.h"
#include "log.h"
#include "netstring.h"
#include "protocol.h"
#include "route.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef size_t socketmap_lookup_fn(struct policyd *d, const char *key,
				   char *out, size_t out_size);

struct socketmap_table {
	const char *name;
	socketmap_lookup_fn *lookup;
};

static size_t reply(char *out, size_t out_size, const char *status,
		    const char *text)
{
	int n = snprintf(out, out_size, "%s %s", status, text);

	if (n < 0)
		return 0;
	return (size_t)n < out_size ? (size_t)n : out_size - 1;
}

/* "health" answers any key with the daemon's version, so operators and
   monitoring can check that Postfix reaches a live daemon:
   postmap -q ping socketmap:unix:PATH:health */
static size_t lookup_health(struct policyd *d, const char *key, char *out, size_t out_size)
{
	(void)d;
	(void)key;
	return reply(out, out_size, "OK", "dovecot-migrate " MIGRATE_VERSION);
}

static size_t temp(char *out, size_t out_size)
{
	return reply(out, out_size, "TEMP", "migration routing store unavailable");
}

static size_t lookup_transport(struct policyd *d, const char *key, char *out, size_t out_size)
{
	struct route r;
	char nexthop[512];

	route_lookup(d, key, &r);
	switch (r.kind) {
	case ROUTE_OTHER:
		return reply(out, out_size, "NOTFOUND", "");
	case ROUTE_LOCAL:
		return reply(out, out_size, "OK", d->config->lmtp_transport);
	case ROUTE_TEMP:
		return temp(out, out_size);
	case ROUTE_LEGACY:
	case ROUTE_REJECT:
	case ROUTE_VERIFY:
		break;
	}
	/* brackets: no MX lookup, the MX already points here. Unknown
	   recipients that get this far are the legacy host's to refuse. */
	snprintf(nexthop, sizeof(nexthop), "smtp:[%s]:%u",
		 r.domain->legacy_host, r.domain->smtp_port);
	return reply(out, out_size, "OK", nexthop);
}

/* virtual_mailbox_maps and relay_recipient_maps: may Postfix accept it? */
static size_t lookup_recipient(struct policyd *d, const char *key, char *out, size_t out_size)
{
	struct route r;

	route_lookup(d, key, &r);
	switch (r.kind) {
	case ROUTE_OTHER:
	case ROUTE_REJECT:
		return reply(out, out_size, "NOTFOUND", "");
	case ROUTE_TEMP:
		return temp(out, out_size);
	case ROUTE_LOCAL:
	case ROUTE_LEGACY:
	case ROUTE_VERIFY:
		break;
	}
	return reply(out, out_size, "OK", r.account);
}

static size_t lookup_alias(struct policyd *d, const char *key, char *out, size_t out_size)
{
	struct route r;

	route_lookup(d, key, &r);
	if (r.kind == ROUTE_TEMP)
		return temp(out, out_size);
	if (!r.via_alias)
		return reply(out, out_size, "NOTFOUND", "");
	return reply(out, out_size, "OK", r.account);
}

static const struct socketmap_table tables[] = {
	{ "transport", lookup_transport },
	{ "mailbox", lookup_recipient },
	{ "relay", lookup_recipient },
	{ "alias", lookup_alias },
	{ "health", lookup_health },
};

static bool valid_map_name(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > 64)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

int socketmap_parse_request(const char *data, size_t len,
			    char *buf, size_t buf_size,
			    struct socketmap_request *req_r,
			    const char **error_r)
{
	const char *space = memchr(data, ' ', len);
	size_t name_len, i;

	if (len + 1 > buf_size) {
		*error_r = "request too long";
		return -1;
	}
	if (space == NULL) {
		*error_r = "request has no space between name and key";
		return -1;
	}
	name_len = (size_t)(space - data);
	if (!valid_map_name(data, name_len)) {
		*error_r = "invalid map name";
		return -1;
	}
	if (name_len + 1 == len) {
		*error_r = "empty lookup key";
		return -1;
	}
	for (i = name_len + 1; i < len; i++) {
		/* keys are addresses or domains: no controls, no NULs */
		if ((unsigned char)data[i] < 0x20 || data[i] == 0x7f) {
			*error_r = "control character in lookup key";
			return -1;
		}
	}
	memcpy(buf, data, len);
	buf[len] = '\0';
	buf[name_len] = '\0';
	req_r->name = buf;
	req_r->key = buf + name_len + 1;
	return 0;
}

size_t socketmap_answer(struct policyd *d, const struct socketmap_request *req,
			char *out, size_t out_size)
{
	size_t i, len;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		if (strcmp(tables[i].name, req->name) == 0) {
			len = tables[i].lookup(d, req->key, out, out_size);
			log_debug("socketmap %s %s: %.*s", req->name, req->key, (int)len, out);
			return len;
		}
	}
	/* Postfix defers on PERM: a misconfigured map name never bounces */
	return reply(out, out_size, "PERM", "unknown map name");
}

static ssize_t socketmap_serve(struct policyd *d, const char *in, size_t in_len,
			       char *out, size_t *out_len_r, const char **error_r)
{
	char request_buf[SOCKETMAP_MAX_REQUEST + 1], reply_buf[1024];
	struct socketmap_request req;
	const char *data;
	size_t data_len, consumed, reply_len;

	switch (netstring_decode(in, in_len, SOCKETMAP_MAX_REQUEST, &data, &data_len,
				 &consumed, error_r)) {
	case NETSTRING_INCOMPLETE:
		return 0;
	case NETSTRING_ERROR:
		return -1;
	case NETSTRING_OK:
		break;
	}
	if (socketmap_parse_request(data, data_len, request_buf, sizeof(request_buf),
				    &req, error_r) < 0)
		return -1;
	reply_len = socketmap_answer(d, &req, reply_buf, sizeof(reply_buf));
	*out_len_r = netstring_encode(out, PROTOCOL_REPLY_ROOM, reply_buf, reply_len);
	return (ssize_t)consumed;
}

const struct protocol protocol_socketmap = {
	.name = "socketmap",
	.max_request = SOCKETMAP_MAX_REQUEST + 16,	/* + the length prefix */
	.serve = socketmap_serve,
};
