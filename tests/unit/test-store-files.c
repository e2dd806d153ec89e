/* Unit tests for the store's files on disk (common/migrate-store-files.c):
   a store directory root made by hand is repaired to the owners and modes
   a writer gives it, and a path the process may not open is explained
   (path, owner, mode, who asked, the fix). Needs root for owners. */

#include "lib.h"
#include "test-common.h"

#include "fixture-accounts.h"
#include "migrate-store.h"

#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char store_dir[256];
static char error[512];
static unsigned int repaired;
static char last_change[512];

static void store_reset(void)
{
	if (store_dir[0] == '\0')
		i_snprintf(store_dir, sizeof(store_dir), "/tmp/test-store-files.%d", (int)getpid());
	fixture_remove_tree(store_dir);
}

static void record_change(const char *path, const char *before,
			  const char *after, void *context)
{
	(void)context;
	repaired++;
	i_snprintf(last_change, sizeof(last_change), "%s: %s -> %s", path, before, after);
}

static bool has_owner_mode(const char *name, uid_t uid, gid_t gid, mode_t mode)
{
	char path[512];
	struct stat st;

	i_snprintf(path, sizeof(path), "%s%s%s", store_dir, name[0] == '\0' ? "" : "/", name);
	return stat(path, &st) == 0 && st.st_uid == uid && st.st_gid == gid &&
		(st.st_mode & 07777) == mode;
}

static void test_store_repair(void)
{
	struct migrate_store_settings set = {
		.access = MIGRATE_STORE_WRITE,
		.owner_user = "nobody", .routing_group = "nogroup",
	};
	struct passwd *pw = getpwnam("nobody");
	struct group *gr = getgrnam("nogroup");
	struct migrate_store *store;
	char path[512];

	test_begin("store files: a directory root made by hand, repaired");
	if (geteuid() != 0 || pw == NULL || gr == NULL) {
		test_end();
		return;
	}
	store_reset();
	set.path = store_dir;
	/* an operator's `mkdir /var/lib/dovecot-migrate` as root (0755 is
	   a good mode for it; its owner is not) */
	test_assert(mkdir(store_dir, 0755) == 0);
	repaired = 0;
	/* check's dry run: reported, not changed */
	test_assert(migrate_store_repair(&set, true, record_change, NULL, error, sizeof(error)) == 1);
	test_assert(has_owner_mode("", 0, 0, 0755));
	test_assert(migrate_store_repair(&set, false, record_change, NULL, error, sizeof(error)) == 1);
	test_assert(repaired == 2);
	test_assert(strstr(last_change, ": root:root mode 0755 -> nobody:nogroup mode 0755") != NULL);
	test_assert(has_owner_mode("", pw->pw_uid, pw->pw_gid, 0755));
	/* a writer then creates the rest; a second repair changes nothing */
	test_assert(migrate_store_open(&set, &store, error, sizeof(error)) == 0);
	migrate_store_close(&store);
	test_assert(migrate_store_repair(&set, false, record_change, NULL, error, sizeof(error)) == 0);
	test_assert(repaired == 2);

	/* files root copied in place: back to their owners and modes */
	i_snprintf(path, sizeof(path), "%s/secrets/data.mdb", store_dir);
	test_assert(chown(path, 0, 0) == 0 && chmod(path, 0644) == 0);
	i_snprintf(path, sizeof(path), "%s/routing", store_dir);
	test_assert(chown(path, 0, 0) == 0 && chmod(path, 0777) == 0);
	test_assert(migrate_store_repair(&set, false, record_change, NULL, error, sizeof(error)) == 2);
	test_assert(has_owner_mode("secrets/data.mdb", pw->pw_uid, pw->pw_gid, 0600));
	test_assert(has_owner_mode("routing", pw->pw_uid, gr->gr_gid, 0770));
	test_assert(has_owner_mode("routing/data.mdb", pw->pw_uid, gr->gr_gid, 0640));
	test_end();
}

/* In a child that became `nobody`: opening the store for writing. */
static void open_as_nobody(const struct migrate_store_settings *set, int fd)
{
	struct passwd *pw = getpwnam("nobody");
	struct migrate_store *store;

	if (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		_exit(2);
	if (migrate_store_open(set, &store, error, sizeof(error)) == 0)
		_exit(1);
	if (write(fd, error, strlen(error)) < 0)
		_exit(3);
	_exit(0);
}

static void test_store_denied_explained(void)
{
	struct migrate_store_settings set = { .access = MIGRATE_STORE_WRITE };
	struct migrate_store *store;
	char text[512];
	int fds[2], status;
	ssize_t len;
	pid_t pid;

	test_begin("store files: a store the process may not open, explained");
	store_reset();
	set.path = store_dir;
	/* absent: a reader says how to create it */
	set.access = MIGRATE_STORE_READ_ROUTING;
	test_assert(migrate_store_open(&set, &store, error, sizeof(error)) < 0);
	test_assert(strstr(error, "routing does not exist (create it, as root: "
			   "doveadm migrate init)") != NULL);
	set.access = MIGRATE_STORE_WRITE;
	if (geteuid() != 0 || getpwnam("nobody") == NULL) {
		test_end();
		return;
	}
	/* root's directory, and the auth user tries to create the store */
	test_assert(mkdir(store_dir, 0755) == 0);
	test_assert(pipe(fds) == 0);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		open_as_nobody(&set, fds[1]);
	}
	close(fds[1]);
	len = read(fds[0], text, sizeof(text) - 1);
	close(fds[0]);
	test_assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0);
	text[len < 0 ? 0 : len] = '\0';
	test_assert(strstr(text, "store: mkdir ") != NULL);
	test_assert(strstr(text, "/routing: Permission denied: ") != NULL);
	test_assert(strstr(text, " is root:root mode 0755 and this process runs as "
			   "nobody (fix, as root: doveadm migrate init)") != NULL);
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_store_repair,
		test_store_denied_explained,
		NULL
	};
	int ret = test_run(tests);

	store_reset();
	return ret;
}
