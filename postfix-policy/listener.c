/* Listening sockets for migrate-policyd (see listener.h). */

#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_BACKLOG 256

static int open_unix(const char *path, char *error_r, size_t error_size)
{
	struct sockaddr_un sa;
	mode_t old_umask;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path) || path[0] != '/') {
		snprintf(error_r, error_size, "unix:%s: not an absolute path of at most %zu bytes",
			 path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(error_r, error_size, "socket(unix) failed: %s", strerror(errno));
		return -1;
	}
	/* a stale socket from a previous run would make bind() fail */
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(error_r, error_size, "unlink(%s) failed: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	/* no window in which the socket exists with looser permissions */
	old_umask = umask(0117);
	ret = bind(fd, (const void *)&sa, sizeof(sa));
	umask(old_umask);
	if (ret < 0 || chmod(path, 0660) < 0) {
		snprintf(error_r, error_size, "bind(%s) failed: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int open_inet(const char *hostport, char *error_r, size_t error_size)
{
	struct addrinfo hints, *ai;
	char host[256];
	const char *port, *colon = strrchr(hostport, ':');
	size_t host_len;
	int fd, err, one = 1;

	if (colon == NULL || colon[1] == '\0') {
		snprintf(error_r, error_size, "inet:%s: expected inet:HOST:PORT", hostport);
		return -1;
	}
	port = colon + 1;
	host_len = (size_t)(colon - hostport);
	if (host_len >= 2 && hostport[0] == '[' && hostport[host_len - 1] == ']') {
		hostport++;
		host_len -= 2;
	}
	if (host_len == 0 || host_len >= sizeof(host)) {
		snprintf(error_r, error_size, "inet:%s: invalid host", hostport);
		return -1;
	}
	memcpy(host, hostport, host_len);
	host[host_len] = '\0';

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	/* an address, never a name: no DNS at start-up */
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	err = getaddrinfo(host, port, &hints, &ai);
	if (err != 0) {
		snprintf(error_r, error_size, "inet:%s:%s: %s", host, port, gai_strerror(err));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		snprintf(error_r, error_size, "bind(%s:%s) failed: %s", host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

int listener_open(const char *address, char *error_r, size_t error_size)
{
	int fd;

	if (strncmp(address, "unix:", 5) == 0)
		fd = open_unix(address + 5, error_r, error_size);
	else if (strncmp(address, "inet:", 5) == 0)
		fd = open_inet(address + 5, error_r, error_size);
	else {
		snprintf(error_r, error_size, "%s: expected unix:PATH or inet:HOST:PORT", address);
		return -1;
	}
	if (fd >= 0 && listen(fd, LISTEN_BACKLOG) < 0) {
		snprintf(error_r, error_size, "listen(%s) failed: %s", address, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

void listener_unlink(const char *address)
{
	if (strncmp(address, "unix:", 5) == 0)
		(void)unlink(address + 5);
}
