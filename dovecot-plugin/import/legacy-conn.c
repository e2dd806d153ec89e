/* A blocking connection to a legacy server, see legacy-conn.h. */

#include "legacy-conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

const char *legacy_conn_ssl_error(void)
{
	static char buf[256];
	unsigned long code = ERR_get_error();

	if (code == 0)
		return "connection closed";
	ERR_error_string_n(code, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* One address: 0 connected, else the errno. */
static int connect_one(const struct addrinfo *ai, unsigned int timeout_msecs, int *fd_r)
{
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int fd, err;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	err = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
	if (err == EINPROGRESS) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, (int)timeout_msecs) <= 0)
			err = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
	}
	if (err != 0) {
		close(fd);
		return err;
	}
	/* blocking from here: reads and writes wait, poll says when */
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	*fd_r = fd;
	return 0;
}

int legacy_conn_connect(const struct legacy_conn_target *target,
			char *error, size_t error_size)
{
	struct addrinfo hints, *res, *ai;
	char port[6];
	int fd = -1, ret, err = EADDRNOTAVAIL;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", target->port);
	if ((ret = getaddrinfo(target->host, port, &hints, &res)) != 0) {
		snprintf(error, error_size, "cannot resolve the host: %s", gai_strerror(ret));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
		err = connect_one(ai, target->timeout_msecs, &fd);
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(error, error_size, "connect failed: %s", strerror(err));
		return -1;
	}
	return fd;
}

SSL_CTX *legacy_conn_ssl_ctx(const struct legacy_conn_target *target,
			     char *error, size_t error_size)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		snprintf(error, error_size, "TLS setup failed: %s", legacy_conn_ssl_error());
		return NULL;
	}
	SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
	if (target->verify) {
		if ((target->ca_file != NULL ?
		     SSL_CTX_load_verify_locations(ctx, target->ca_file, NULL) :
		     SSL_CTX_set_default_verify_paths(ctx)) != 1) {
			snprintf(error, error_size, "cannot load the CA file %s: %s",
				 target->ca_file != NULL ? target->ca_file :
				 "(system default)", legacy_conn_ssl_error());
			SSL_CTX_free(ctx);
			return NULL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	return ctx;
}

SSL *legacy_conn_handshake(const struct legacy_conn_target *target,
			   SSL_CTX *ctx, int fd, char *error, size_t error_size)
{
	struct in6_addr addr;
	bool is_ip = inet_pton(AF_INET, target->host, &addr) == 1 ||
		inet_pton(AF_INET6, target->host, &addr) == 1;
	SSL *ssl = SSL_new(ctx);
	long verify;

	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    (!is_ip && SSL_set_tlsext_host_name(ssl, target->host) != 1) ||
	    (target->verify && (is_ip ?
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), target->host) :
		SSL_set1_host(ssl, target->host)) != 1)) {
		snprintf(error, error_size, "TLS setup failed: %s", legacy_conn_ssl_error());
		SSL_free(ssl);
		return NULL;
	}
	if (SSL_connect(ssl) != 1) {
		verify = SSL_get_verify_result(ssl);
		if (verify != X509_V_OK) {
			snprintf(error, error_size, "TLS handshake failed: certificate "
				 "not trusted: %s", X509_verify_cert_error_string(verify));
		} else {
			snprintf(error, error_size, "TLS handshake failed: %s",
				 legacy_conn_ssl_error());
		}
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/* One byte: 1, or -1 on a closed connection, an error or a timeout. */
static int read_byte(struct legacy_conn *conn, char *c)
{
	struct pollfd pfd = { .fd = conn->fd, .events = POLLIN };
	int n;

	for (;;) {
		if ((conn->ssl == NULL || SSL_pending(conn->ssl) == 0) &&
		    poll(&pfd, 1, (int)conn->timeout_msecs) <= 0)
			return -1;
		if (conn->ssl == NULL)
			return read(conn->fd, c, 1) == 1 ? 1 : -1;
		n = SSL_read(conn->ssl, c, 1);
		if (n == 1)
			return 1;
		/* a record without application data (a session ticket) */
		if (SSL_get_error(conn->ssl, n) != SSL_ERROR_WANT_READ)
			return -1;
	}
}

int legacy_conn_read_line(struct legacy_conn *conn, char *line, size_t size)
{
	size_t len = 0;
	char c;

	while (len + 1 < size) {
		if (read_byte(conn, &c) < 0)
			return -1;
		if (c == '\n') {
			if (len > 0 && line[len - 1] == '\r')
				len--;
			line[len] = '\0';
			return 0;
		}
		line[len++] = c;
	}
	return -1;
}

bool legacy_conn_write(struct legacy_conn *conn, const void *data, size_t size)
{
	const char *p = data;
	ssize_t ret;

	while (size > 0) {
		if (conn->ssl != NULL)
			ret = SSL_write(conn->ssl, p, (int)size);
		else
			ret = send(conn->fd, p, size, MSG_NOSIGNAL);
		if (ret < 0 && conn->ssl == NULL && errno == EINTR)
			continue;
		if (ret <= 0)
			return false;
		p += ret;
		size -= (size_t)ret;
	}
	return true;
}

const char *legacy_conn_printable(char *line)
{
	char *p;

	for (p = line; *p != '\0'; p++) {
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	}
	if (p - line > 80)
		strcpy(line + 77, "...");
	return line;
}
