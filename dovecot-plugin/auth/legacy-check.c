/* Asynchronous legacy login check, see legacy-check.h. The protocol
   lives in common/migrate-legacy-login.c; this file only moves bytes. */

#include "lib.h"
#include "ioloop.h"
#include "istream.h"
#include "ostream.h"
#include "iostream-ssl.h"
#include "legacy-check.h"

struct legacy_check {
	struct event *event;
	struct ip_addr ip;
	in_port_t port;
	char *host, *ca_file;
	bool tls_verify;
	unsigned int timeout_msecs;

	struct migrate_legacy_login *login;
	legacy_check_callback_t *callback;
	void *context;

	int fd;
	struct io *io;
	struct istream *input;
	struct ostream *output;
	struct ssl_iostream *ssl_io;
	struct timeout *to;
	/* why the credentials were refused before any connection */
	char *refused_reason;
	bool implicit_tls;
	/* the handshake completed and the dialogue was told so */
	bool tls_reported;
};

static void legacy_check_input(struct legacy_check *check);

static void legacy_check_free(struct legacy_check *check)
{
	timeout_remove(&check->to);
	io_remove(&check->io);
	if (check->ssl_io != NULL)
		ssl_iostream_destroy(&check->ssl_io);
	i_stream_destroy(&check->input);
	o_stream_destroy(&check->output);
	i_close_fd(&check->fd);
	if (check->login != NULL)
		migrate_legacy_login_free(&check->login);
	event_unref(&check->event);
	i_free(check->refused_reason);
	i_free(check->host);
	i_free(check->ca_file);
	i_free(check);
}

static void legacy_check_finish(struct legacy_check *check)
{
	enum migrate_legacy_result result;
	const char *reason;

	result = migrate_legacy_login_result(check->login, &reason);
	i_assert(result != MIGRATE_LEGACY_PENDING);
	/* a polite LOGOUT/QUIT, if any, goes out before the close */
	if (check->output != NULL) {
		size_t len;
		const unsigned char *data =
			migrate_legacy_login_output(check->login, &len);
		if (len > 0)
			o_stream_nsend(check->output, data, len);
		migrate_legacy_login_output_sent(check->login);
		(void)o_stream_flush(check->output);
	}
	T_BEGIN {
		check->callback(result, t_strdup(reason), check->context);
	} T_END;
	legacy_check_free(check);
}

static void legacy_check_fail(struct legacy_check *check, const char *reason)
{
	migrate_legacy_login_abort(check->login, reason);
	legacy_check_finish(check);
}

static void legacy_check_timeout(struct legacy_check *check)
{
	legacy_check_fail(check, t_strdup_printf(
		"legacy server %s:%u did not answer in time",
		check->host, check->port));
}

/* Sends what the dialogue wants sent; -1 when the connection broke
   (the check is finished then). */
static int legacy_check_flush_dialogue(struct legacy_check *check)
{
	const unsigned char *data;
	size_t len;

	data = migrate_legacy_login_output(check->login, &len);
	if (len > 0 && o_stream_send(check->output, data, len) < 0) {
		migrate_legacy_login_output_sent(check->login);
		legacy_check_fail(check, t_strdup_printf(
			"write to legacy server failed: %s",
			o_stream_get_error(check->output)));
		return -1;
	}
	migrate_legacy_login_output_sent(check->login);
	return 0;
}

static int legacy_check_handshaked(const char **error_r, void *context)
{
	struct legacy_check *check = context;

	if (!check->tls_verify)
		return 0;
	return ssl_iostream_check_cert_validity(check->ssl_io, check->host,
						error_r);
}

static int legacy_check_start_tls(struct legacy_check *check)
{
	struct ssl_iostream_settings ssl_set;
	struct ssl_iostream_context *ctx;
	const char *error;

	i_zero(&ssl_set);
	ssl_set.ca_file = check->ca_file;
	ssl_set.verify_remote_cert = check->tls_verify;
	ssl_set.allow_invalid_cert = !check->tls_verify;
	if (ssl_iostream_client_context_cache_get(&ssl_set, &ctx, &error) < 0) {
		legacy_check_fail(check, t_strdup_printf(
			"TLS setup for the legacy server failed: %s", error));
		return -1;
	}
	io_remove(&check->io);
	if (io_stream_create_ssl_client(ctx, check->host, &ssl_set,
					&check->input, &check->output,
					&check->ssl_io, &error) < 0) {
		ssl_iostream_context_unref(&ctx);
		legacy_check_fail(check, t_strdup_printf(
			"TLS setup for the legacy server failed: %s", error));
		return -1;
	}
	ssl_iostream_context_unref(&ctx);
	o_stream_set_no_error_handling(check->output, TRUE);
	ssl_iostream_set_handshake_callback(check->ssl_io,
					    legacy_check_handshaked, check);
	if (ssl_iostream_handshake(check->ssl_io) < 0) {
		legacy_check_fail(check, t_strdup_printf(
			"TLS handshake with the legacy server failed: %s",
			ssl_iostream_get_last_error(check->ssl_io)));
		return -1;
	}
	check->io = io_add_istream(check->input, legacy_check_input, check);
	return 0;
}

/* Acts on what the dialogue asked for; -1 when the check is finished. */
static int legacy_check_act(struct legacy_check *check,
			    enum migrate_legacy_action action)
{
	if (action == MIGRATE_LEGACY_ACTION_DONE) {
		legacy_check_finish(check);
		return -1;
	}
	if (legacy_check_flush_dialogue(check) < 0)
		return -1;
	if (action == MIGRATE_LEGACY_ACTION_START_TLS)
		return legacy_check_start_tls(check);
	return 0;
}

/* Feeds the complete lines read so far; -1 when the check is finished. */
static int legacy_check_lines(struct legacy_check *check)
{
	const unsigned char *data, *lf;
	size_t size, len;

	while ((data = i_stream_get_data(check->input, &size)),
	       (lf = memchr(data, '\n', size)) != NULL) {
		enum migrate_legacy_action action;

		len = lf - data;
		if (len > 0 && data[len - 1] == '\r')
			len--;
		action = migrate_legacy_login_input(check->login,
						    (const char *)data, len);
		i_stream_skip(check->input, lf - data + 1);
		if (legacy_check_act(check, action) < 0)
			return -1;
		if (check->ssl_io != NULL && !check->tls_reported)
			return 0; /* the rest comes through the new streams */
	}
	if (size > MIGRATE_LEGACY_LINE_MAX + 2) {
		legacy_check_fail(check, "legacy server sent an over-long line");
		return -1;
	}
	return 0;
}

static void legacy_check_input(struct legacy_check *check)
{
	ssize_t ret;

	ret = i_stream_read(check->input);
	if (check->ssl_io != NULL && !check->tls_reported &&
	    ssl_iostream_is_handshaked(check->ssl_io)) {
		check->tls_reported = TRUE;
		/* implicit TLS: the dialogue starts with the greeting */
		if (!check->implicit_tls && legacy_check_act(check,
			migrate_legacy_login_tls_started(check->login)) < 0)
			return;
	}
	if (legacy_check_lines(check) < 0)
		return;
	if (ret == -1) {
		const char *error = check->ssl_io != NULL &&
			!ssl_iostream_is_handshaked(check->ssl_io) ?
			t_strdup_printf("TLS handshake with the legacy server failed: %s",
					ssl_iostream_get_last_error(check->ssl_io)) :
			t_strdup_printf("legacy server closed the connection: %s",
					i_stream_get_error(check->input));
		legacy_check_fail(check, error);
	} else if (ret == -2) {
		legacy_check_fail(check, "legacy server sent an over-long line");
	}
}

static void legacy_check_connected(struct legacy_check *check)
{
	int err = net_geterror(check->fd);

	io_remove(&check->io);
	if (err != 0) {
		legacy_check_fail(check, t_strdup_printf(
			"connect(%s:%u) failed: %s", net_ip2addr(&check->ip),
			check->port, strerror(err)));
		return;
	}
	check->input = i_stream_create_fd(check->fd, MIGRATE_LEGACY_LINE_MAX + 2);
	check->output = o_stream_create_fd(check->fd, SIZE_MAX);
	o_stream_set_no_error_handling(check->output, TRUE);
	if (check->implicit_tls) {
		/* the handshake comes before any line */
		(void)legacy_check_start_tls(check);
		return;
	}
	check->io = io_add_istream(check->input, legacy_check_input, check);
}

static void legacy_check_begin(struct legacy_check *check)
{
	timeout_remove(&check->to);
	if (check->login == NULL) {
		/* nothing was sent: these credentials cannot log in anywhere */
		check->callback(MIGRATE_LEGACY_MISMATCH, check->refused_reason,
				check->context);
		legacy_check_free(check);
		return;
	}
	check->to = timeout_add(check->timeout_msecs, legacy_check_timeout, check);
	check->fd = net_connect_ip(&check->ip, check->port, NULL);
	if (check->fd == -1) {
		legacy_check_fail(check, t_strdup_printf(
			"connect(%s:%u) failed: %m", net_ip2addr(&check->ip),
			check->port));
		return;
	}
	check->io = io_add(check->fd, IO_WRITE, legacy_check_connected, check);
}

#undef legacy_check_start
struct legacy_check *
legacy_check_start(const struct legacy_check_settings *set, struct event *event,
		   legacy_check_callback_t *callback, void *context)
{
	struct migrate_legacy_login_settings login_set;
	struct legacy_check *check = i_new(struct legacy_check, 1);
	char error[256];

	check->event = event_create(event);
	check->ip = set->ip;
	check->port = set->port;
	check->host = i_strdup(set->host);
	check->ca_file = i_strdup(set->ca_file);
	check->tls_verify = set->tls_verify;
	check->callback = callback;
	check->context = context;
	check->fd = -1;
	check->implicit_tls = set->tls == MIGRATE_TLS_IMPLICIT;
	check->timeout_msecs = set->timeout_msecs;

	i_zero(&login_set);
	login_set.protocol = set->protocol;
	login_set.starttls = set->tls == MIGRATE_TLS_STARTTLS;
	login_set.user = set->user;
	login_set.password = set->password;
	if (migrate_legacy_login_init(&login_set, &check->login,
				      error, sizeof(error)) < 0)
		check->refused_reason = i_strdup(error);
	/* callers get their answer from the event loop, never from here */
	check->to = timeout_add_short(0, legacy_check_begin, check);
	return check;
}

void legacy_check_abort(struct legacy_check **_check)
{
	struct legacy_check *check = *_check;

	*_check = NULL;
	legacy_check_free(check);
}
