#ifndef NOTICE_LMTP_H
#define NOTICE_LMTP_H

/* mode = refuse: the informational message ("your mailbox is being
   moved") delivered to a newly captured account's new INBOX through
   Dovecot's LMTP (notice_lmtp), from notice_from, with notice_subject
   and the text of notice_file. Fire and forget on the event loop: a
   failure is logged, and the login's answer never waits for it. */

#include "migrate-config.h"

void notice_lmtp_send(const struct migrate_config *config, const char *address);

#endif
