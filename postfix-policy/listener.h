#ifndef LISTENER_H
#define LISTENER_H

/* Listening sockets named as in migrate.conf: "unix:/path" or
   "inet:HOST:PORT" (HOST an address; "[::1]" for IPv6). */

#include <stddef.h>

/* Creates, binds and listens; UNIX sockets get mode 0660 so only their
   owner and group (Postfix's) can connect. Returns the fd, or -1 with a
   message in error_r. */
int listener_open(const char *address, char *error_r, size_t error_size);
/* Removes a UNIX socket's path; nothing for inet. */
void listener_unlink(const char *address);

#endif
