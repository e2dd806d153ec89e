#ifndef LOG_H
#define LOG_H

/* migrate-policyd logging: syslog (mail facility, so it lands next to
   Postfix's own lines) or stderr when running in the foreground. */

#include <stdbool.h>

void log_open(bool to_stderr);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
