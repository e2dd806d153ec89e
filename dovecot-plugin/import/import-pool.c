/* The pool of import processes, see import-pool.h. Requests and answers
   are datagrams on a SOCK_SEQPACKET pair: one request (the arguments,
   tab-escaped, and the two output fds) per message, one answer ("CODE",
   or "CODE retire" from a process about to exit) per step. */

#include "lib.h"
#include "ioloop.h"
#include "array.h"
#include "str.h"
#include "strescape.h"
#include "strnum.h"

#include "mail-storage-hooks.h"

#include "import-inline.h"
#include "import-pool.h"
#include "import-child.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <poll.h>
#include <unistd.h>

/* steps a process runs before it retires */
#define IMPORT_POOL_STEPS_MAX 500
#define IMPORT_POOL_REQUEST_MAX 8192

struct import_pool_slot {
	/* the supervisor's pid; 0: no process */
	pid_t pid;
	int fd;
	bool busy;
	/* it said this step is its last */
	bool retiring;
};

struct import_pool {
	char *dovecot_config;
	unsigned int size;
	ARRAY(struct import_pool_slot) slots;
};

struct import_pool *import_pool_init(unsigned int size,
				     const char *dovecot_config)
{
	struct import_pool *pool = i_new(struct import_pool, 1);

	pool->size = size;
	pool->dovecot_config = i_strdup(dovecot_config);
	i_array_init(&pool->slots, size);
	return pool;
}

/* The process of slot is gone or going: reaped, its socket closed;
   returns its wait status. */
static int import_pool_slot_end(struct import_pool_slot *slot, bool stop)
{
	int status = 0;

	if (slot->fd != -1)
		i_close_fd(&slot->fd);
	if (slot->pid > 0) {
		if (stop)
			(void)kill(slot->pid, SIGTERM);
		while (waitpid(slot->pid, &status, 0) < 0 && errno == EINTR) ;
	}
	slot->pid = 0;
	slot->busy = FALSE;
	slot->retiring = FALSE;
	return status;
}

void import_pool_deinit(struct import_pool **_pool)
{
	struct import_pool *pool = *_pool;
	struct import_pool_slot *slot;

	*_pool = NULL;
	array_foreach_modifiable(&pool->slots, slot) {
		if (slot->pid > 0)
			(void)import_pool_slot_end(slot, slot->busy);
	}
	array_free(&pool->slots);
	i_free(pool->dovecot_config);
	i_free(pool);
}

static bool import_pool_slot_start(struct import_pool *pool,
				   struct import_pool_slot *slot)
{
	const char *argv[] = { "doveadm", "-c", pool->dovecot_config,
			       "migrate", "pool", NULL };
	int fds[2];

	if (pool->dovecot_config == NULL) {
		argv[1] = argv[3];
		argv[2] = argv[4];
		argv[3] = NULL;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) {
		i_error("migrate: socketpair() failed: %m");
		return FALSE;
	}
	slot->pid = child_fork_supervised((char **)argv, fds[1],
					  STDERR_FILENO, STDERR_FILENO);
	i_close_fd(&fds[1]);
	if (slot->pid < 0) {
		slot->pid = 0;
		i_close_fd(&fds[0]);
		return FALSE;
	}
	slot->fd = fds[0];
	return TRUE;
}

/* One datagram of data with two fds (Dovecot's fdpass sends one). */
static ssize_t import_pool_send(int fd, const int fds[2], const void *data,
				size_t size)
{
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cmsg;
	char cbuf[CMSG_SPACE(sizeof(int) * 2)];

	i_zero(&msg);
	memset(cbuf, 0, sizeof(cbuf));
	iov.iov_base = (void *)data;
	iov.iov_len = size;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int) * 2);
	memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * 2);
	return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

/* An idle slot with a live process, started when needed; -1: none. */
static int import_pool_idle_slot(struct import_pool *pool)
{
	struct import_pool_slot *slot, new_slot;
	unsigned int i, count;

	slot = array_get_modifiable(&pool->slots, &count);
	for (i = 0; i < count; i++) {
		if (slot[i].pid > 0 && !slot[i].busy)
			return i;
	}
	for (i = 0; i < count; i++) {
		if (slot[i].pid == 0)
			return import_pool_slot_start(pool, &slot[i]) ? (int)i : -1;
	}
	if (count >= pool->size) {
		i_error("migrate: all %u import processes are busy", pool->size);
		return -1;
	}
	i_zero(&new_slot);
	new_slot.fd = -1;
	if (!import_pool_slot_start(pool, &new_slot))
		return -1;
	array_push_back(&pool->slots, &new_slot);
	return count;
}

int import_pool_submit(struct import_pool *pool, const char *const *args,
		       int out_fd, int err_fd, pid_t *pid_r)
{
	struct import_pool_slot *slot;
	string_t *req = t_str_new(256);
	int fds[2] = { out_fd, err_fd }, idx;

	for (; *args != NULL; args++) {
		if (str_len(req) > 0)
			str_append_c(req, '\t');
		str_append_tabescaped(req, *args);
	}
	if (str_len(req) >= IMPORT_POOL_REQUEST_MAX) {
		i_error("migrate: a step's arguments are too long");
		return -1;
	}
	if ((idx = import_pool_idle_slot(pool)) < 0)
		return -1;
	slot = array_idx_modifiable(&pool->slots, idx);
	if (import_pool_send(slot->fd, fds, str_data(req), str_len(req)) !=
	    (ssize_t)str_len(req)) {
		i_error("migrate: giving a step to import process %ld failed: %m",
			(long)slot->pid);
		(void)import_pool_slot_end(slot, TRUE);
		return -1;
	}
	slot->busy = TRUE;
	*pid_r = slot->pid;
	return idx;
}

int import_pool_poll(struct import_pool *pool, int idx, bool wait,
		     int *status_r)
{
	struct import_pool_slot *slot = array_idx_modifiable(&pool->slots, idx);
	struct pollfd pfd = { .fd = slot->fd, .events = POLLIN };
	char buf[64];
	const char *const *words;
	unsigned int code;
	ssize_t ret;

	i_assert(slot->busy);
	if (poll(&pfd, 1, wait ? -1 : 0) == 0)
		return 0;
	ret = recv(slot->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	if (ret < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (ret <= 0) {
		/* the process ended mid-step: how it ended is the step's */
		*status_r = import_pool_slot_end(slot, FALSE);
		if (WIFEXITED(*status_r) && WEXITSTATUS(*status_r) == 0)
			*status_r = W_EXITCODE(EX_SOFTWARE, 0);
		return 1;
	}
	buf[ret] = '\0';
	words = t_strsplit_spaces(buf, " \n");
	if (words[0] == NULL || str_to_uint(words[0], &code) < 0 || code > 255) {
		i_error("migrate: import process %ld answered nonsense",
			(long)slot->pid);
		*status_r = W_EXITCODE(EX_SOFTWARE, 0);
		(void)import_pool_slot_end(slot, TRUE);
		return 1;
	}
	*status_r = W_EXITCODE(code, 0);
	slot->busy = FALSE;
	if (words[1] != NULL && strcmp(words[1], "retire") == 0)
		(void)import_pool_slot_end(slot, FALSE);
	return 1;
}

static void import_pool_wake(struct ioloop *ioloop)
{
	io_loop_stop(ioloop);
}

void import_pool_wait(struct import_pool *pool, unsigned int msecs)
{
	struct import_pool_slot *slot;
	struct ioloop *prev = current_ioloop, *ioloop = io_loop_create();
	ARRAY(struct io *) ios;
	struct timeout *to;
	struct io **io;

	t_array_init(&ios, 8);
	array_foreach_modifiable(&pool->slots, slot) {
		if (slot->busy) {
			struct io *new_io = io_add(slot->fd, IO_READ,
						   import_pool_wake, ioloop);
			array_push_back(&ios, &new_io);
		}
	}
	to = timeout_add(msecs, import_pool_wake, ioloop);
	io_loop_run(ioloop);
	timeout_remove(&to);
	array_foreach_modifiable(&ios, io)
		io_remove(io);
	io_loop_destroy(&ioloop);
	if (prev != NULL)
		io_loop_set_current(prev);
}

/* ---- the pool process ---------------------------------------------------- */

/* One request: its arguments in *args_r and its two fds; 0 at EOF. */
static int import_pool_read(int fd, const char *const **args_r, int fds_r[2])
{
	char buf[IMPORT_POOL_REQUEST_MAX + 1];
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cmsg;
	char cbuf[CMSG_SPACE(sizeof(int) * 2)];
	ssize_t ret;

	i_zero(&msg);
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf) - 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	do {
		ret = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	} while (ret < 0 && errno == EINTR);
	if (ret <= 0)
		return ret < 0 ? -1 : 0;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (cmsg == NULL || cmsg->cmsg_type != SCM_RIGHTS ||
	    cmsg->cmsg_len != CMSG_LEN(sizeof(int) * 2)) {
		i_error("migrate pool: a request without its two fds");
		return -1;
	}
	memcpy(fds_r, CMSG_DATA(cmsg), sizeof(int) * 2);
	buf[ret] = '\0';
	*args_r = t_strsplit_tabescaped(buf);
	return 1;
}

/* Dovecot changes the euid when it creates a mail user, which clears
   the parent death signal: armed again right after, so a supervisor
   killed outright (SIGKILL to the worker's process group) still takes
   this process along mid-step. */
static void import_pool_user_created(struct mail_user *user ATTR_UNUSED)
{
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static const struct mail_storage_hooks import_pool_hooks = {
	.mail_user_created = import_pool_user_created,
};

void import_pool_serve(int fd)
{
	pid_t supervisor = getppid();
	unsigned int steps;
	int ret = 1;

	mail_storage_hooks_add_internal(&import_pool_hooks);
	for (steps = 1; ret > 0 && steps <= IMPORT_POOL_STEPS_MAX; steps++) T_BEGIN {
		const char *const *args, *answer;
		int fds[2], code;

		/* its supervisor gone (it takes us along, but a step's change
		   of euid clears the parent death signal): nothing more. Set
		   again between steps, as root. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != supervisor)
			ret = 0;
		else
			ret = import_pool_read(fd, &args, fds);
		if (ret > 0) {
			code = import_inline_run(args, fds[0], fds[1]);
			i_close_fd(&fds[0]);
			i_close_fd(&fds[1]);
			answer = t_strdup_printf("%d%s\n", code,
				steps == IMPORT_POOL_STEPS_MAX ? " retire" : "");
			if (send(fd, answer, strlen(answer), MSG_NOSIGNAL) < 0)
				ret = -1;
		}
	} T_END;
}
