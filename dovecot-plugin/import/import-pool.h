#ifndef IMPORT_POOL_H
#define IMPORT_POOL_H

/* The worker's pool of long-lived import processes.

   Each pool process is `doveadm [-c CONF] migrate pool`, started once
   under the same supervisor as a child doveadm (it dies with the worker,
   even one killed with -9, and a stop takes its whole process group). It
   is given one step at a time (the arguments a child doveadm would get,
   and the files its output goes to) and runs it in process
   (import-inline.h), then answers with the exit code. So a step costs
   what the step itself costs: no exec, no config parse, no plugin load.

   A pool process that dies (a crash, a stall stopped, kill -9) fails
   only the step it ran; the next step gets a fresh process. A process
   retires after IMPORT_POOL_STEPS_MAX steps, so what a long run might
   leak stays bounded. */

struct import_pool;

/* size: the most processes at once (every step running at the same time
   needs its own). dovecot_config: the -c of the processes (NULL: the
   default). */
struct import_pool *import_pool_init(unsigned int size,
				     const char *dovecot_config);
/* Closes the idle processes' sockets (they exit) and waits for them;
   busy ones are stopped. */
void import_pool_deinit(struct import_pool **pool);

/* Gives args (as after `doveadm -c CONF`) to an idle process, starting
   one when none is idle; its output goes to out_fd and err_fd. Returns
   the slot, and in pid_r the pid to watch and signal (its supervisor);
   -1 when no process could take it (logged). */
int import_pool_submit(struct import_pool *pool, const char *const *args,
		       int out_fd, int err_fd, pid_t *pid_r);
/* The step of slot: 0 while it runs (wait: blocks until it ends), 1 when
   it ended with *status_r a wait status (exit code, or the signal that
   ended the process). The slot is free again afterwards. */
int import_pool_poll(struct import_pool *pool, int slot, bool wait,
		     int *status_r);

/* Waits on the ioloop until a busy process answers (or dies) or msecs
   have passed: the caller's loop wakes as soon as a step is over. */
void import_pool_wait(struct import_pool *pool, unsigned int msecs);

/* The pool process side: serves steps read from fd until it closes. */
void import_pool_serve(int fd);

#endif
