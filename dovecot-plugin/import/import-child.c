/* Child doveadm processes of the migrate commands, see
   import-child.h. */

#include "lib.h"
#include "array.h"
#include "str.h"
#include "strescape.h"
#include "strnum.h"
#include "migrate-config.h"
#include "migrate-pop3-relay.h"
#include "import-child.h"
#include "import-inline.h"
#include "import-output.h"
#include "import-pool.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* the head of a child's stderr searched for the failure's cause */
#define CHILD_STDERR_MAX 4096

static int temp_fd(void)
{
	char path[] = "/tmp/migrate-doveadm-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		i_error("migrate: mkstemp(%s) failed: %m", path);
	else
		i_unlink(path);
	return fd;
}

/* how children run: forked (the default), as steps of the worker's pool
   of import processes, or in this very process (inside a pool process) */
static struct import_pool *child_pool = NULL;
static bool child_inline = FALSE;

/* The child is over: so is its relay. */
static void child_ended(struct child *child)
{
	child->pid = 0;
	migrate_pop3_relay_stop(&child->relay);
}

void child_close(struct child *child)
{
	int status;

	if (child->pooled) {
		/* never left running: its slot would stay busy */
		(void)kill(child->pid, SIGTERM);
		(void)import_pool_poll(child_pool, child->pool_slot, TRUE, &status);
		child->pooled = FALSE;
	}
	child->finished = FALSE;
	migrate_pop3_relay_stop(&child->relay);
	if (child->out_fd != -1)
		i_close_fd(&child->out_fd);
	if (child->err_fd != -1)
		i_close_fd(&child->err_fd);
	child->pid = 0;
}

static volatile pid_t supervised_pid = 0;
/* import_kbytes_per_sec in bytes; 0: no cap */
static uint64_t child_pace_bytes_per_sec = 0;

void child_set_pace(uint64_t bytes_per_sec)
{
	child_pace_bytes_per_sec = bytes_per_sec;
}

static void supervisor_parent_died(int signo ATTR_UNUSED)
{
	if (supervised_pid > 0)
		(void)kill(-supervised_pid, SIGKILL);
	_exit(EX_TEMPFAIL);
}

/* The forked child: runs doveadm as its own child, in its own process
   group, and mirrors how it ends. Why not exec doveadm here: the parent
   death signal is cleared when a process changes its user, which doveadm
   does for mail access, so a worker killed with -9 would leave its passes
   running, racing the next worker's. This process stays root, so its
   parent death signal holds, and it takes doveadm's group down with it.
   in_fd -1: /dev/null. */
static void ATTR_NORETURN
child_supervise(char **argv, int in_fd, int out_fd, int err_fd)
{
	struct sigaction sa;
	sigset_t block;
	int status;
	pid_t worker = getppid(), pid;

	i_zero(&sa);
	sa.sa_handler = supervisor_parent_died;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 ||
	    prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != worker)
		_exit(EX_TEMPFAIL);
	if (in_fd == -1)
		in_fd = open("/dev/null", O_RDONLY);
	if (in_fd < 0 || dup2(in_fd, STDIN_FILENO) < 0 ||
	    dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(err_fd, STDERR_FILENO) < 0)
		_exit(EX_OSERR);
	/* nothing else of the worker's: a pool process's socket held open
	   here by another one's supervisor would never see its EOF */
	closefrom(3);
	/* a SIGTERM (the worker gone, or stopping this step) that comes
	   before the child's pid is known here would leave the child
	   running: it waits until then */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &block, NULL) < 0 || (pid = fork()) < 0)
		_exit(EX_OSERR);
	if (pid == 0) {
		sa.sa_handler = SIG_DFL;
		(void)sigaction(SIGTERM, &sa, NULL);
		(void)sigprocmask(SIG_UNBLOCK, &block, NULL);
		(void)setpgid(0, 0);
		if (child_pace_bytes_per_sec > 0 &&
		    (setenv("LD_PRELOAD", MIGRATE_PACE_LIBRARY, 1) < 0 ||
		     setenv("MIGRATE_PACE_BYTES_PER_SEC",
			    dec2str(child_pace_bytes_per_sec), 1) < 0))
			_exit(EX_OSERR);
		execvp(argv[0], argv);
		_exit(EX_OSERR);
	}
	supervised_pid = pid;
	(void)setpgid(pid, pid);
	(void)sigprocmask(SIG_UNBLOCK, &block, NULL);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			_exit(EX_OSERR);
	}
	if (WIFSIGNALED(status)) {
		sa.sa_handler = SIG_DFL;
		(void)sigaction(WTERMSIG(status), &sa, NULL);
		(void)kill(getpid(), WTERMSIG(status));
	}
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : EX_SOFTWARE);
}

pid_t child_fork_supervised(char **argv, int in_fd, int out_fd, int err_fd)
{
	pid_t pid = fork();

	if (pid < 0) {
		i_error("migrate: fork() failed: %m");
		return -1;
	}
	if (pid == 0)
		child_supervise(argv, in_fd, out_fd, err_fd);
	return pid;
}

/* Starts the relay a POP3 account of a TLS domain needs (domain NULL:
   none), and points pop3c at it. */
static int child_relay(struct child *child, const struct migrate_domain *domain,
		       ARRAY_TYPE(const_string) *argv)
{
	struct migrate_pop3_relay_target target;
	char error[256], setting[64];
	const char *arg;
	unsigned int i;

	if (domain == NULL || !migrate_pop3_relay_target(domain, &target))
		return 0;
	if (migrate_pop3_relay_start(&target, child->err_fd, &child->relay, error,
				     sizeof(error)) < 0) {
		i_error("migrate: %s", error);
		return -1;
	}
	for (i = 0; migrate_pop3_relay_setting(&child->relay, i, setting,
					       sizeof(setting)); i++) {
		arg = "-o";
		array_push_back(argv, &arg);
		arg = t_strdup(setting);
		array_push_back(argv, &arg);
	}
	return 0;
}

void child_use_pool(struct import_pool *pool)
{
	child_pool = pool;
}

void child_use_inline(void)
{
	child_inline = TRUE;
}

/* argv holds [relay settings] args; runs them in this process now. */
static void child_run_inline(struct child *child, const char *const *argv)
{
	child->finished = TRUE;
	child->finished_status = W_EXITCODE(import_inline_run(argv,
		child->out_fd, child->err_fd), 0);
	migrate_pop3_relay_stop(&child->relay);
}

/* doveadm [-c dovecot_config] [relay settings] args */
static int child_spawn_with(const char *dovecot_config, struct child *child,
			    const char *const *args,
			    const struct migrate_domain *pop3_domain)
{
	ARRAY_TYPE(const_string) argv;
	const char *arg;

	i_zero(child);
	child->io_at = time(NULL);
	child->out_fd = temp_fd();
	child->err_fd = temp_fd();
	if (child->out_fd == -1 || child->err_fd == -1) {
		child_close(child);
		return -1;
	}
	t_array_init(&argv, 16);
	if (child_pool == NULL && !child_inline) {
		arg = "doveadm";
		array_push_back(&argv, &arg);
		if (dovecot_config != NULL) {
			arg = "-c";
			array_push_back(&argv, &arg);
			array_push_back(&argv, &dovecot_config);
		}
	}
	if (child_relay(child, pop3_domain, &argv) < 0) {
		child_close(child);
		return -1;
	}
	for (; *args != NULL; args++)
		array_push_back(&argv, args);
	array_append_zero(&argv);

	if (child_inline) {
		child_run_inline(child, array_front(&argv));
		return 0;
	}
	if (child_pool != NULL) {
		child->pool_slot = import_pool_submit(child_pool,
			array_front(&argv), child->out_fd, child->err_fd,
			&child->pid);
		if (child->pool_slot < 0) {
			child_close(child);
			return -1;
		}
		child->pooled = TRUE;
		return 0;
	}
	child->pid = child_fork_supervised((char **)array_front(&argv), -1,
					   child->out_fd, child->err_fd);
	if (child->pid < 0) {
		child_close(child);
		return -1;
	}
	return 0;
}

int child_spawn(const char *dovecot_config, struct child *child,
		const char *const *args)
{
	return child_spawn_with(dovecot_config, child, args, NULL);
}

/* A finished inline or pool step: its status; -1 while it runs. */
static int child_step_status(struct child *child, bool wait)
{
	int status;

	if (child->finished) {
		child->finished = FALSE;
		return child->finished_status;
	}
	if (import_pool_poll(child_pool, child->pool_slot, wait, &status) == 0)
		return -1;
	child->pooled = FALSE;
	child_ended(child);
	return status;
}

int child_status(struct child *child)
{
	int status;

	if (child->finished || child->pooled)
		return child_step_status(child, FALSE);
	if (child->pid <= 0 || waitpid(child->pid, &status, WNOHANG) != child->pid)
		return -1;
	child_ended(child);
	return status;
}

void child_abort(struct child *child)
{
	if (child->pid > 0 && !child->finished) {
		(void)kill(child->pid, SIGTERM);
		(void)child_wait(child);
	}
	child_close(child);
}

int child_spawn_count(const char *dovecot_config, struct child *child,
		      const char *address, enum migrate_protocol protocol,
		      const struct migrate_domain *domain,
		      enum child_count_kind kind)
{
	const char *location = protocol == MIGRATE_PROTOCOL_POP3 ?
		"mail_location=pop3c:" : "mail_location=imapc:";
	/* the legacy side is asked for messages only unless a quota needs
	   its size: its sizes cost it a FETCH RFC822.SIZE of every message
	   (measured: 1.6 s for eight accounts of 1,250 messages against
	   3.7 s for their passes) */
	const char *args[] = {
		"-o", location, "-f", "tab", "mailbox", "status", "-u",
		address, kind == CHILD_COUNT_LEGACY ? "messages" :
		"messages vsize",
		"*", NULL
	};

	if (kind == CHILD_COUNT_LOCAL)
		return child_spawn(dovecot_config, child, args + 2);
	return child_spawn_with(dovecot_config, child, args,
				protocol == MIGRATE_PROTOCOL_POP3 ? domain : NULL);
}

int child_spawn_pass(const char *dovecot_config, struct child *child,
		     const char *address, const char *migrate_config,
		     bool unflushed, bool cutover)
{
	const char *args[] = {
		"-o", "mail_fsync=never",
		"-f", "tab", "migrate", "pass", "-c", migrate_config,
		"-u", address, cutover ? "-s" : NULL, cutover ? "-k" : NULL, NULL
	};

	/* without unflushed: Dovecot's own fsync setting */
	return child_spawn(dovecot_config, child, unflushed ? args : args + 2);
}

int child_spawn_flush(const char *dovecot_config, struct child *child,
		      const char *address, const char *migrate_config,
		      bool discard)
{
	const char *args[] = {
		"-f", "tab", "migrate", "flush", "-c", migrate_config,
		"-u", address, discard ? "-D" : NULL, NULL
	};

	return child_spawn(dovecot_config, child, args);
}

/* The whole of one of a child's output files (the data stack). */
static const char *child_file_text(int fd)
{
	string_t *text = t_str_new(4096);
	char buf[4096];
	off_t offset = 0;
	ssize_t ret;

	while ((ret = pread(fd, buf, sizeof(buf), offset)) > 0) {
		str_append_data(text, buf, ret);
		offset += ret;
	}
	return str_c(text);
}

const char *child_output_text(struct child *child)
{
	return child_file_text(child->out_fd);
}

const char *const *child_output_rows(struct child *child)
{
	return import_output_rows(child_output_text(child));
}

int child_spawn_sweep(const char *dovecot_config, struct child *child,
		      const char *address, const char *migrate_config,
		      unsigned int maxage_days, bool mark)
{
	const char *args[] = {
		"-f", "tab", "migrate", "sweep", "-c", migrate_config,
		"-u", address, mark ? "-M" : NULL, NULL, NULL
	};

	if (maxage_days > 0) {
		args[8] = "-m";
		args[9] = dec2str(maxage_days);
	}
	return child_spawn(dovecot_config, child, args);
}

int child_spawn_account_step(const char *dovecot_config, struct child *child,
			     const char *command, const char *address,
			     const char *migrate_config,
			     const char *const *options)
{
	ARRAY_TYPE(const_string) args;
	const char *const base[] = {
		"-f", "tab", "migrate", command, "-c", migrate_config,
		"-u", address
	};

	t_array_init(&args, N_ELEMENTS(base) + 8);
	array_append(&args, base, N_ELEMENTS(base));
	for (; options != NULL && *options != NULL; options++)
		array_push_back(&args, options);
	array_append_zero(&args);
	return child_spawn(dovecot_config, child, array_front(&args));
}

uint64_t child_sweep_copied(struct child *child)
{
	return import_output_sweep_copied(child_output_text(child));
}

int child_wait(struct child *child)
{
	int status;

	if (child->finished || child->pooled)
		return child_step_status(child, TRUE);
	while (waitpid(child->pid, &status, 0) < 0) {
		if (errno != EINTR) {
			i_error("waitpid(%ld) failed: %m", (long)child->pid);
			return -1;
		}
	}
	child_ended(child);
	return status;
}

bool child_count(struct child *child, uint32_t *folders_r,
		 uint64_t *messages_r, uint64_t *bytes_r)
{
	return import_output_sum(child_output_text(child), "mailbox\t", 3, 1, TRUE, folders_r,
			      messages_r, bytes_r);
}

bool child_legacy_count(struct child *child, uint32_t *folders_r,
			uint64_t *messages_r)
{
	uint64_t bytes;

	return import_output_sum(child_output_text(child), "mailbox\t", 2, 1, FALSE, folders_r,
			      messages_r, &bytes);
}

static bool child_read_proc(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t ret;

	if (fd < 0)
		return FALSE;
	ret = read(fd, buf, size - 1);
	i_close_fd(&fd);
	buf[ret > 0 ? ret : 0] = '\0';
	return ret > 0;
}

/* The bytes the supervisor's doveadm child has read so far (rchar of
   /proc/PID/io: network and files alike). FALSE when not known. */
static bool child_bytes_read(struct child *child, uint64_t *bytes_r)
{
	char buf[1024];
	const char *p, *end;
	long doveadm_pid;

	if (!child_read_proc(t_strdup_printf("/proc/%ld/task/%ld/children",
					     (long)child->pid, (long)child->pid),
			     buf, sizeof(buf)) ||
	    sscanf(buf, "%ld", &doveadm_pid) != 1 ||
	    !child_read_proc(t_strdup_printf("/proc/%ld/io", doveadm_pid),
			     buf, sizeof(buf)) ||
	    (p = strstr(buf, "rchar: ")) == NULL)
		return FALSE;
	return str_parse_uint64(p + 7, bytes_r, &end) == 0;
}

bool child_stop_if_stalled(struct child *child, unsigned int stall_secs)
{
	uint64_t bytes;
	time_t now = time(NULL);

	/* once a second is often enough */
	if (child->pid <= 0 || child->stalled_secs != 0 || stall_secs == 0 ||
	    now == child->io_checked || !child_bytes_read(child, &bytes))
		return FALSE;
	child->io_checked = now;
	if (bytes != child->io_seen) {
		child->io_seen = bytes;
		child->io_at = now;
		return FALSE;
	}
	if (now - child->io_at < (time_t)stall_secs)
		return FALSE;
	child->stalled_secs = now - child->io_at;
	(void)kill(child->pid, SIGTERM);
	return TRUE;
}

void child_forward_log(struct child *child)
{
	const char *const *lines;

	lines = t_strsplit(child_file_text(child->err_fd), "\n");
	for (; *lines != NULL; lines++) {
		if (strstr(*lines, "migrate ") != NULL)
			fprintf(stderr, "%s\n", *lines);
	}
	fflush(stderr);
}

const char *child_reason(struct child *child, int status)
{
	char buf[CHILD_STDERR_MAX + 1];
	const char *const *lines;
	ssize_t ret;

	if (child->stalled_secs != 0) {
		return t_strdup_printf("no progress for %u s (the legacy server "
			"stopped answering?): stopped", child->stalled_secs);
	}
	ret = pread(child->err_fd, buf, CHILD_STDERR_MAX, 0);
	buf[ret > 0 ? ret : 0] = '\0';
	for (lines = t_strsplit(buf, "\n"); *lines != NULL; lines++) {
		const char *p = strstr(*lines, "Error: ");

		if (p == NULL)
			p = strstr(*lines, "Fatal: ");
		if (p != NULL && !str_begins(p + 7, "Raw backtrace"))
			return t_strdup(p + 7);
	}
	if (WIFSIGNALED(status))
		return t_strdup_printf("doveadm killed by signal %d", WTERMSIG(status));
	return t_strdup_printf("doveadm exited with status %d", WEXITSTATUS(status));
}

