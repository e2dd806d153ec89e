/* Netstring framing for the socketmap protocol (see netstring.h). */

#include "netstring.h"

#include <stdio.h>
#include <string.h>

/* A length prefix longer than this many digits cannot be a sane request. */
#define NETSTRING_MAX_DIGITS 9

enum netstring_result
netstring_decode(const char *buf, size_t len, size_t max_len,
		 const char **data_r, size_t *data_len_r, size_t *consumed_r,
		 const char **error_r)
{
	size_t i, data_len = 0;

	for (i = 0; i < len && buf[i] != ':'; i++) {
		if (buf[i] < '0' || buf[i] > '9') {
			*error_r = "netstring length is not a number";
			return NETSTRING_ERROR;
		}
		if (i == NETSTRING_MAX_DIGITS || (i > 0 && buf[0] == '0')) {
			*error_r = "netstring length is malformed";
			return NETSTRING_ERROR;
		}
		data_len = data_len * 10 + (size_t)(buf[i] - '0');
		if (data_len > max_len) {
			*error_r = "netstring is longer than allowed";
			return NETSTRING_ERROR;
		}
	}
	if (i == len)
		return NETSTRING_INCOMPLETE;
	if (i == 0) {
		*error_r = "netstring length is missing";
		return NETSTRING_ERROR;
	}
	i++; /* ':' */
	if (len - i < data_len + 1)
		return NETSTRING_INCOMPLETE;
	if (buf[i + data_len] != ',') {
		*error_r = "netstring is not terminated by ','";
		return NETSTRING_ERROR;
	}
	*data_r = buf + i;
	*data_len_r = data_len;
	*consumed_r = i + data_len + 1;
	return NETSTRING_OK;
}

size_t netstring_encode(char *out, size_t out_size,
			const char *data, size_t data_len)
{
	int prefix = snprintf(out, out_size, "%zu:", data_len);

	if (prefix < 0 || (size_t)prefix + data_len + 1 > out_size)
		return 0;
	memcpy(out + prefix, data, data_len);
	out[prefix + data_len] = ',';
	return (size_t)prefix + data_len + 1;
}
