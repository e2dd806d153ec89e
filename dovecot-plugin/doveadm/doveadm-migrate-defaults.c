/* What `doveadm migrate` takes from Dovecot's own config when the command
   line and migrate.conf do not say: the path of migrate.conf (plugin {
   migrate_config }) and the owner of a store a command creates (the user
   Dovecot's auth service runs as: it opens the store on every login, so a
   store root created for itself would fail every login). */

#include "lib.h"
#include "master-service.h"
#include "doveadm-util.h"

#include "dovecot-migrate-config.h"
#include "migrate-config.h"
#include "doveadm-migrate.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* doveconf's answers are one short line */
#define DOVECONF_MAX_OUTPUT 1024

const char *doveadm_migrate_default_config_path(void)
{
	const char *path = doveadm_plugin_getenv("migrate_config");

	return path != NULL && path[0] != '\0' ? path : MIGRATE_DEFAULT_CONFIG;
}

static void doveconf_exec(const char *name, int out_fd)
{
	const char *argv[] = {
		"doveconf", "-c", master_service_get_config_path(master_service),
		"-h", name, NULL
	};
	int null_fd = open("/dev/null", O_RDWR);

	if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 ||
	    dup2(null_fd, STDERR_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(EXIT_FAILURE);
	execvp(argv[0], (char *const *)argv);
	_exit(EXIT_FAILURE);
}

/* `doveconf -h NAME` of the config doveadm runs with (data stack); NULL
   when it cannot tell. */
static const char *doveconf_value(const char *name)
{
	char buf[DOVECONF_MAX_OUTPUT];
	size_t len = 0;
	ssize_t ret;
	int fds[2], status;
	pid_t pid;

	if (pipe(fds) < 0)
		return NULL;
	if ((pid = fork()) < 0) {
		i_close_fd(&fds[0]);
		i_close_fd(&fds[1]);
		return NULL;
	}
	if (pid == 0)
		doveconf_exec(name, fds[1]);
	i_close_fd(&fds[1]);
	while (len < sizeof(buf) - 1 &&
	       (ret = read(fds[0], buf + len, sizeof(buf) - 1 - len)) != 0) {
		if (ret < 0 && errno != EINTR)
			break;
		if (ret > 0)
			len += (size_t)ret;
	}
	i_close_fd(&fds[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return NULL;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	return t_strndup(buf, len);
}

const char *doveadm_migrate_auth_user(void)
{
	const char *user = doveconf_value("service/auth/user");

	/* "$default_internal_user" is how Dovecot ships it */
	if (user != NULL && user[0] == '$')
		user = doveconf_value(user + 1);
	if (user == NULL || user[0] == '\0')
		return NULL;
	return user;
}

void doveadm_migrate_default_store_user(struct migrate_config *config)
{
	const char *user;

	if (config->store_user != NULL)
		return;
	if ((user = doveadm_migrate_auth_user()) == NULL) {
		i_warning("migrate: cannot tell which user Dovecot's auth service "
			  "runs as (doveconf service/auth/user): set store_user "
			  "in %s", config->path);
		return;
	}
	/* migrate_config_free() frees it */
	if ((config->store_user = strdup(user)) == NULL)
		i_fatal_status(FATAL_OUTOFMEM, "strdup() failed");
}
