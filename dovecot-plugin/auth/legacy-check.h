#ifndef LEGACY_CHECK_H
#define LEGACY_CHECK_H

/* One login to a legacy IMAP or POP3 server, asynchronous on the auth
   process's event loop: connect, TLS (implicit or STARTTLS, the server
   certificate checked against ca_file unless tls_verify is off), the
   dialogue of common/migrate-legacy-login.h, and a result. Every failure
   that is not the server saying "wrong password" is TEMPFAIL. */

#include "net.h"
#include "migrate-config.h"
#include "migrate-legacy-login.h"

struct legacy_check_settings {
	struct ip_addr ip;
	/* the name the certificate must carry */
	const char *host;
	in_port_t port;
	enum migrate_protocol protocol;
	enum migrate_tls_mode tls;
	bool tls_verify;
	const char *ca_file;
	const char *user, *password;
	unsigned int timeout_msecs;
};

/* reason is for the log: it never holds the password */
typedef void legacy_check_callback_t(enum migrate_legacy_result result,
				     const char *reason, void *context);

struct legacy_check;

/* Never calls back before returning. */
struct legacy_check *
legacy_check_start(const struct legacy_check_settings *set, struct event *event,
		   legacy_check_callback_t *callback, void *context);
#define legacy_check_start(set, event, callback, context) \
	legacy_check_start(set, event, \
		(legacy_check_callback_t *)(callback), \
		(void *)((char *)(context) + CALLBACK_TYPECHECK(callback, \
			void (*)(enum migrate_legacy_result, const char *, \
				 typeof(context)))))
/* Stops a check without calling back. */
void legacy_check_abort(struct legacy_check **check);

#endif
