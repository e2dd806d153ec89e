/* The migration log (see migrate-event-log.h). */

#include "migrate-event-log.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static size_t event_line(const char *text, char *line, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;
	size_t len, i;

	localtime_r(&now, &tm);
	len = strftime(line, size, "%Y-%m-%d %H:%M:%S %z ", &tm);
	for (i = 0; text[i] != '\0' && len < size - 1; i++) {
		unsigned char c = (unsigned char)text[i];

		line[len++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	line[len++] = '\n';
	return len;
}

int migrate_event_log_open(const char *path, const char *owner)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL |
		      O_NOFOLLOW | O_CLOEXEC, 0640);

	if (fd < 0 && errno == EEXIST)
		return open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && owner != NULL && geteuid() == 0) {
		const struct passwd *pw = getpwnam(owner);

		if (pw != NULL && fchown(fd, pw->pw_uid, pw->pw_gid) < 0) {
			int saved = errno;

			close(fd);
			errno = saved;
			return -1;
		}
	}
	return fd;
}

int migrate_event_log_append_fd(int fd, const char *text)
{
	char line[MIGRATE_EVENT_LOG_LINE_MAX + 64];
	size_t len = event_line(text, line, sizeof(line));
	ssize_t ret = write(fd, line, len);

	if (ret >= 0 && (size_t)ret != len)
		errno = ENOSPC;
	return ret >= 0 && (size_t)ret == len ? 0 : -1;
}

int migrate_event_log_append(const char *path, const char *owner,
			     const char *text)
{
	int fd, ret, saved;

	if ((fd = migrate_event_log_open(path, owner)) < 0)
		return -1;
	ret = migrate_event_log_append_fd(fd, text);
	saved = errno;
	if (close(fd) < 0 && ret == 0)
		return -1;
	errno = saved;
	return ret;
}
