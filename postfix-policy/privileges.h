#ifndef PRIVILEGES_H
#define PRIVILEGES_H

/* Giving up root once the sockets are bound: the daemon needs only to
   read the routing store. */

#include <stddef.h>

/* A UNIX socket address ("unix:PATH") gets group `group` (mode stays
   0660) so Postfix's processes can connect; nothing for inet: or NULL. */
int privileges_give_socket(const char *address, const char *group,
			   char *error, size_t error_size);
/* Becomes `user` (its uid, primary gid and supplementary groups) when
   running as root; NULL: stays as is. */
int privileges_drop(const char *user, char *error, size_t error_size);

#endif
