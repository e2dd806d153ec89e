#ifndef NETSTRING_H
#define NETSTRING_H

/* Netstrings ("LEN:DATA,", D. J. Bernstein), the framing of Postfix's
   socketmap protocol (socketmap_table(5)). */

#include <stddef.h>

enum netstring_result {
	NETSTRING_OK,		/* one whole netstring was decoded */
	NETSTRING_INCOMPLETE,	/* valid so far, more bytes needed */
	NETSTRING_ERROR,	/* malformed or longer than allowed */
};

/* Decodes the netstring at the start of buf. On NETSTRING_OK, *data_r and
   *data_len_r point into buf and *consumed_r is its whole length; on
   NETSTRING_ERROR, *error_r says why. A length above max_len is an error as
   soon as its digits are read, so a peer cannot make us buffer it. */
enum netstring_result
netstring_decode(const char *buf, size_t len, size_t max_len,
		 const char **data_r, size_t *data_len_r, size_t *consumed_r,
		 const char **error_r);

/* Writes data as a netstring into out (size out_size). Returns the encoded
   length, or 0 if it does not fit. */
size_t netstring_encode(char *out, size_t out_size,
			const char *data, size_t data_len);

#endif
