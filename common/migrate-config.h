#ifndef MIGRATE_CONFIG_H
#define MIGRATE_CONFIG_H

/* migrate.conf: the one config file every part of dovecot-migrate reads.
   Format and key names are fixed in doc/DESIGN.md: "key = value" lines, '#'
   comments, and one "[domain NAME]" section per migrating domain. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migrate-password-policy.h"

#define MIGRATE_CONFIG_MAX_FILE_SIZE (1024 * 1024)
#define MIGRATE_CONFIG_MAX_LINE 4096
#define MIGRATE_CONFIG_MAX_DOMAINS 10000

enum migrate_tls_mode {
	MIGRATE_TLS_STARTTLS,
	MIGRATE_TLS_IMPLICIT,
	MIGRATE_TLS_NONE,
};

enum migrate_login_mode {
	MIGRATE_MODE_PROXY,
	MIGRATE_MODE_REFUSE,
	MIGRATE_MODE_LOCAL,
};

enum migrate_cutover_policy {
	MIGRATE_CUTOVER_AUTO,
	MIGRATE_CUTOVER_MANUAL,
};

enum migrate_alias_learning {
	MIGRATE_ALIASES_NO,
	/* Delivered-To and X-Original-To: the envelope recipients the legacy
	   MTA wrote down */
	MIGRATE_ALIASES_ENVELOPE,
	/* those and To */
	MIGRATE_ALIASES_HEADERS,
};

enum migrate_special_folders {
	MIGRATE_SPECIAL_FOLDERS_MERGE,
	MIGRATE_SPECIAL_FOLDERS_KEEP,
};

enum migrate_unknown_policy {
	MIGRATE_UNKNOWN_RELAY,
	MIGRATE_UNKNOWN_REJECT,
	MIGRATE_UNKNOWN_VERIFY,
};

struct migrate_domain {
	char *name;		/* lower-case */
	char *legacy_host;
	uint16_t imap_port, pop3_port, smtp_port; /* 0 disables */
	enum migrate_tls_mode tls;
	char *legacy_user;	/* %u, %n, %d template */
	bool tls_verify;
	/* Dovecot 2.3's login proxy checks the legacy certificate against the
	   system's trust store only (it ignores ca_file and ssl_client_ca_*):
	   "no" lets proxied sessions reach a server whose certificate only a
	   private CA vouches for. Never stronger than tls_verify. */
	bool proxy_tls_verify;
	char *ca_file;
	char *local_ip;		/* NULL when unset */
	bool is_default;
	/* the legacy server treats local parts case-insensitively */
	bool fold_local_part;
	/* optional admin login able to read every mailbox (both or none);
	   its password lives in its own file, not in this world-readable one */
	char *legacy_master_user;
	char *legacy_master_password_file;
	unsigned int line;	/* where its section starts, for messages */
};

struct migrate_config {
	char *path;
	char *store;
	char *vault_key;
	char *log;
	enum migrate_login_mode mode;
	enum migrate_unknown_policy unknown_recipients;
	/* concurrent imports; 0 (unset): two per CPU */
	unsigned int workers;
	char *policy_listen;
	char *socketmap_listen;
	char *lmtp_transport;
	/* owner of the store when created by root; NULL: the creator */
	char *store_user;
	char *store_group;
	/* migrate-policyd drops to this user after binding (when started as
	   root); NULL: it keeps running as it was started */
	char *policyd_user;
	/* migrate-policyd logs its counters this often */
	unsigned int policyd_stats_secs;
	/* Postfix's recipient_delimiter: "" when extensions are not used */
	char *recipient_delimiter;
	/* legacy password checks allowed per minute, per user and per client
	   IP, and how long a failed check is remembered */
	unsigned int legacy_checks_per_user, legacy_checks_per_ip;
	unsigned int legacy_failure_cache_secs;
	/* a legacy login check gives up after this long (temporary failure) */
	unsigned int legacy_timeout_secs;
	/* connect timeout handed to Dovecot's login proxy */
	unsigned int proxy_timeout_secs;
	/* auto: the worker cuts an account over once an import pass took
	   less than cutover_pass_secs (it has converged: the window in which
	   logins are refused stays short); manual: doveadm migrate cutover */
	enum migrate_cutover_policy cutover;
	/* imports running at once against one legacy host (dsync itself has
	   no throttle: this protects the old server) */
	unsigned int imports_per_legacy_host;
	unsigned int cutover_pass_secs;
	/* the ledger copier sweeps an account this long after its cut-over
	   (mail the legacy server still got meanwhile) */
	unsigned int sweep_after_secs;
	/* a legacy host whose folder counts take this long is slow: the
	   worker runs fewer jobs against it */
	unsigned int legacy_slow_secs;
	/* a worker step whose doveadm reads nothing for this long is stopped
	   (a legacy server that stopped answering but keeps the connection);
	   0: never */
	unsigned int import_stall_secs;
	/* messages the import asks the legacy server for ahead of the one it
	   is saving (Dovecot's mail_prefetch_count for imapc/pop3c): hides
	   each message's round trip; 0: one at a time */
	unsigned int import_prefetch;
	/* cutover = manual: a synced account gets another pass this long
	   after its last one, so the pass at the operator's cut-over stays
	   short; 0: never */
	unsigned int resync_secs;
	/* each import reads the legacy server at most this many kB (1000
	   bytes) per second; 0: no cap */
	unsigned int import_kbytes_per_sec;
	/* the quota of accounts that bring none of their own (kB);
	   0: no quota */
	uint64_t default_quota;
	/* legacy special folders go into the local special-use ones (merge,
	   the default) or keep their names (keep) */
	enum migrate_special_folders special_folders;
	/* after the cut-over, INBOX and Sent holding more than archive_over
	   messages (0: never) have those older than archive_keep_days moved
	   to Archive/<year> */
	unsigned int archive_over, archive_keep_days;
	/* the worker keeps the OpenMetrics text of `status --openmetrics`
	   in this file (NULL: none), rewritten every few seconds */
	char *metrics_file;
	/* the cut-over learns the account's aliases from its mail */
	enum migrate_alias_learning learn_aliases;
	/* what passwords in account lists (CSV) must look like */
	struct migrate_password_policy password_policy;
	/* threads hashing and verifying passwords in the auth process;
	   0: one per CPU */
	unsigned int hash_threads;
	/* mode = refuse: the text a refused login shows the client */
	char *refuse_message;
	/* mode = refuse: where the informational message is delivered
	   (unix:PATH or inet:HOST:PORT of Dovecot's LMTP; NULL: no message),
	   its sender (a bare local part gets the account's domain), subject
	   and body file (NULL: a built-in text) */
	char *notice_lmtp, *notice_from, *notice_subject, *notice_file;

	struct migrate_domain *domains;
	unsigned int domain_count;
};

/* Reads and checks the file. Returns 0 and *config_r, or -1 with a message
   naming the file, the line and the offending key in error_r (size
   error_size). */
int migrate_config_load(const char *path, struct migrate_config **config_r,
			char *error_r, size_t error_size);
/* Same, from memory; `name` is used in messages. */
int migrate_config_parse(const char *name, const char *text, size_t size,
			 struct migrate_config **config_r,
			 char *error_r, size_t error_size);
void migrate_config_free(struct migrate_config **config);

/* The domain section for a (lower-case) domain name, or NULL. */
const struct migrate_domain *
migrate_config_find_domain(const struct migrate_config *config,
			   const char *domain);
/* The domain a login without @domain belongs to, arriving on local_ip
   (may be NULL): a local_ip match first, else the default domain, else NULL. */
const struct migrate_domain *
migrate_config_domain_for_ip(const struct migrate_config *config,
			     const char *local_ip);

struct migrate_address;
/* The store key of the account "local@domain" names: normalised (see
   migrate-address.h, no extension split) with its domain's
   fold_local_part. -1 with a reason when it is not an address or its
   domain is not migrating. */
int migrate_config_account(const struct migrate_config *config,
			   const char *input, struct migrate_address *addr_r,
			   const struct migrate_domain **domain_r,
			   char *error, size_t error_size);

/* The login name the legacy server gets: the domain's legacy_user
   template with %u (the user as typed), %n (local part), %d (domain) and
   %% expanded. -1 when it does not fit in out_size. */
int migrate_domain_legacy_user(const struct migrate_domain *domain,
			       const char *typed, const char *local,
			       const char *domain_name,
			       char *out, size_t out_size);

const char *migrate_tls_mode_name(enum migrate_tls_mode mode);

#endif
