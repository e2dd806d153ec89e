#ifndef IMPORT_REASONS_H
#define IMPORT_REASONS_H

/* What the first error of a failed step says, read from Dovecot's own
   words (imapc's, pop3c's, dsync's): the worker's decisions hang on them,
   and they are what a Dovecot upgrade breaks first. The texts seen so far
   are kept in tests/unit/test-import-engine.c. */

/* The legacy server refused the stored credential: the account waits
   for the user's next login instead of retrying. */
bool import_reason_is_auth(const char *reason);
/* The legacy server is throttling (NO [LIMIT], [UNAVAILABLE], [INUSE],
   BYE): its host backs off (import-hosts.h). */
bool import_reason_is_throttle(const char *reason);
/* dsync found the local copy changed behind its back and wants a folder
   anew that it cannot delete (INBOX): the copy is discarded and imported
   afresh. */
bool import_reason_cannot_recreate(const char *reason);

#endif
