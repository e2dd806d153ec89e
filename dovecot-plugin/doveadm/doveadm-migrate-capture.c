/* Running a helper program of the system (doveconf, postconf) and reading
   what it prints: no shell, stdin on /dev/null, the output bounded; the
   first line of its stderr becomes the error when it fails. */

#include "lib.h"
#include "str.h"

#include "doveadm-migrate.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* what is kept of a failing program's stderr */
#define CAPTURE_STDERR_MAX 1024

static void __attribute__((noreturn))
capture_exec(const char *const argv[], int out_fd, int err_fd)
{
	int null_fd = open("/dev/null", O_RDWR);

	if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 ||
	    dup2(err_fd, STDERR_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(EXIT_FAILURE);
	execvp(argv[0], (char *const *)argv);
	/* root's tools, when PATH (a unit's, a wrapper's) leaves them out */
	if (errno == ENOENT && strchr(argv[0], '/') == NULL)
		execv(t_strconcat("/usr/sbin/", argv[0], NULL), (char *const *)argv);
	/* 127, as a shell says "not found" */
	_exit(127);
}

/* Reads fd to its end into out, at most max bytes; FALSE past them. */
static bool capture_read(int fd, size_t max, string_t *out)
{
	unsigned char buf[4096];
	ssize_t ret;

	while ((ret = read(fd, buf, sizeof(buf))) != 0) {
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			return FALSE;
		}
		if (str_len(out) + (size_t)ret > max)
			return FALSE;
		str_append_data(out, buf, (size_t)ret);
	}
	return TRUE;
}

/* The first line the program wrote to stderr, or "". */
static const char *capture_first_line(int fd)
{
	string_t *err = t_str_new(128);
	const char *text;

	(void)capture_read(fd, CAPTURE_STDERR_MAX, err);
	text = t_strcut(str_c(err), '\n');
	return text[0] == '\0' ? "" : t_strconcat(": ", text, NULL);
}

int doveadm_migrate_capture(const char *const argv[], size_t max,
			    string_t *out, const char **error_r)
{
	int fds[2], err_fds[2], status;
	const char *stderr_line;
	bool complete;
	pid_t pid;

	if (pipe(fds) < 0) {
		*error_r = t_strdup_printf("pipe() failed: %m");
		return -1;
	}
	if (pipe(err_fds) < 0) {
		*error_r = t_strdup_printf("pipe() failed: %m");
		i_close_fd(&fds[0]);
		i_close_fd(&fds[1]);
		return -1;
	}
	if ((pid = fork()) < 0) {
		*error_r = t_strdup_printf("fork() failed: %m");
		i_close_fd(&fds[0]);
		i_close_fd(&fds[1]);
		i_close_fd(&err_fds[0]);
		i_close_fd(&err_fds[1]);
		return -1;
	}
	if (pid == 0) {
		i_close_fd(&fds[0]);
		i_close_fd(&err_fds[0]);
		capture_exec(argv, fds[1], err_fds[1]);
	}
	i_close_fd(&fds[1]);
	i_close_fd(&err_fds[1]);
	/* stdout first: these programs write a line or two to stderr, far
	   less than a pipe holds */
	complete = capture_read(fds[0], max, out);
	i_close_fd(&fds[0]);
	stderr_line = capture_first_line(err_fds[0]);
	i_close_fd(&err_fds[0]);
	if (waitpid(pid, &status, 0) < 0) {
		*error_r = t_strdup_printf("waitpid() failed: %m");
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		*error_r = t_strdup_printf("%s: not found", argv[0]);
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		*error_r = WIFEXITED(status) ?
			t_strdup_printf("%s failed (exit %d)%s", argv[0],
					WEXITSTATUS(status), stderr_line) :
			t_strdup_printf("%s killed by signal %d", argv[0],
					WTERMSIG(status));
		return -1;
	}
	if (!complete) {
		*error_r = t_strdup_printf("%s: output larger than %zu bytes", argv[0], max);
		return -1;
	}
	return 0;
}
