#ifndef PRIVILEGES_H
#define PRIVILEGES_H

/* Giving up root once the sockets are bound: the daemon needs only to
   read the routing store. */

#include <stddef.h>
#include <sys/types.h>

/* The gid UNIX sockets are given (store_group) so Postfix's processes can
   connect; (gid_t)-1 when group is NULL. */
int privileges_socket_group(const char *group, gid_t *gid_r,
			    char *error, size_t error_size);
/* Becomes `user` (its uid, primary gid and supplementary groups) when
   running as root; NULL: stays as is. */
int privileges_drop(const char *user, char *error, size_t error_size);

#endif
