#ifndef IMPORT_DSYNC_H
#define IMPORT_DSYNC_H

/* One pass of Dovecot's dsync between two mail users of this process:
   the local mailbox made an exact copy of the legacy one (what `doveadm
   backup -R -u USER imapc:` does, driven here the way doveadm drives its
   brains for a local location). Why not doveadm's own backup command:
   it makes its legacy user itself and ends it with the pass, so every
   other look at the legacy mailbox (the cut-over's check that nothing
   arrived during the pass, the special folders) was another login on
   the legacy server. Here the caller owns the legacy user and asks
   what it wants on the same session. */

#include "mail-error.h"

struct mail_user;

/* 0 when the local side now mirrors legacy; -1 with the cause (dsync
   logs its own errors first) and, in *mail_error_r, its class. Mail
   changed locally during the pass also fails it: the local side of a
   proxied account has no changes of its own. */
int import_dsync_pass(struct mail_user *local, struct mail_user *legacy,
		      const char **error_r, enum mail_error *mail_error_r);

#endif
