#ifndef DOVEADM_MIGRATE_MOVE_H
#define DOVEADM_MIGRATE_MOVE_H

/* Moving local messages after the cut-over (special folders merged,
   huge folders archived by year) without losing what the ledger knows:
   the moved messages' content hashes are recorded under their legacy
   folder first, so a later sweep still recognises them when the legacy
   UIDVALIDITY changes; and a message already in the target (same bytes)
   is not copied twice. Copies are committed before the originals are
   expunged: a crash in between leaves duplicates, which running it again
   removes. */

#include "seq-range-array.h"

struct mail_user;
struct mailbox;
struct migrate_ledger_folder;
struct migrate_store;

/* Records every message dsync placed in source (below rec's watermark)
   under the legacy folder rec, once (rec->seeded, saved). */
int migrate_move_seed(struct migrate_store *store, const char *address,
		      struct migrate_ledger_folder *rec, struct mailbox *source,
		      const char **error_r);

struct migrate_move_result {
	unsigned int moved, duplicates;
};

/* Moves source's messages with the given UIDs (NULL: all) into the
   folder target_name, created when missing. */
int migrate_move_messages(struct mail_user *user, struct mailbox *source,
			  const ARRAY_TYPE(seq_range) *uids,
			  const char *target_name,
			  struct migrate_move_result *result_r,
			  const char **error_r);

#endif
