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
	const char *config_path;
	struct migrate_config *config;
	struct migrate_store *store;
	/* the command's own options besides -c; NULL: none */
	bool (*parse_arg)(struct migrate_mail_cmd *cmd, int c);
	/* its columns, printed once the store is open */
	void (*print_header)(struct migrate_mail_cmd *cmd);
};

typedef int migrate_mail_cmd_run_t(struct doveadm_mail_cmd_context *ctx,
				   struct mail_user *user);

#define migrate_mail_cmd_alloc(type, getopt_args, run) \
	((type *)migrate_mail_cmd_alloc_size(sizeof(type), getopt_args, run))
/* getopt_args: the command's options, -c's "c:" included */
struct migrate_mail_cmd *
migrate_mail_cmd_alloc_size(size_t size, const char *getopt_args,
			    migrate_mail_cmd_run_t *run);

#endif
