#ifndef DOVEADM_MIGRATE_MAILBOX_H
#define DOVEADM_MIGRATE_MAILBOX_H

/* What the mail commands (sweep, verify) share: the legacy mailbox opened
   as a second mail user, the folders of a user, a message's content hash. */

#include "array.h"
#include "sha2.h"
#include "migrate-pop3-relay.h"

struct doveadm_mail_cmd_context;
struct mail;
struct mail_user;
struct migrate_domain;

/* a selectable folder of a user */
struct migrate_folder_entry {
	const char *name;
	/* its SPECIAL-USE flags ("\\Sent"); NULL: none */
	const char *special_use;
	bool subscribed;
};
ARRAY_DEFINE_TYPE(migrate_folder_entry, struct migrate_folder_entry);

/* the legacy mailbox, open */
struct migrate_legacy {
	struct mail_user *user;
	/* pop3c's way to a TLS domain's server */
	struct migrate_pop3_relay relay;
};
/* The command's current user again, on imapc: (pop3c: for POP3) through
   the userdb's legacy fields, reading prefetch messages ahead; POP3 of
   a TLS domain through a relay (migrate-pop3-relay.h). */
int migrate_legacy_open(struct doveadm_mail_cmd_context *ctx,
			const struct migrate_domain *domain, bool pop3,
			unsigned int prefetch, struct migrate_legacy *legacy_r,
			const char **error_r);
/* The same for a dsync pass: pop3c keeps its index of the legacy
   maildrop under the home (MIGRATE_POP3C_INDEX_DIR), so the maildrop's
   UIDVALIDITY holds from one pass to the next. */
int migrate_legacy_open_pass(struct doveadm_mail_cmd_context *ctx,
			     const struct migrate_domain *domain, bool pop3,
			     unsigned int prefetch, struct migrate_legacy *legacy_r,
			     const char **error_r);
void migrate_legacy_close(struct migrate_legacy *legacy);
/* The user's selectable private folders with their subscription (data
   stack); POP3: INBOX only. */
int migrate_list_folders(struct mail_user *user, bool pop3,
			 ARRAY_TYPE(migrate_folder_entry) *folders);
/* SHA-256 of the message's bytes with CRLF read as LF (Maildir stores LF:
   a copy hashes as its original), and how many bytes that was. */
int migrate_mail_hash(struct mail *mail, unsigned char sha256[SHA256_RESULTLEN],
		      uoff_t *size_r, const char **error_r);

#endif
