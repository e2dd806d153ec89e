/* Logging for migrate-policyd (see log.h). */

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

static bool use_stderr = true;
static bool verbose = false;

void log_open(bool to_stderr)
{
	use_stderr = to_stderr;
	if (!use_stderr)
		openlog("migrate-policyd", LOG_PID, LOG_MAIL);
}

static void log_v(int priority, const char *prefix, const char *fmt, va_list args)
	__attribute__((format(printf, 3, 0)));

static void log_v(int priority, const char *prefix, const char *fmt, va_list args)
{
	if (use_stderr) {
		fprintf(stderr, "migrate-policyd: %s", prefix);
		vfprintf(stderr, fmt, args);
		fputc('\n', stderr);
	} else {
		vsyslog(priority, fmt, args);
	}
}

void log_set_verbose(bool on)
{
	verbose = on;
}

void log_debug(const char *fmt, ...)
{
	va_list args;

	if (use_stderr && !verbose)
		return;
	va_start(args, fmt);
	log_v(LOG_DEBUG, "Debug: ", fmt, args);
	va_end(args);
}

void log_error(const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	log_v(LOG_ERR, "Error: ", fmt, args);
	va_end(args);
}

void log_info(const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	log_v(LOG_INFO, "", fmt, args);
	va_end(args);
}
