#ifndef DOVEADM_MIGRATE_H
#define DOVEADM_MIGRATE_H

struct doveadm_cmd_context;

/* The config named by -c, else the default path. NULL (and the exit code
   set) when it cannot be read. */
struct migrate_config *doveadm_migrate_cmd_config(struct doveadm_cmd_context *cctx);

void cmd_migrate_worker(struct doveadm_cmd_context *cctx);
void cmd_migrate_cutover(struct doveadm_cmd_context *cctx);
void cmd_migrate_status(struct doveadm_cmd_context *cctx);

#endif
