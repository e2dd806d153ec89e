#ifndef DOVEADM_MIGRATE_H
#define DOVEADM_MIGRATE_H

struct doveadm_cmd_context;

/* The config named by -c, else doveadm_migrate_default_config_path(), with
   store_user defaulted. NULL (and the exit code set) when it cannot be
   read. */
struct migrate_config *doveadm_migrate_cmd_config(struct doveadm_cmd_context *cctx);

struct migrate_config;
/* Dovecot's plugin { migrate_config }, else the built-in default path
   (doveadm-migrate-defaults.c). */
const char *doveadm_migrate_default_config_path(void);
/* The user Dovecot's auth service runs as (doveconf, asked once per
   process), or NULL. */
const char *doveadm_migrate_auth_user(void);
/* Runs argv (argv[0] from PATH, no shell) and appends what it prints to
   out, at most max bytes (doveadm-migrate-capture.c). -1 with error_r
   when it cannot run, fails, or prints more. */
int doveadm_migrate_capture(const char *const argv[], size_t max,
			    string_t *out, const char **error_r);
/* store_user, when migrate.conf does not set it: the auth service's user
   (a warning when doveconf cannot tell). */
void doveadm_migrate_default_store_user(struct migrate_config *config);

#include "migrate-store.h"

struct migrate_config;

/* For a mail command's init (as root, before the user's privileges are
   taken: the store's files stay open afterwards): the config and the
   store (read-write), or a fatal exit with EX_CONFIG or EX_TEMPFAIL. */
void doveadm_migrate_mail_cmd_open(const char *config_path,
				   struct migrate_config **config_r,
				   struct migrate_store **store_r);
/* For the other commands: the config (-c) and the store opened with
   access; FALSE (the exit code set) when either cannot be. */
bool doveadm_migrate_cmd_open(struct doveadm_cmd_context *cctx,
			      enum migrate_store_access access,
			      struct migrate_config **config_r,
			      struct migrate_store **store_r);
void doveadm_migrate_cmd_close(struct migrate_config **config,
			       struct migrate_store **store);
/* -u's account, normalised as logins are (data stack); NULL (the exit
   code set) when it is missing or not an address of a migrating domain. */
const char *doveadm_migrate_cmd_account(struct doveadm_cmd_context *cctx,
					const struct migrate_config *config,
					const char *command);

/* Sends our "migrate ..." log lines to config's migration log too, from
   now on (doveadm-migrate-log.c); deinit restores Dovecot's handlers. */
void doveadm_migrate_log_config(const struct migrate_config *config);
void doveadm_migrate_log_deinit(void);

/* The migration's figures in the OpenMetrics text format, appended to out
   (doveadm-migrate-status.c); -1 (logged) when the store cannot be read. */
int doveadm_migrate_openmetrics(struct migrate_store *store, string_t *out);

struct migrate_account;
/* One account as a row: account, state, protocol, created, updated,
   passes, folders, messages, bytes (done/total), attempts, next_retry,
   last_error (doveadm-migrate-status.c). */
void doveadm_migrate_print_account_header(void);
void doveadm_migrate_print_account(const struct migrate_account *account);

/* Cuts a synced account over (see doveadm-migrate-cutover.c): 1 migrated;
   0 when the last pass failed (the account is failed and queued again);
   -1 on a store error, -2 when the account is missing or not synced;
   reason_r says why when not 1. Blocks for the kick and the last pass. */
int doveadm_migrate_cutover(const struct migrate_config *config,
			    const char *dovecot_config,
			    struct migrate_store *store, const char *address,
			    const char **reason_r);

struct doveadm_mail_cmd_context *cmd_migrate_sweep_alloc(void);
struct doveadm_mail_cmd_context *cmd_migrate_flush_alloc(void);
struct doveadm_mail_cmd_context *cmd_migrate_pass_alloc(void);
struct doveadm_mail_cmd_context *cmd_migrate_special_alloc(void);
struct doveadm_mail_cmd_context *cmd_migrate_aliases_alloc(void);
struct doveadm_mail_cmd_context *cmd_migrate_archive_alloc(void);
struct doveadm_mail_cmd_context *cmd_migrate_verify_alloc(void);

void cmd_migrate_keygen(struct doveadm_cmd_context *cctx);
void cmd_migrate_init(struct doveadm_cmd_context *cctx);
void cmd_migrate_check(struct doveadm_cmd_context *cctx);
void cmd_migrate_add(struct doveadm_cmd_context *cctx);
void cmd_migrate_worker(struct doveadm_cmd_context *cctx);
void cmd_migrate_pool(struct doveadm_cmd_context *cctx);
void cmd_migrate_cutover(struct doveadm_cmd_context *cctx);
void cmd_migrate_status(struct doveadm_cmd_context *cctx);
void cmd_migrate_finish(struct doveadm_cmd_context *cctx);
void cmd_migrate_list(struct doveadm_cmd_context *cctx);
void cmd_migrate_retry(struct doveadm_cmd_context *cctx);
void cmd_migrate_forget(struct doveadm_cmd_context *cctx);

#endif
