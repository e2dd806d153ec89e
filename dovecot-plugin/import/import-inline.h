#ifndef IMPORT_INLINE_H
#define IMPORT_INLINE_H

/* A doveadm command run inside this process instead of a child doveadm:
   what a pool process (import-pool.h) does with each step it is given.

   The arguments are those a child would get after `doveadm [-c CONF]`:
   leading `-o KEY=VALUE` settings (applied to the settings every mail
   user of the command reads, and removed again afterwards) and `-f
   FORMAT`, then the command. Its standard output and error go to out_fd
   and err_fd for the run, as a child's would, so the same parsers read
   them. Mail users run with a temporary privilege drop, so the process is
   root again between commands (the next account may be another uid, and
   the store and Dovecot's ipc socket are root's). The command's exit
   code is returned; doveadm_exit_code is left as it was. A command that
   calls i_fatal() ends the process, as it would a child.

   Not reentrant across threads; nested runs (a cut-over running its
   steps) are fine: the outer run's output and settings are restored. */

/* Runs args (NULL-terminated); its exit code (0: success). */
int import_inline_run(const char *const *args, int out_fd, int err_fd);

/* Whether a command run by import_inline_run() is executing now. */
bool import_inline_running(void);

#endif
