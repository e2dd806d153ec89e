#ifndef LISTENER_H
#define LISTENER_H

/* Listening sockets named as in migrate.conf: "unix:/path" or
   "inet:HOST:PORT" (HOST an address; "[::1]" for IPv6). */

#include <stddef.h>
#include <sys/types.h>

/* Creates, binds and listens; UNIX sockets get mode 0660 and group
   unix_group ((gid_t)-1: the process's) so only their owner and that group
   (Postfix's) can connect, and appear at their path only once listening.
   Returns the fd, or -1 with a message in error_r. */
int listener_open(const char *address, gid_t unix_group,
		  char *error_r, size_t error_size);
/* Removes a UNIX socket's path; nothing for inet. */
void listener_unlink(const char *address);

#endif
