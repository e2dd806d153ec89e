#ifndef LEGACY_CAPTURE_H
#define LEGACY_CAPTURE_H

/* Checks of a login's password on the legacy server, shared by identical
   concurrent logins (same account, same password), rate-limited and with
   a failure cache (login-guard.h); a password the legacy server accepts
   is hashed, encrypted and recorded with the account, in the background
   for logins that are proxied. */

#include "migrate-login.h"

/* Checks the login's password on the legacy server, or joins the check
   of the same account and password already running; the login is
   answered from there. */
void legacy_capture_check(struct migrate_login *login);
/* Shutting down: stops the checks in flight. */
void legacy_captures_abort(struct migrate_passdb_module *module);

#endif
