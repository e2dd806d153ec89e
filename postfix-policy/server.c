/* epoll event loop of migrate-policyd (see server.h). */

#include "server.h"
#include "log.h"
#include "policyd.h"
#include "protocol.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* Beyond this many clients new ones are closed at once: Postfix reuses its
   connections, so this only bites a runaway or hostile peer. */
#define MAX_CONNECTIONS 4096
#define MAX_LISTENERS 4
/* Pipelined replies are buffered up to this much; beyond it we stop
   reading that client until it has read its answers. */
#define OUTBUF_SIZE (8 * 1024)
#define DRAIN_TIMEOUT_MS 5000
/* Input buffers start this small and grow up to the protocol's maximum:
   Postfix's requests are a few hundred bytes, and hundreds of idle
   keep-alive clients should not cost 16 KiB each. */
#define INBUF_INITIAL 1024

enum tag_kind { TAG_LISTENER, TAG_SIGNAL, TAG_TIMER, TAG_CONNECTION };

struct tag {
	enum tag_kind kind;
};

struct listener {
	struct tag tag;
	int fd;
	const struct protocol *proto;
};

struct connection {
	struct tag tag;
	struct connection *prev, *next;
	const struct protocol *proto;
	int fd;
	size_t in_len, in_size, out_len, out_pos;
	char *in;
	char out[OUTBUF_SIZE];
};

struct server {
	struct policyd *d;
	const char *config_path;
	int epoll_fd;
	struct tag signal_tag, timer_tag;
	int signal_fd, timer_fd;
	struct listener listeners[MAX_LISTENERS];
	unsigned int listener_count;
	struct connection *connections;
	unsigned int connection_count;
	bool stop_requested, stopping;
};

static int epoll_update(struct server *server, int op, int fd,
			uint32_t events, void *ptr)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = ptr;
	return epoll_ctl(server->epoll_fd, op, fd, &ev);
}

struct server *server_create(struct policyd *d, const char *config_path)
{
	struct server *server = calloc(1, sizeof(*server));
	sigset_t mask;

	if (server == NULL)
		abort();
	server->signal_fd = server->timer_fd = server->epoll_fd = -1;
	server->d = d;
	server->config_path = config_path;
	server->signal_tag.kind = TAG_SIGNAL;
	server->timer_tag.kind = TAG_TIMER;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	/* a client gone mid-write must not kill us */
	signal(SIGPIPE, SIG_IGN);
	server->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	server->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	server->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (server->signal_fd < 0 || server->timer_fd < 0 || server->epoll_fd < 0 ||
	    epoll_update(server, EPOLL_CTL_ADD, server->signal_fd, EPOLLIN, &server->signal_tag) < 0 ||
	    epoll_update(server, EPOLL_CTL_ADD, server->timer_fd, EPOLLIN, &server->timer_tag) < 0) {
		log_error("event loop setup failed: %s", strerror(errno));
		server_destroy(&server);
		return NULL;
	}
	return server;
}

int server_listen(struct server *server, int listen_fd, const struct protocol *proto)
{
	struct listener *l;

	if (server->listener_count == MAX_LISTENERS) {
		close(listen_fd);
		return -1;
	}
	l = &server->listeners[server->listener_count++];
	l->tag.kind = TAG_LISTENER;
	l->fd = listen_fd;
	l->proto = proto;
	return epoll_update(server, EPOLL_CTL_ADD, listen_fd, EPOLLIN, l);
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
	free(conn->in);
	free(conn);
	server->connection_count--;
}

/* Serves every complete request in conn->in. Returns -1 when the client
   must be dropped. */
static int connection_handle_input(struct server *server, struct connection *conn)
{
	size_t pos = 0;

	while (OUTBUF_SIZE - conn->out_len >= PROTOCOL_REPLY_ROOM) {
		const char *error = "reply does not fit";
		size_t reply_len = 0;
		ssize_t used = conn->proto->serve(server->d, conn->in + pos,
						  conn->in_len - pos,
						  conn->out + conn->out_len,
						  &reply_len, &error);

		if (used == 0)
			break;
		if (used < 0 || reply_len == 0) {
			log_error("%s client fd %d: %s: closing connection",
				  conn->proto->name, conn->fd, error);
			return -1;
		}
		conn->out_len += reply_len;
		pos += (size_t)used;
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

static void connection_grow_input(struct connection *conn, size_t max)
{
	size_t size = conn->in_size * 2 < max ? conn->in_size * 2 : max;
	char *in = realloc(conn->in, size);

	if (in == NULL)
		abort();
	conn->in = in;
	conn->in_size = size;
}

/* Reads what the client sent, answers it, and re-arms the fd for whatever
   it waits on next. Returns -1 when the connection is to be closed. */
static int connection_io(struct server *server, struct connection *conn,
			 uint32_t events)
{
	size_t max = conn->proto->max_request;
	bool eof = false;

	if (conn->in_len == conn->in_size && conn->in_size < max)
		connection_grow_input(conn, max);
	if ((events & EPOLLIN) != 0 && conn->in_len < conn->in_size) {
		ssize_t n = recv(conn->fd, conn->in + conn->in_len,
				 conn->in_size - conn->in_len, 0);

		if (n == 0)
			eof = true;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		else if (n > 0)
			conn->in_len += (size_t)n;
	}
	if (connection_handle_input(server, conn) < 0 || connection_flush(conn) < 0)
		return -1;
	if (conn->in_len == max && conn->out_len == 0) {
		log_error("%s client fd %d: request exceeds %zu bytes: closing connection",
			  conn->proto->name, conn->fd, max);
		return -1;
	}
	if ((eof || (events & (EPOLLHUP | EPOLLERR)) != 0) && conn->out_len == 0)
		return -1;
	if (server->stopping && conn->out_len == 0)
		return -1;
	/* stop reading while replies are queued: a client that pipelines
	   without reading cannot grow our buffers */
	return epoll_update(server, EPOLL_CTL_MOD, conn->fd,
			    conn->out_len > 0 ? EPOLLOUT : EPOLLIN, conn);
}

static void accept_clients(struct server *server, const struct listener *l)
{
	for (;;) {
		struct connection *conn;
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

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
		conn->in_size = l->proto->max_request < INBUF_INITIAL ?
			l->proto->max_request : INBUF_INITIAL;
		conn->in = malloc(conn->in_size);
		if (conn->in == NULL)
			abort();
		conn->tag.kind = TAG_CONNECTION;
		conn->proto = l->proto;
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
	unsigned int i;

	if (server->stopping)
		return;
	server->stopping = true;
	for (i = 0; i < server->listener_count; i++)
		epoll_ctl(server->epoll_fd, EPOLL_CTL_DEL, server->listeners[i].fd, NULL);
	/* idle keep-alive clients have nothing to drain */
	for (conn = server->connections; conn != NULL; conn = next) {
		next = conn->next;
		if (conn->out_len == 0)
			connection_close(server, conn);
	}
}

static void reload(struct server *server)
{
	struct migrate_config *config;
	char error[512];

	if (migrate_config_load(server->config_path, &config, error, sizeof(error)) < 0) {
		log_error("reload: %s: keeping the running config", error);
		return;
	}
	policyd_set_config(server->d, config);
	log_info("reloaded %s (%u migrating domains); listen addresses change only at restart",
		 server->config_path, config->domain_count);
}

static void handle_signals(struct server *server)
{
	struct signalfd_siginfo info;

	while (read(server->signal_fd, &info, sizeof(info)) == sizeof(info)) {
		if (info.ssi_signo == SIGHUP)
			reload(server);
		else
			/* after this batch of events: stopping closes
			   connections that later events may still name */
			server->stop_requested = true;
	}
}

static void log_counters(struct server *server)
{
	const struct policyd_counters *c = &server->d->counters;
	uint64_t expirations;

	if (read(server->timer_fd, &expirations, sizeof(expirations)) < 0)
		return;
	log_info("lookups=%llu local=%llu legacy=%llu rejected=%llu verify=%llu "
		 "deferred=%llu other=%llu connections=%u",
		 (unsigned long long)c->lookups, (unsigned long long)c->local,
		 (unsigned long long)c->legacy, (unsigned long long)c->rejected,
		 (unsigned long long)c->verify, (unsigned long long)c->deferred,
		 (unsigned long long)c->other, server->connection_count);
}

static void arm_timer(struct server *server, unsigned int secs)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = secs;
	its.it_interval.tv_sec = secs;
	timerfd_settime(server->timer_fd, 0, &its, NULL);
}

int server_run(struct server *server, unsigned int stats_secs)
{
	struct epoll_event events[64];

	if (stats_secs > 0)
		arm_timer(server, stats_secs);
	while (!server->stopping || server->connection_count > 0) {
		int i, n = epoll_wait(server->epoll_fd, events, 64,
				      server->stopping ? DRAIN_TIMEOUT_MS : -1);

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
			struct tag *tag = events[i].data.ptr;

			switch (tag->kind) {
			case TAG_SIGNAL:
				handle_signals(server);
				break;
			case TAG_TIMER:
				log_counters(server);
				break;
			case TAG_LISTENER:
				if (!server->stopping)
					accept_clients(server, (struct listener *)tag);
				break;
			case TAG_CONNECTION:
				if (connection_io(server, (struct connection *)tag,
						  events[i].events) < 0)
					connection_close(server, (struct connection *)tag);
				break;
			}
		}
		if (server->stop_requested)
			begin_stop(server);
	}
	return 0;
}

void server_destroy(struct server **_server)
{
	struct server *server = *_server;
	unsigned int i;

	if (server == NULL)
		return;
	*_server = NULL;
	while (server->connections != NULL)
		connection_close(server, server->connections);
	for (i = 0; i < server->listener_count; i++)
		close(server->listeners[i].fd);
	if (server->epoll_fd >= 0)
		close(server->epoll_fd);
	if (server->signal_fd >= 0)
		close(server->signal_fd);
	if (server->timer_fd >= 0)
		close(server->timer_fd);
	free(server);
}
