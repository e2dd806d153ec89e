#ifndef DOVEADM_MIGRATE_MAIL_CMD_H
#define DOVEADM_MIGRATE_MAIL_CMD_H

/* The frame every `doveadm migrate` mail command (sweep, verify, flush,
   special-folders) shares: -c migrate.conf, the config and the store
   opened in init (as root, before the user's privileges are taken: the
   store's files stay open afterwards), closed in deinit, and a table
   output. A command's context starts with a struct migrate_mail_cmd. */

#include "doveadm-mail.h"

struct migrate_config;
struct migrate_store;

struct migrate_mail_cmd {
	struct doveadm_mail_cmd_context ctx;
	/* "sweep", ...: log lines start "migrate NAME: ACCOUNT: " */
	const char *name;
	const char *config_path;
	struct migrate_config *config;
	struct migrate_store *store;
	/* the command's own options besides -c; NULL: none */
	bool (*parse_arg)(struct migrate_mail_cmd *cmd, int c);
	/* its columns (NULL-terminated), printed once the store is open;
	   print_header instead when they depend on the options */
	const char *const *headers;
	void (*print_header)(struct migrate_mail_cmd *cmd);
};

typedef int migrate_mail_cmd_run_t(struct doveadm_mail_cmd_context *ctx,
				   struct mail_user *user);

#define migrate_mail_cmd_alloc(type, name, getopt_args, run) \
	((type *)migrate_mail_cmd_alloc_size(sizeof(type), name, getopt_args, run))
/* getopt_args: the command's options, -c's "c:" included */
struct migrate_mail_cmd *
migrate_mail_cmd_alloc_size(size_t size, const char *name,
			    const char *getopt_args, migrate_mail_cmd_run_t *run);

/* Logs "migrate NAME: ADDRESS: reason" as an error and fails the command
   with a temporary error; returns -1. */
int migrate_mail_cmd_fail(struct migrate_mail_cmd *cmd, const char *address,
			  const char *fmt, ...) ATTR_FORMAT(3, 4);
/* The same with what failed on box and the storage's own error. */
int migrate_mail_cmd_box_fail(struct migrate_mail_cmd *cmd, const char *address,
			      struct mailbox *box, const char *what);

struct migrate_account;
/* The store's record of user's account: 1, or -1 (failed as above) when
   the store has none or cannot be read. */
int migrate_mail_cmd_account(struct migrate_mail_cmd *cmd, struct mail_user *user,
			     struct migrate_account *account_r);

#endif
