/* A small LMTP client for the refuse-mode notice, see notice-lmtp.h.
   One message, one recipient: greeting, LHLO, MAIL, RCPT, DATA, QUIT. */

#include "lib.h"
#include "net.h"
#include "hex-binary.h"
#include "ioloop.h"
#include "istream.h"
#include "ostream.h"
#include "str.h"
#include "hostpid.h"
#include "randgen.h"
#include "message-date.h"
#include "str-sanitize.h"
#include "notice-lmtp.h"

#include <fcntl.h>
#include <unistd.h>

#define NOTICE_TIMEOUT_MSECS (30 * 1000)
#define NOTICE_LINE_MAX 1024
#define NOTICE_BODY_MAX (64 * 1024)

#define NOTICE_DEFAULT_BODY \
	"Your mailbox is being moved to our new mail server.\n" \
	"\n" \
	"While the move runs, logins are refused with a short message.\n" \
	"Please try again in a few minutes: all your mail and folders\n" \
	"will be there.\n"

enum notice_step {
	NOTICE_GREETING,
	NOTICE_LHLO,
	NOTICE_MAIL,
	NOTICE_RCPT,
	NOTICE_DATA,
	NOTICE_MESSAGE,
	NOTICE_DONE,
};

struct notice {
	char *address, *from, *destination;
	string_t *message;
	enum notice_step step;
	int fd;
	struct io *io;
	struct istream *input;
	struct ostream *output;
	struct timeout *to;
};

static void notice_free(struct notice *notice)
{
	timeout_remove(&notice->to);
	io_remove(&notice->io);
	i_stream_destroy(&notice->input);
	o_stream_destroy(&notice->output);
	i_close_fd(&notice->fd);
	str_free(&notice->message);
	i_free(notice->address);
	i_free(notice->from);
	i_free(notice->destination);
	i_free(notice);
}

static void notice_failed(struct notice *notice, const char *reason)
{
	i_error("migrate: notice to %s via %s not delivered: %s",
		notice->address, notice->destination, reason);
	notice_free(notice);
}

static void notice_timeout(struct notice *notice)
{
	notice_failed(notice, "LMTP server did not answer in time");
}

static void notice_send_line(struct notice *notice, const char *line)
{
	o_stream_nsend_str(notice->output, t_strconcat(line, "\r\n", NULL));
}

/* Moves to the next step after a positive answer. */
static void notice_advance(struct notice *notice)
{
	switch (notice->step) {
	case NOTICE_GREETING:
		notice_send_line(notice, t_strconcat("LHLO ", my_hostname, NULL));
		break;
	case NOTICE_LHLO:
		notice_send_line(notice, t_strdup_printf("MAIL FROM:<%s>", notice->from));
		break;
	case NOTICE_MAIL:
		notice_send_line(notice, t_strdup_printf("RCPT TO:<%s>", notice->address));
		break;
	case NOTICE_RCPT:
		notice_send_line(notice, "DATA");
		break;
	case NOTICE_DATA:
		o_stream_nsend(notice->output, str_data(notice->message),
			       str_len(notice->message));
		o_stream_nsend_str(notice->output, ".\r\n");
		break;
	case NOTICE_MESSAGE:
		notice_send_line(notice, "QUIT");
		i_info("migrate: notice delivered to %s", notice->address);
		break;
	case NOTICE_DONE:
		i_unreached();
	}
	notice->step++;
}

static void notice_input(struct notice *notice)
{
	const char *line;
	ssize_t ret = i_stream_read(notice->input);

	while ((line = i_stream_next_line(notice->input)) != NULL) {
		/* "250-..." continues a multi-line answer */
		if (strlen(line) > 3 && line[3] == '-')
			continue;
		if (notice->step == NOTICE_DATA ? line[0] != '3' : line[0] != '2') {
			notice_failed(notice, t_strdup_printf(
				"LMTP server answered: %s", str_sanitize(line, 200)));
			return;
		}
		notice_advance(notice);
		if (notice->step == NOTICE_DONE) {
			notice_free(notice);
			return;
		}
	}
	if (ret == -2)
		notice_failed(notice, "LMTP server sent an over-long line");
	else if (ret < 0)
		notice_failed(notice, "LMTP server closed the connection");
}

/* unix:PATH, inet:HOST:PORT or a bare path */
static int notice_connect(const char *destination)
{
	const char *host, *port;
	struct ip_addr ip;
	in_port_t portnum;

	if (str_begins(destination, "unix:"))
		return net_connect_unix(destination + 5);
	if (!str_begins(destination, "inet:"))
		return net_connect_unix(destination);
	host = destination + 5;
	port = strrchr(host, ':');
	if (port == NULL || net_str2port(port + 1, &portnum) < 0 ||
	    net_addr2ip(t_strdup_until(host, port), &ip) < 0) {
		errno = EINVAL;
		return -1;
	}
	return net_connect_ip(&ip, portnum, NULL);
}

static const char *notice_body(const char *path)
{
	char buf[NOTICE_BODY_MAX + 1];
	ssize_t ret;
	int fd;

	if (path == NULL)
		return NOTICE_DEFAULT_BODY;
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		i_error("migrate: notice_file %s: open failed: %m", path);
		return NOTICE_DEFAULT_BODY;
	}
	ret = read(fd, buf, sizeof(buf) - 1);
	i_close_fd(&fd);
	if (ret < 0) {
		i_error("migrate: notice_file %s: read failed: %m", path);
		return NOTICE_DEFAULT_BODY;
	}
	return t_strndup(buf, ret);
}

/* The message, CRLF line ends, dot-stuffed for DATA. */
static string_t *notice_message(const struct migrate_config *config,
				const char *from, const char *address)
{
	string_t *msg = str_new(default_pool, 1024);
	const char *const *lines;
	unsigned char rnd[8];

	random_fill(rnd, sizeof(rnd));
	str_printfa(msg, "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
		    "Date: %s\r\nMessage-ID: <%s.%s@%s>\r\n"
		    "Auto-Submitted: auto-generated\r\n"
		    "MIME-Version: 1.0\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: 8bit\r\n\r\n",
		    from, address, config->notice_subject,
		    message_date_create(ioloop_time), dec2str(ioloop_time),
		    binary_to_hex(rnd, sizeof(rnd)), my_hostname);
	lines = t_strsplit(notice_body(config->notice_file), "\n");
	for (; *lines != NULL; lines++) {
		const char *line = *lines;
		size_t len = strlen(line);

		if (lines[1] == NULL && len == 0)
			break;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (line[0] == '.')
			str_append_c(msg, '.');
		str_append_data(msg, line, len);
		str_append(msg, "\r\n");
	}
	return msg;
}

void notice_lmtp_send(const struct migrate_config *config, const char *address)
{
	struct notice *notice;
	const char *from = config->notice_from;

	if (config->notice_lmtp == NULL)
		return;
	if (strchr(from, '@') == NULL)
		from = t_strconcat(from, strrchr(address, '@'), NULL);
	notice = i_new(struct notice, 1);
	notice->address = i_strdup(address);
	notice->from = i_strdup(from);
	notice->destination = i_strdup(config->notice_lmtp);
	notice->message = notice_message(config, from, address);
	notice->fd = notice_connect(config->notice_lmtp);
	if (notice->fd < 0) {
		notice_failed(notice, t_strdup_printf("connect failed: %m"));
		return;
	}
	notice->input = i_stream_create_fd(notice->fd, NOTICE_LINE_MAX);
	notice->output = o_stream_create_fd(notice->fd, SIZE_MAX);
	o_stream_set_no_error_handling(notice->output, TRUE);
	notice->io = io_add_istream(notice->input, notice_input, notice);
	notice->to = timeout_add(NOTICE_TIMEOUT_MSECS, notice_timeout, notice);
}
