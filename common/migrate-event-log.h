#ifndef MIGRATE_EVENT_LOG_H
#define MIGRATE_EVENT_LOG_H

/* The migration log (migrate.conf "log"): one timestamped line per event
   (an account recorded, queued, imported, failed, cut over, finished),
   beside Dovecot's own log, for the operator to follow or hand over.

   Each line is appended with one write() on an O_APPEND descriptor, so
   the worker, the operator's commands and the auth process can share the
   file; it is opened per line, so logrotate needs no signal. */

#include <stddef.h>

#define MIGRATE_EVENT_LOG_LINE_MAX 2048

/* Appends "YYYY-MM-DD HH:MM:SS +ZZZZ text". Control characters in text
   become '?' (an error from the network cannot forge lines); a longer
   text is cut. A file this call creates gets mode 0640 and, when running
   as root, the owner `owner` (NULL: root), so that the auth process can
   append too. -1 with errno set on failure. */
int migrate_event_log_append(const char *path, const char *owner,
			     const char *text);
/* The same on a descriptor opened earlier (O_APPEND): for a process that
   gives up its privileges after opening the log. */
int migrate_event_log_append_fd(int fd, const char *text);
/* Opens (creating as above) the log for migrate_event_log_append_fd. */
int migrate_event_log_open(const char *path, const char *owner);

#endif
