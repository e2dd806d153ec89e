#ifndef MIGRATE_LEGACY_LOGIN_H
#define MIGRATE_LEGACY_LOGIN_H

/* The client side of a login to a legacy IMAP or POP3 server, as a state
   machine without I/O: the caller connects, feeds each line the server
   sends, writes what the machine wants sent, and does the TLS handshake
   when asked. Used by the passdb driver (one check per first login) and,
   later, by the import worker; fuzzed, since every byte comes from a
   server we do not control.

   IMAP: greeting "* OK" (a "* PREAUTH" or "* BYE" greeting is a temporary
   failure), optional "STARTTLS", then "LOGIN user password" with quoted
   strings, or synchronizing literals for values a quoted string cannot
   carry (8-bit bytes); the tagged answer decides:
     OK                                   -> OK
     NO [AUTHENTICATIONFAILED|AUTHORIZATIONFAILED|EXPIRED] or a NO with
        no response code                  -> MISMATCH
     NO with any other code (UNAVAILABLE, LIMIT, SERVERBUG,
        PRIVACYREQUIRED, ...), BAD, BYE   -> TEMPFAIL
   POP3: greeting "+OK", optional "STLS", then "USER" and "PASS":
     +OK                                  -> OK
     -ERR [AUTH] or -ERR with no code     -> MISMATCH
     -ERR [IN-USE] after PASS             -> OK (RFC 2449: the password
                                             was right, the maildrop is
                                             locked)
     -ERR [SYS/TEMP], [SYS/PERM], any other code -> TEMPFAIL
   Anything the dialogue does not expect (a line in the wrong place, a
   foreign tag, an unexpected continuation) is a TEMPFAIL: a server that
   answers garbage never turns into a success or a recorded mismatch.
   After OK the machine queues a polite LOGOUT / QUIT; the caller may
   send it and close without waiting for the answer. */

#include "migrate-account.h"

#include <stdbool.h>
#include <stddef.h>

/* Longest line accepted from the server, CRLF excluded; the caller stops
   reading past it and reports migrate_legacy_login_overlong(). */
#define MIGRATE_LEGACY_LINE_MAX 8192
/* Longest user name and password sent. */
#define MIGRATE_LEGACY_CREDENTIAL_MAX 511
/* Reasons are short, printable ASCII, and never hold the password. */
#define MIGRATE_LEGACY_REASON_MAX 200

enum migrate_legacy_result {
	MIGRATE_LEGACY_PENDING = 0,
	MIGRATE_LEGACY_OK,
	MIGRATE_LEGACY_MISMATCH,
	MIGRATE_LEGACY_TEMPFAIL,
};

enum migrate_legacy_action {
	/* read the next line */
	MIGRATE_LEGACY_ACTION_READ,
	/* start the TLS handshake now, then call
	   migrate_legacy_login_tls_started() */
	MIGRATE_LEGACY_ACTION_START_TLS,
	/* the result is known (migrate_legacy_login_result()) */
	MIGRATE_LEGACY_ACTION_DONE,
};

struct migrate_legacy_login_settings {
	enum migrate_protocol protocol;
	/* upgrade with STARTTLS / STLS after the greeting */
	bool starttls;
	/* copied; the machine wipes its copies when freed */
	const char *user, *password;
};

struct migrate_legacy_login;

/* Returns 0, or -1 with a reason when these credentials can never log in
   and must not be sent (empty user or password, CR, LF or NUL in either,
   longer than MIGRATE_LEGACY_CREDENTIAL_MAX, a space in a POP3 user
   name): the caller treats that as a mismatch. */
int migrate_legacy_login_init(const struct migrate_legacy_login_settings *set,
			      struct migrate_legacy_login **login_r,
			      char *error, size_t error_size);
/* Wipes the credentials and every buffer that held them, then frees. */
void migrate_legacy_login_free(struct migrate_legacy_login **login);

/* One line from the server, without its CRLF (a lone trailing CR is
   also stripped); may contain any bytes, NUL included. */
enum migrate_legacy_action
migrate_legacy_login_input(struct migrate_legacy_login *login,
			   const char *line, size_t len);
/* The handshake asked for by ACTION_START_TLS has completed. */
enum migrate_legacy_action
migrate_legacy_login_tls_started(struct migrate_legacy_login *login);
/* The server sent a line longer than MIGRATE_LEGACY_LINE_MAX, closed the
   connection, or the handshake failed: the result becomes TEMPFAIL with
   this reason (unless a result is already known). */
void migrate_legacy_login_abort(struct migrate_legacy_login *login,
				const char *reason);

/* Bytes to send now (may hold the password): the caller writes all of
   them after every call above, then calls _output_sent(), which wipes the
   buffer. *len_r is 0 when there is nothing to send. */
const unsigned char *
migrate_legacy_login_output(struct migrate_legacy_login *login, size_t *len_r);
void migrate_legacy_login_output_sent(struct migrate_legacy_login *login);

/* PENDING until decided; reason_r (may be NULL) gets why, for the log:
   for example "legacy server answered NO [AUTHENTICATIONFAILED]
   Authentication failed." (the server's text is cut to printable ASCII
   and MIGRATE_LEGACY_REASON_MAX bytes). */
enum migrate_legacy_result
migrate_legacy_login_result(const struct migrate_legacy_login *login,
			    const char **reason_r);

const char *migrate_legacy_result_name(enum migrate_legacy_result result);

#endif
