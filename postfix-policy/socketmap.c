/* socketmap request parsing and answering (see socketmap.h). */

#include "dovecot-migrate-config.h"
#include "socketmap.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef size_t socketmap_lookup_fn(const char *key, char *out, size_t out_size);

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
static size_t lookup_health(const char *key, char *out, size_t out_size)
{
	(void)key;
	return reply(out, out_size, "OK", "dovecot-migrate " MIGRATE_VERSION);
}

static const struct socketmap_table tables[] = {
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

size_t socketmap_answer(const struct socketmap_request *req,
			char *out, size_t out_size)
{
	size_t i;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		if (strcmp(tables[i].name, req->name) == 0)
			return tables[i].lookup(req->key, out, out_size);
	}
	/* Postfix defers on PERM: a misconfigured map name never bounces */
	return reply(out, out_size, "PERM", "unknown map name");
}
