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

/* The socket is bound under a temporary name, given its mode and group,
   made to listen, and only then renamed to PATH: a client (Postfix starting
   beside us) never finds a path that refuses connections or has the wrong
   group, and a stale socket from a previous run is replaced in one step. */
static int open_unix(const char *path, gid_t group, char *error_r, size_t error_size)
{
	static const char suffix[] = ".new";
	struct sockaddr_un sa;
	mode_t old_umask;
	int fd, ret;

	if (strlen(path) + sizeof(suffix) > sizeof(sa.sun_path) || path[0] != '/') {
		snprintf(error_r, error_size, "unix:%s: not an absolute path of at most %zu bytes",
			 path, sizeof(sa.sun_path) - sizeof(suffix));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s%s", path, suffix);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(error_r, error_size, "socket(unix) failed: %s", strerror(errno));
		return -1;
	}
	/* left over by a run killed between bind() and rename() */
	if (unlink(sa.sun_path) < 0 && errno != ENOENT) {
		snprintf(error_r, error_size, "unlink(%s) failed: %s", sa.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	/* no window in which the socket exists with looser permissions */
	old_umask = umask(0117);
	ret = bind(fd, (const void *)&sa, sizeof(sa));
	umask(old_umask);
	if (ret < 0) {
		snprintf(error_r, error_size, "bind(%s) failed: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (chmod(sa.sun_path, 0660) < 0 ||
	    (group != (gid_t)-1 && chown(sa.sun_path, (uid_t)-1, group) < 0) ||
	    listen(fd, LISTEN_BACKLOG) < 0 || rename(sa.sun_path, path) < 0) {
		snprintf(error_r, error_size, "unix:%s: %s", path, strerror(errno));
		(void)unlink(sa.sun_path);
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
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		snprintf(error_r, error_size, "listen(%s:%s) failed: %s", host, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int listener_open(const char *address, gid_t unix_group,
		  char *error_r, size_t error_size)
{
	if (strncmp(address, "unix:", 5) == 0)
		return open_unix(address + 5, unix_group, error_r, error_size);
	if (strncmp(address, "inet:", 5) == 0)
		return open_inet(address + 5, error_r, error_size);
	snprintf(error_r, error_size, "%s: expected unix:PATH or inet:HOST:PORT", address);
	return -1;
}

void listener_unlink(const char *address)
{
	if (strncmp(address, "unix:", 5) == 0)
		(void)unlink(address + 5);
}
