#ifndef ROUTE_H
#define ROUTE_H

/* Where mail for one recipient goes while accounts move: the decision
   behind every socketmap and policy answer. */

#include "migrate-address.h"
#include "policyd.h"

enum route_kind {
	ROUTE_OTHER,	/* not a migrating domain (or not an address): not ours */
	ROUTE_LOCAL,	/* migrated account: LMTP to Dovecot */
	ROUTE_LEGACY,	/* account still on the legacy host, or unknown + relay */
	ROUTE_REJECT,	/* unknown + unknown_recipients = reject */
	ROUTE_VERIFY,	/* unknown + unknown_recipients = verify */
	ROUTE_TEMP,	/* the store cannot answer: Postfix must defer */
};

struct route {
	enum route_kind kind;
	const struct migrate_domain *domain;	/* all but OTHER */
	/* the account mail is for: the normalised recipient, or the account
	   a learnt alias points at */
	char account[MIGRATE_ACCOUNT_ADDRESS_MAX + 1];
	bool via_alias;
};

void route_lookup(struct policyd *d, const char *recipient, struct route *route_r);
const char *route_kind_name(enum route_kind kind);

#endif
