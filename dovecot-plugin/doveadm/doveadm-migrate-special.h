#ifndef DOVEADM_MIGRATE_SPECIAL_H
#define DOVEADM_MIGRATE_SPECIAL_H

/* Where legacy special folders go locally (doveadm-migrate-special.c). */

#include "migrate-special-folder.h"

struct mail_user;
struct migrate_folder_entry;

/* The local folder of a special use: the one the inbox namespace's
   config gives that special_use, else the English default (data stack). */
const char *migrate_special_local_name(struct mail_user *user,
				       enum migrate_special_use use);
/* The local folder a legacy folder's messages belong in: its special
   folder's, else its own name. */
const char *migrate_special_target(struct mail_user *user,
				   struct mail_user *legacy_user,
				   const struct migrate_folder_entry *legacy);

#endif
