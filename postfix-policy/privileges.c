/* Privilege handling for migrate-policyd (see privileges.h). */

#include "privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int privileges_socket_group(const char *group, gid_t *gid_r,
			    char *error, size_t error_size)
{
	struct group *gr;

	*gid_r = (gid_t)-1;
	if (group == NULL)
		return 0;
	gr = getgrnam(group);
	if (gr == NULL) {
		snprintf(error, error_size, "store_group %s: no such group", group);
		return -1;
	}
	*gid_r = gr->gr_gid;
	return 0;
}

int privileges_drop(const char *user, char *error, size_t error_size)
{
	struct passwd *pw;

	if (user == NULL || geteuid() != 0)
		return 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		snprintf(error, error_size, "policyd_user %s: no such user", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		snprintf(error, error_size, "dropping privileges to %s failed: %s",
			 user, strerror(errno));
		return -1;
	}
	/* setuid() from root is final; make sure */
	if (setuid(0) == 0) {
		snprintf(error, error_size, "dropping privileges to %s failed: root regained", user);
		return -1;
	}
	return 0;
}
