#ifndef LEGACY_CONN_H
#define LEGACY_CONN_H

/* A blocking connection to a legacy server, in plain C and OpenSSL: the
   POP3 TLS relay (forked processes that never return to Dovecot's code)
   and `doveadm migrate check` use it. Connect with a timeout, bounded
   lines (plain or over TLS), writes, and a TLS handshake that checks the
   certificate the way the domain says (ca_file or the system's store, the
   host's name or address). Errors are short printable text. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct legacy_conn_target {
	const char *host;
	uint16_t port;
	bool verify;
	/* NULL: the system's trust store */
	const char *ca_file;
	unsigned int timeout_msecs;
};

struct legacy_conn {
	int fd;
	SSL *ssl;	/* NULL until legacy_conn_start_tls() */
	unsigned int timeout_msecs;
};

/* A connected, blocking socket, or -1 with error filled. */
int legacy_conn_connect(const struct legacy_conn_target *target,
			char *error, size_t error_size);
/* The client context for target (AUTO_RETRY off, so that a session
   ticket alone never blocks a relay's read); NULL with error filled. */
SSL_CTX *legacy_conn_ssl_ctx(const struct legacy_conn_target *target,
			     char *error, size_t error_size);
/* The handshake on fd: SNI, the certificate checked against the host's
   name or address when target->verify; NULL with error filled (which
   says why a certificate was not trusted). */
SSL *legacy_conn_handshake(const struct legacy_conn_target *target,
			   SSL_CTX *ctx, int fd, char *error, size_t error_size);

/* One CRLF-ended line without its CRLF; -1 on a closed connection, a
   timeout, or a line that does not fit in size. */
int legacy_conn_read_line(struct legacy_conn *conn, char *line, size_t size);
bool legacy_conn_write(struct legacy_conn *conn, const void *data, size_t size);
/* A server's line fit for a log: printable ASCII, at most 80 chars. */
const char *legacy_conn_printable(char *line);
/* The last OpenSSL error as text (static buffer), cleared. */
const char *legacy_conn_ssl_error(void);

#endif
