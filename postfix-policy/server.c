/* epoll event loop of migrate-policyd (see server.h). */

#include "server.h"
#include "log.h"
#include "netstring.h"
#include "socketmap.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Beyond this many clients new ones are closed at once: Postfix reuses its
   connections, so this only bites a runaway or hostile peer. */
#define MAX_CONNECTIONS 4096
/* Room for one maximal request and its netstring prefix. */
#define INBUF_SIZE (SOCKETMAP_MAX_REQUEST + 16)
/* Pipelined replies are buffered up to this much; beyond it we stop
   reading that client until it has read its answers. */
#define OUTBUF_SIZE (64 * 1024)
#define DRAIN_TIMEOUT_MS 5000

struct connection {
	struct connection *prev, *next;
	int fd;
	char in[INBUF_SIZE];
	size_t in_len;
	char out[OUTBUF_SIZE];
	size_t out_len, out_pos;
};

struct server {
	int epoll_fd, signal_fd, socketmap_fd;
	struct connection *connections;
	unsigned int connection_count;
	bool stopping;
};

/* epoll data: listeners and the signalfd are tagged by these pointers,
   connections by their own struct. */
static char tag_socketmap, tag_signal;

static int epoll_update(struct server *server, int op, int fd,
			uint32_t events, void *ptr)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = ptr;
	return epoll_ctl(server->epoll_fd, op, fd, &ev);
}

struct server *server_create(int socketmap_fd)
{
	struct server *server = calloc(1, sizeof(*server));
	sigset_t mask;

	if (server == NULL)
		abort();
	server->socketmap_fd = socketmap_fd;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	server->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	server->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (server->signal_fd < 0 || server->epoll_fd < 0 ||
	    epoll_update(server, EPOLL_CTL_ADD, socketmap_fd, EPOLLIN, &tag_socketmap) < 0 ||
	    epoll_update(server, EPOLL_CTL_ADD, server->signal_fd, EPOLLIN, &tag_signal) < 0) {
		log_error("event loop setup failed: %s", strerror(errno));
		server_destroy(&server);
		return NULL;
	}
	return server;
}

static void connection_close(struct server *server, struct connection *conn)
{
	if (conn->prev != NULL)
		conn->prev->next = conn->next;
	else
		server->connections = conn->next;
	if (conn->next != NULL)
		conn->next->prev = conn->prev;
	close(conn->fd);
	free(conn);
	server->connection_count--;
}

/* Decodes every complete request in conn->in and queues its reply. Returns
   -1 when the client must be dropped. */
static int connection_handle_input(struct connection *conn)
{
	size_t pos = 0;

	for (;;) {
		const char *data, *error;
		size_t data_len, consumed, reply_len, framed;
		char request_buf[SOCKETMAP_MAX_REQUEST + 1];
		char reply_buf[1024];
		struct socketmap_request req;
		enum netstring_result ret;

		/* keep room for a worst-case framed reply */
		if (OUTBUF_SIZE - conn->out_len < sizeof(reply_buf) + 16)
			break;
		ret = netstring_decode(conn->in + pos, conn->in_len - pos,
				       SOCKETMAP_MAX_REQUEST, &data, &data_len,
				       &consumed, &error);
		if (ret == NETSTRING_INCOMPLETE)
			break;
		if (ret == NETSTRING_ERROR ||
		    socketmap_parse_request(data, data_len, request_buf,
					    sizeof(request_buf), &req, &error) < 0) {
			log_error("socketmap client fd %d: %s: closing connection",
				  conn->fd, error);
			return -1;
		}
		reply_len = socketmap_answer(&req, reply_buf, sizeof(reply_buf));
		framed = netstring_encode(conn->out + conn->out_len,
					  OUTBUF_SIZE - conn->out_len,
					  reply_buf, reply_len);
		if (framed == 0)
			return -1;
		conn->out_len += framed;
		pos += consumed;
	}
	memmove(conn->in, conn->in + pos, conn->in_len - pos);
	conn->in_len -= pos;
	return 0;
}

static int connection_flush(struct connection *conn)
{
	while (conn->out_pos < conn->out_len) {
		ssize_t n = send(conn->fd, conn->out + conn->out_pos,
				 conn->out_len - conn->out_pos, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		conn->out_pos += (size_t)n;
	}
	conn->out_len = conn->out_pos = 0;
	return 0;
}

/* Reads what the client sent, answers it, and re-arms the fd for whatever
   it waits on next. Returns -1 when the connection is to be closed. */
static int connection_io(struct server *server, struct connection *conn,
			 uint32_t events)
{
	bool eof = false;
	uint32_t want;

	if ((events & EPOLLIN) != 0 && conn->in_len < INBUF_SIZE) {
		ssize_t n = recv(conn->fd, conn->in + conn->in_len,
				 INBUF_SIZE - conn->in_len, 0);

		if (n == 0)
			eof = true;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		else if (n > 0)
			conn->in_len += (size_t)n;
	}
	if (connection_handle_input(conn) < 0 || connection_flush(conn) < 0)
		return -1;
	if (conn->in_len == INBUF_SIZE && conn->out_len == 0) {
		log_error("socketmap client fd %d: request exceeds %d bytes: closing connection",
			  conn->fd, SOCKETMAP_MAX_REQUEST);
		return -1;
	}
	if ((eof || (events & (EPOLLHUP | EPOLLERR)) != 0) && conn->out_len == 0)
		return -1;
	/* stop reading while replies are queued: a client that pipelines
	   without reading cannot grow our buffers */
	want = conn->out_len > 0 ? EPOLLOUT : EPOLLIN;
	if (server->stopping && conn->out_len == 0)
		return -1;
	return epoll_update(server, EPOLL_CTL_MOD, conn->fd, want, conn);
}

static void accept_clients(struct server *server, int listen_fd)
{
	for (;;) {
		struct connection *conn;
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_error("accept() failed: %s", strerror(errno));
			return;
		}
		if (server->connection_count >= MAX_CONNECTIONS) {
			log_error("%d connections open: refusing a new one", MAX_CONNECTIONS);
			close(fd);
			continue;
		}
		conn = calloc(1, sizeof(*conn));
		if (conn == NULL)
			abort();
		conn->fd = fd;
		conn->next = server->connections;
		if (conn->next != NULL)
			conn->next->prev = conn;
		server->connections = conn;
		server->connection_count++;
		if (epoll_update(server, EPOLL_CTL_ADD, fd, EPOLLIN, conn) < 0) {
			log_error("epoll_ctl() failed: %s", strerror(errno));
			connection_close(server, conn);
		}
	}
}

static void begin_stop(struct server *server)
{
	struct connection *conn, *next;
	struct signalfd_siginfo info;

	while (read(server->signal_fd, &info, sizeof(info)) == sizeof(info))
		;
	if (server->stopping)
		return;
	server->stopping = true;
	epoll_ctl(server->epoll_fd, EPOLL_CTL_DEL, server->socketmap_fd, NULL);
	/* idle keep-alive clients have nothing to drain */
	for (conn = server->connections; conn != NULL; conn = next) {
		next = conn->next;
		if (conn->out_len == 0)
			connection_close(server, conn);
	}
}

int server_run(struct server *server)
{
	struct epoll_event events[64];
	int timeout = -1;

	while (!server->stopping || server->connection_count > 0) {
		int i, n = epoll_wait(server->epoll_fd, events, 64, timeout);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait() failed: %s", strerror(errno));
			return -1;
		}
		if (n == 0 && server->stopping) {
			log_error("stopping: %u connections did not drain in time",
				  server->connection_count);
			break;
		}
		for (i = 0; i < n; i++) {
			void *ptr = events[i].data.ptr;

			if (ptr == &tag_signal) {
				begin_stop(server);
				timeout = DRAIN_TIMEOUT_MS;
			} else if (ptr == &tag_socketmap) {
				accept_clients(server, server->socketmap_fd);
			} else if (connection_io(server, ptr, events[i].events) < 0) {
				connection_close(server, ptr);
			}
		}
	}
	return 0;
}

void server_destroy(struct server **_server)
{
	struct server *server = *_server;

	if (server == NULL)
		return;
	*_server = NULL;
	while (server->connections != NULL)
		connection_close(server, server->connections);
	if (server->epoll_fd >= 0)
		close(server->epoll_fd);
	if (server->signal_fd >= 0)
		close(server->signal_fd);
	close(server->socketmap_fd);
	free(server);
}
