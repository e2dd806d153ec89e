/* The TLS relay for pop3c, see migrate-pop3-relay.h. Plain C and OpenSSL:
   it runs in forked processes that never return to Dovecot's code. */

#include "migrate-pop3-relay.h"
#include "migrate-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* RFC 1939: a reply line is at most 512 octets with its CRLF */
#define RELAY_LINE_MAX 512
#define RELAY_CONNECT_TIMEOUT_MSECS (30 * 1000)
/* pop3c's own command timeout is shorter: this only ends connections
   whose client is gone without closing them */
#define RELAY_IDLE_TIMEOUT_MSECS (30 * 60 * 1000)
#define RELAY_BUF_SIZE 16384

bool migrate_pop3_relay_target(const struct migrate_domain *domain,
			       struct migrate_pop3_relay_target *target_r)
{
	if (domain->tls == MIGRATE_TLS_NONE)
		return false;
	memset(target_r, 0, sizeof(*target_r));
	target_r->host = domain->legacy_host;
	target_r->port = domain->pop3_port;
	target_r->starttls = domain->tls == MIGRATE_TLS_STARTTLS;
	target_r->verify = domain->tls_verify;
	target_r->ca_file = domain->ca_file;
	return true;
}

static void relay_log(const struct migrate_pop3_relay_target *target,
		      const char *fmt, ...)
{
	char msg[600];
	va_list args;

	va_start(args, fmt);
	vsnprintf(msg, sizeof(msg), fmt, args);
	va_end(args);
	/* one write, so that lines of parallel relays do not interleave;
	   "Error: " marks the line a failed step's reason is taken from */
	dprintf(STDERR_FILENO, "dovecot-migrate: Error: POP3 TLS relay to %s:%u: %s\n",
		target->host, target->port, msg);
}

static const char *relay_ssl_error(void)
{
	static char buf[256];
	unsigned long code = ERR_get_error();

	if (code == 0)
		return "connection closed";
	ERR_error_string_n(code, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static int relay_connect(const struct migrate_pop3_relay_target *target)
{
	struct addrinfo hints, *res, *ai;
	char port[6];
	int fd = -1, ret, err = EADDRNOTAVAIL;
	socklen_t len = sizeof(err);
	struct pollfd pfd;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", target->port);
	if ((ret = getaddrinfo(target->host, port, &hints, &res)) != 0) {
		relay_log(target, "cannot resolve the host: %s", gai_strerror(ret));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		err = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
		if (err == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, RELAY_CONNECT_TIMEOUT_MSECS) <= 0)
				err = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				err = errno;
		}
		if (err != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		relay_log(target, "connect failed: %s", strerror(err));
		return -1;
	}
	/* blocking from here: reads and writes wait, poll says when */
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/* One CRLF-ended line of the plain exchange before STLS, without its
   CRLF. -1 on a closed connection, a timeout or an overlong line. */
static int relay_read_line(int fd, char *line, size_t size)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	char c;

	while (len + 1 < size) {
		if (poll(&pfd, 1, RELAY_CONNECT_TIMEOUT_MSECS) <= 0 ||
		    read(fd, &c, 1) != 1)
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

static bool relay_write_all(int fd, const void *data, size_t size)
{
	const char *p = data;
	ssize_t ret;

	while (size > 0) {
		ret = send(fd, p, size, MSG_NOSIGNAL);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0)
			return false;
		p += ret;
		size -= ret;
	}
	return true;
}

/* A reply line fit for a log: printable ASCII, shortened. */
static const char *relay_printable(char *line)
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

/* STLS on a fresh connection; the server's greeting is kept for pop3c.
   The greeting is passed on as it is when it is no +OK. */
static int relay_starttls(const struct migrate_pop3_relay_target *target,
			  int legacy_fd, int client_fd, char *greeting,
			  size_t size)
{
	char reply[RELAY_LINE_MAX];

	if (relay_read_line(legacy_fd, greeting, size - 2) < 0) {
		relay_log(target, "no greeting");
		return -1;
	}
	if (strncmp(greeting, "+OK", 3) != 0) {
		strcat(greeting, "\r\n");
		(void)relay_write_all(client_fd, greeting, strlen(greeting));
		return -1;
	}
	if (!relay_write_all(legacy_fd, "STLS\r\n", 6) ||
	    relay_read_line(legacy_fd, reply, sizeof(reply)) < 0) {
		relay_log(target, "no reply to STLS");
		return -1;
	}
	if (strncmp(reply, "+OK", 3) != 0) {
		relay_log(target, "STLS refused: %s", relay_printable(reply));
		return -1;
	}
	strcat(greeting, "\r\n");
	return 0;
}

static SSL_CTX *relay_ssl_ctx(const struct migrate_pop3_relay_target *target)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	/* a record of a session ticket alone must not block the relay in
	   SSL_read while pop3c waits to send */
	SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
	if (target->verify) {
		if ((target->ca_file != NULL ?
		     SSL_CTX_load_verify_locations(ctx, target->ca_file, NULL) :
		     SSL_CTX_set_default_verify_paths(ctx)) != 1) {
			relay_log(target, "cannot load the CA file %s: %s",
				  target->ca_file != NULL ? target->ca_file :
				  "(system default)", relay_ssl_error());
			SSL_CTX_free(ctx);
			return NULL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	return ctx;
}

static SSL *relay_handshake(const struct migrate_pop3_relay_target *target,
			    SSL_CTX *ctx, int fd)
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
		relay_log(target, "TLS setup failed: %s", relay_ssl_error());
		SSL_free(ssl);
		return NULL;
	}
	if (SSL_connect(ssl) != 1) {
		verify = SSL_get_verify_result(ssl);
		if (verify != X509_V_OK) {
			relay_log(target, "TLS handshake failed: certificate "
				  "not trusted: %s", X509_verify_cert_error_string(verify));
		} else {
			relay_log(target, "TLS handshake failed: %s",
				  relay_ssl_error());
		}
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/* TRUE while the connection goes on. */
static bool relay_to_legacy(int client_fd, SSL *ssl)
{
	char buf[RELAY_BUF_SIZE];
	ssize_t ret = read(client_fd, buf, sizeof(buf));
	size_t done = 0;
	int n;

	if (ret <= 0)
		return ret < 0 && errno == EINTR;
	while (done < (size_t)ret) {
		n = SSL_write(ssl, buf + done, ret - done);
		if (n > 0)
			done += n;
		else if (SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ &&
			 SSL_get_error(ssl, n) != SSL_ERROR_WANT_WRITE)
			return false;
	}
	return true;
}

static bool relay_to_client(const struct migrate_pop3_relay_target *target,
			    SSL *ssl, int client_fd)
{
	char buf[RELAY_BUF_SIZE];
	int n = SSL_read(ssl, buf, sizeof(buf));

	if (n > 0)
		return relay_write_all(client_fd, buf, n);
	switch (SSL_get_error(ssl, n)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return true;
	case SSL_ERROR_ZERO_RETURN:
		return false;
	default:
		if (ERR_peek_error() != 0)
			relay_log(target, "TLS read failed: %s", relay_ssl_error());
		return false;
	}
}

/* Bytes both ways until one side closes. SSL_pending: the record layer
   may hold a reply no poll() will announce, pop3c's own trouble. */
static void relay_pump(const struct migrate_pop3_relay_target *target,
		       int client_fd, int legacy_fd, SSL *ssl)
{
	struct pollfd pfd[2] = {
		{ .fd = client_fd, .events = POLLIN },
		{ .fd = legacy_fd, .events = POLLIN },
	};
	int ret;

	for (;;) {
		if (SSL_pending(ssl) > 0) {
			if (!relay_to_client(target, ssl, client_fd))
				return;
			continue;
		}
		ret = poll(pfd, 2, RELAY_IDLE_TIMEOUT_MSECS);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0)
			return;
		if (pfd[1].revents != 0 && !relay_to_client(target, ssl, client_fd))
			return;
		if (pfd[0].revents != 0 && !relay_to_legacy(client_fd, ssl))
			return;
	}
}

static void relay_connection(const struct migrate_pop3_relay_target *target,
			     int client_fd)
{
	char greeting[RELAY_LINE_MAX + 2] = "";
	SSL_CTX *ctx;
	SSL *ssl = NULL;
	int legacy_fd = relay_connect(target);

	if (legacy_fd < 0)
		return;
	if ((!target->starttls ||
	     relay_starttls(target, legacy_fd, client_fd, greeting,
			    sizeof(greeting)) == 0) &&
	    (ctx = relay_ssl_ctx(target)) != NULL) {
		ssl = relay_handshake(target, ctx, legacy_fd);
		if (ssl != NULL &&
		    relay_write_all(client_fd, greeting, strlen(greeting))) {
			relay_pump(target, client_fd, legacy_fd, ssl);
			(void)SSL_shutdown(ssl);
		}
		SSL_free(ssl);
		SSL_CTX_free(ctx);
	}
	close(legacy_fd);
}

/* Dies with its parent; the signal dispositions and mask of the
   caller's process are not its own. */
static bool relay_child_init(pid_t parent)
{
	sigset_t none;

	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)signal(SIGTERM, SIG_DFL);
	(void)signal(SIGINT, SIG_DFL);
	(void)signal(SIGHUP, SIG_DFL);
	(void)signal(SIGPIPE, SIG_IGN);
	return prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 && getppid() == parent;
}

static void __attribute__((noreturn))
relay_serve(const struct migrate_pop3_relay_target *target, int listen_fd)
{
	pid_t self = getpid();
	int fd;

	/* connections are reaped by the kernel */
	(void)signal(SIGCHLD, SIG_IGN);
	for (;;) {
		fd = accept(listen_fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			relay_log(target, "accept failed: %s", strerror(errno));
			_exit(1);
		}
		switch (fork()) {
		case -1:
			relay_log(target, "fork failed: %s", strerror(errno));
			break;
		case 0:
			close(listen_fd);
			if (relay_child_init(self))
				relay_connection(target, fd);
			_exit(0);
		}
		close(fd);
	}
}

int migrate_pop3_relay_start(const struct migrate_pop3_relay_target *target,
			     int log_fd, struct migrate_pop3_relay *relay_r,
			     char *error, size_t error_size)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in sin;
	} addr;
	socklen_t len = sizeof(addr.sin);
	pid_t parent = getpid();
	int fd;

	memset(relay_r, 0, sizeof(*relay_r));
	memset(&addr, 0, sizeof(addr));
	addr.sin.sin_family = AF_INET;
	addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, &addr.sa, sizeof(addr.sin)) < 0 ||
	    listen(fd, 16) < 0 || getsockname(fd, &addr.sa, &len) < 0) {
		snprintf(error, error_size, "POP3 TLS relay: cannot listen on "
			 "127.0.0.1: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	relay_r->port = ntohs(addr.sin.sin_port);
	relay_r->pid = fork();
	if (relay_r->pid < 0) {
		snprintf(error, error_size, "POP3 TLS relay: fork failed: %s",
			 strerror(errno));
		close(fd);
		memset(relay_r, 0, sizeof(*relay_r));
		return -1;
	}
	if (relay_r->pid == 0) {
		if (!relay_child_init(parent) ||
		    (log_fd != STDERR_FILENO && dup2(log_fd, STDERR_FILENO) < 0))
			_exit(1);
		/* the caller's descriptors (stores, logs) are not the relay's */
		if (fd != 3 && (dup2(fd, 3) < 0 || close(fd) < 0))
			_exit(1);
		closefrom(4);
		relay_serve(target, 3);
	}
	close(fd);
	return 0;
}

bool migrate_pop3_relay_setting(const struct migrate_pop3_relay *relay,
				unsigned int i, char *buf, size_t size)
{
	switch (i) {
	case 0:
		snprintf(buf, size, "pop3c_host=127.0.0.1");
		return true;
	case 1:
		snprintf(buf, size, "pop3c_port=%u", relay->port);
		return true;
	case 2:
		snprintf(buf, size, "pop3c_ssl=no");
		return true;
	}
	return false;
}

void migrate_pop3_relay_stop(struct migrate_pop3_relay *relay)
{
	if (relay->pid <= 0)
		return;
	/* its connections follow it: their parent death signal */
	(void)kill(relay->pid, SIGKILL);
	while (waitpid(relay->pid, NULL, 0) < 0 && errno == EINTR) ;
	relay->pid = 0;
}
