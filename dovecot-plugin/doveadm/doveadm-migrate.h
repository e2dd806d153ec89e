#ifndef DOVEADM_MIGRATE_H
#define DOVEADM_MIGRATE_H

struct doveadm_cmd_context;

/* The config named by -c, else the default path. NULL (and the exit code
   set) when it cannot be read. */
struct migrate_config *doveadm_migrate_cmd_config(struct doveadm_cmd_context *cctx);

struct migrate_store;
struct migrate_config;

/* Cuts a synced account over (see doveadm-migrate-cutover.c): 1 migrated;
   0 when the last pass failed (the account is failed and queued again);
   -1 on a store error, -2 when the account is missing or not synced;
   reason_r says why when not 1. Blocks for the kick and the last pass. */
int doveadm_migrate_cutover(const struct migrate_config *config,
			    const char *dovecot_config,
			    struct migrate_store *store, const char *address,
			    const char **reason_r);

struct doveadm_mail_cmd_context *cmd_migrate_sweep_alloc(void);

void cmd_migrate_worker(struct doveadm_cmd_context *cctx);
void cmd_migrate_cutover(struct doveadm_cmd_context *cctx);
void cmd_migrate_status(struct doveadm_cmd_context *cctx);
void cmd_migrate_finish(struct doveadm_cmd_context *cctx);

#endif
