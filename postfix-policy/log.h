#ifndef LOG_H
#define LOG_H

/* migrate-policyd logging: syslog (mail facility, so it lands next to
   Postfix's own lines) or stderr when running in the foreground. */

#include <stdbool.h>

void log_open(bool to_stderr);
/* Debug lines (one per routing decision) go to syslog at LOG_DEBUG, where
   the syslog configuration filters them, and to stderr only if verbose. */
void log_set_verbose(bool verbose);
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
