/* The TLS relay for pop3c, see migrate-pop3-relay.h. Plain C and OpenSSL:
   it runs in forked processes that never return to Dovecot's code. */

#include "migrate-pop3-relay.h"
#include "migrate-config.h"
#include "legacy-conn.h"

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

static void relay_target(const struct migrate_pop3_relay_target *target,
			 struct legacy_conn_target *conn_r)
{
	memset(conn_r, 0, sizeof(*conn_r));
	conn_r->host = target->host;
	conn_r->port = target->port;
	conn_r->verify = target->verify;
	conn_r->ca_file = target->ca_file;
	conn_r->timeout_msecs = RELAY_CONNECT_TIMEOUT_MSECS;
}

static bool relay_write_all(int fd, const void *data, size_t size)
{
	struct legacy_conn conn = { .fd = fd };

	return legacy_conn_write(&conn, data, size);
}

/* STLS on a fresh connection; the server's greeting is kept for pop3c.
   The greeting is passed on as it is when it is no +OK. */
static int relay_starttls(const struct migrate_pop3_relay_target *target,
			  int legacy_fd, int client_fd, char *greeting,
			  size_t size)
{
	struct legacy_conn conn = {
		.fd = legacy_fd, .timeout_msecs = RELAY_CONNECT_TIMEOUT_MSECS,
	};
	char reply[RELAY_LINE_MAX];

	if (legacy_conn_read_line(&conn, greeting, size - 2) < 0) {
		relay_log(target, "no greeting");
		return -1;
	}
	if (strncmp(greeting, "+OK", 3) != 0) {
		strcat(greeting, "\r\n");
		(void)relay_write_all(client_fd, greeting, strlen(greeting));
		return -1;
	}
	if (!legacy_conn_write(&conn, "STLS\r\n", 6) ||
	    legacy_conn_read_line(&conn, reply, sizeof(reply)) < 0) {
		relay_log(target, "no reply to STLS");
		return -1;
	}
	if (strncmp(reply, "+OK", 3) != 0) {
		relay_log(target, "STLS refused: %s", legacy_conn_printable(reply));
		return -1;
	}
	strcat(greeting, "\r\n");
	return 0;
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
			relay_log(target, "TLS read failed: %s", legacy_conn_ssl_error());
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
	char greeting[RELAY_LINE_MAX + 2] = "", error[512];
	struct legacy_conn_target conn_target;
	SSL_CTX *ctx;
	SSL *ssl = NULL;
	int legacy_fd;

	relay_target(target, &conn_target);
	if ((legacy_fd = legacy_conn_connect(&conn_target, error, sizeof(error))) < 0) {
		relay_log(target, "%s", error);
		return;
	}
	if (target->starttls &&
	    relay_starttls(target, legacy_fd, client_fd, greeting, sizeof(greeting)) < 0) {
		close(legacy_fd);
		return;
	}
	if ((ctx = legacy_conn_ssl_ctx(&conn_target, error, sizeof(error))) == NULL)
		relay_log(target, "%s", error);
	else {
		ssl = legacy_conn_handshake(&conn_target, ctx, legacy_fd, error, sizeof(error));
		if (ssl == NULL)
			relay_log(target, "%s", error);
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
