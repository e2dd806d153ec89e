/* The LMDB store's directories and files on disk: who owns them and with
   which modes. A writer creates them that way, every opener checks that no
   one else can read them, `doveadm migrate init` repairs them; and a path
   that cannot be opened is explained in words an operator can act on (the
   path, its owner and mode, who asked, the command that fixes it).

   <store>          0751 store_user                (traversed by readers)
   <store>/routing  0770 store_user:store_group    data 0640, lock 0660
   <store>/secrets  0700 store_user                data 0600, lock 0600 */

#include "migrate-store-lmdb.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct store_path {
	const char *name;	/* under the store directory; "" for itself */
	/* what a writer creates it with; repaired to it when a bit of
	   `required` is missing or one of `forbidden` is set */
	mode_t mode, required, forbidden;
	bool routing_group;
};

static const struct store_path store_paths[] = {
	/* readers traverse it; 0755 is as good */
	{ "", 0751, 0711, 0022, false },
	/* the routing group reads, never writes the data; LMDB's readers
	   write the lock file */
	{ "routing", 0770, 0750, 0007, true },
	{ "routing/data.mdb", 0640, 0640, 0027, true },
	{ "routing/lock.mdb", 0660, 0660, 0007, true },
	{ "secrets", 0700, 0700, 0077, false },
	{ "secrets/data.mdb", 0600, 0600, 0077, false },
	{ "secrets/lock.mdb", 0600, 0600, 0077, false },
};

int store_owner_resolve(const struct migrate_store_settings *set,
			struct store_owner *owner_r, char *error, size_t error_size)
{
	owner_r->uid = getuid();
	owner_r->gid = owner_r->routing_gid = getgid();
	owner_r->change = geteuid() == 0 &&
		(set->owner_user != NULL || set->routing_group != NULL);
	if (set->owner_user != NULL) {
		struct passwd *pw = getpwnam(set->owner_user);

		if (pw == NULL)
			return store_fail(error, error_size, "store: unknown user %s", set->owner_user);
		owner_r->uid = pw->pw_uid;
		owner_r->gid = owner_r->routing_gid = pw->pw_gid;
	}
	if (set->routing_group != NULL) {
		struct group *gr = getgrnam(set->routing_group);

		if (gr == NULL)
			return store_fail(error, error_size, "store: unknown group %s", set->routing_group);
		owner_r->routing_gid = gr->gr_gid;
	}
	return 0;
}

static const char *user_name(uid_t uid, char *buf, size_t size)
{
	struct passwd *pw = getpwuid(uid);

	if (pw != NULL)
		return pw->pw_name;
	snprintf(buf, size, "%lu", (unsigned long)uid);
	return buf;
}

static const char *group_name(gid_t gid, char *buf, size_t size)
{
	struct group *gr = getgrgid(gid);

	if (gr != NULL)
		return gr->gr_name;
	snprintf(buf, size, "%lu", (unsigned long)gid);
	return buf;
}

/* "owner:group mode 0755" of path */
static void describe_path(const struct stat *st, char *buf, size_t size)
{
	char ubuf[32], gbuf[32];

	snprintf(buf, size, "%s:%s mode %04o", user_name(st->st_uid, ubuf, sizeof(ubuf)),
		 group_name(st->st_gid, gbuf, sizeof(gbuf)),
		 (unsigned int)(st->st_mode & 07777));
}

int store_fail_path(char *error, size_t error_size, const char *op,
		    const char *path, int err)
{
	char parent[4096], what[160], ubuf[32], *slash;
	const char *shown = path;
	struct stat st;

	if (err == ENOENT && strcmp(op, "opening") == 0) {
		return store_fail(error, error_size, "store: %s does not exist "
				  "(create it, as root: doveadm migrate init)", path);
	}
	if (err != EACCES && err != EPERM)
		return store_fail(error, error_size, "store: %s %s: %s", op, path, strerror(err));
	/* the path itself, or the directory that refused to hold it */
	if (stat(path, &st) < 0) {
		snprintf(parent, sizeof(parent), "%s", path);
		slash = strrchr(parent, '/');
		if (slash != NULL && slash != parent)
			*slash = '\0';
		shown = parent;
		if (stat(parent, &st) < 0)
			return store_fail(error, error_size, "store: %s %s: %s", op, path, strerror(err));
	}
	describe_path(&st, what, sizeof(what));
	return store_fail(error, error_size, "store: %s %s: %s: %s is %s and this "
			  "process runs as %s (fix, as root: doveadm migrate init)",
			  op, path, strerror(err), shown, what,
			  user_name(geteuid(), ubuf, sizeof(ubuf)));
}

int store_check_mode(const char *path, mode_t forbidden, const char *what,
		     char *error, size_t error_size)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return store_fail_path(error, error_size, "stat", path, errno);
	}
	if ((st.st_mode & forbidden) != 0) {
		return store_fail(error, error_size,
			    "store: %s is mode %04o: %s must not be accessible to %s "
			    "(chmod %s, or as root: doveadm migrate init)",
			    path, (unsigned int)(st.st_mode & 07777), what,
			    (forbidden & 0070) != 0 ? "group or others" : "others",
			    (forbidden & 0070) != 0 ? "go-rwx" : "o-rwx");
	}
	return 0;
}

int store_make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid,
		   bool change_owner, char *error, size_t error_size)
{
	if (mkdir(path, mode) < 0) {
		if (errno == EEXIST)
			return 0;
		return store_fail_path(error, error_size, "mkdir", path, errno);
	}
	/* mkdir's mode is cut by the umask */
	if (chmod(path, mode) < 0 ||
	    (change_owner && chown(path, uid, gid) < 0))
		return store_fail(error, error_size, "store: setting owner and mode of %s: %s",
			    path, strerror(errno));
	return 0;
}

int store_fix_files(const char *dir, mode_t data_mode, mode_t lock_mode,
		    const struct store_owner *owner, gid_t gid,
		    char *error, size_t error_size)
{
	static const char *const names[] = { "data.mdb", "lock.mdb" };
	char path[4096];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (chmod(path, i == 0 ? data_mode : lock_mode) < 0 ||
		    (owner->change && chown(path, owner->uid, gid) < 0))
			return store_fail(error, error_size, "store: setting owner and mode of %s: %s",
				    path, strerror(errno));
	}
	return 0;
}

/* One path of the layout to its owner and mode; 1 when it changed. */
static int repair_path(const char *path, const struct store_path *spec,
		       const struct store_owner *owner, bool dry_run,
		       migrate_store_repair_fn *report, void *context,
		       char *error, size_t error_size)
{
	gid_t gid = spec->routing_group ? owner->routing_gid : owner->gid;
	char before[160], after[160];
	struct stat st, want;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return store_fail_path(error, error_size, "stat", path, errno);
	}
	if (S_ISLNK(st.st_mode))
		return store_fail(error, error_size, "store: %s is a symbolic link", path);
	want = st;
	if ((st.st_mode & spec->required) != spec->required ||
	    (st.st_mode & spec->forbidden) != 0)
		want.st_mode = (st.st_mode & ~(mode_t)07777) | spec->mode;
	if (owner->change) {
		want.st_uid = owner->uid;
		want.st_gid = gid;
	}
	if (want.st_mode == st.st_mode && want.st_uid == st.st_uid &&
	    want.st_gid == st.st_gid)
		return 0;
	if (!dry_run &&
	    ((owner->change && chown(path, want.st_uid, want.st_gid) < 0) ||
	     chmod(path, want.st_mode & 07777) < 0)) {
		return store_fail(error, error_size, "store: setting owner and mode of %s: %s",
				  path, strerror(errno));
	}
	describe_path(&st, before, sizeof(before));
	describe_path(&want, after, sizeof(after));
	report(path, before, after, context);
	return 1;
}

int migrate_store_repair(const struct migrate_store_settings *set, bool dry_run,
			 migrate_store_repair_fn *report, void *context,
			 char *error, size_t error_size)
{
	struct store_owner owner;
	char path[4096];
	unsigned int i;
	int changed = 0, ret;

	if (store_owner_resolve(set, &owner, error, error_size) < 0)
		return -1;
	for (i = 0; i < sizeof(store_paths) / sizeof(store_paths[0]); i++) {
		if (snprintf(path, sizeof(path), "%s%s%s", set->path,
			     store_paths[i].name[0] == '\0' ? "" : "/",
			     store_paths[i].name) >= (int)sizeof(path))
			return store_fail(error, error_size, "store: path too long");
		ret = repair_path(path, &store_paths[i], &owner, dry_run, report, context,
				  error, error_size);
		if (ret < 0)
			return -1;
		changed += ret;
	}
	return changed;
}
