/* Routing decisions (see route.h). */

#include "route.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static int normalize(const struct policyd *d, const char *recipient,
		     bool fold, struct migrate_address *addr)
{
	struct migrate_address_settings set = {
		.recipient_delimiter = d->config->recipient_delimiter,
		.fold_local_part = fold,
	};

	return migrate_address_normalize(recipient, strlen(recipient), &set, addr, NULL, 0);
}

/* 1 and the account's state, 0 unknown, -1 store error (logged, store
   reopened at the next lookup). */
static int account_state(struct policyd *d, struct migrate_store *store,
			 const char *address, enum migrate_account_state *state_r)
{
	struct migrate_account account;
	char error[512];
	int ret = migrate_store_account_get(store, address, &account, error, sizeof(error));

	if (ret < 0)
		policyd_store_failed(d, error);
	else if (ret > 0)
		*state_r = account.state;
	return ret;
}

static int alias_target(struct policyd *d, struct migrate_store *store,
			const char *address, char *account_r, size_t size)
{
	struct migrate_alias alias;
	char error[512];
	int ret = migrate_store_alias_get(store, address, &alias, error, sizeof(error));

	if (ret < 0)
		policyd_store_failed(d, error);
	else if (ret > 0)
		snprintf(account_r, size, "%s", alias.account);
	return ret;
}

static enum route_kind unknown_route(const struct policyd *d)
{
	switch (d->config->unknown_recipients) {
	case MIGRATE_UNKNOWN_REJECT:
		return ROUTE_REJECT;
	case MIGRATE_UNKNOWN_VERIFY:
		return ROUTE_VERIFY;
	case MIGRATE_UNKNOWN_RELAY:
		break;
	}
	return ROUTE_LEGACY;
}

static enum route_kind route_account(struct policyd *d, struct migrate_store *store,
				     struct route *r)
{
	enum migrate_account_state state;
	int ret = account_state(d, store, r->account, &state);

	if (ret == 0) {
		ret = alias_target(d, store, r->account, r->account, sizeof(r->account));
		if (ret > 0) {
			r->via_alias = true;
			ret = account_state(d, store, r->account, &state);
		}
	}
	if (ret < 0)
		return ROUTE_TEMP;
	if (ret == 0)
		return unknown_route(d);
	/* until cut-over the legacy server holds the mailbox; mail that
	   reaches it during the window is caught by the final sweep */
	return state == MIGRATE_STATE_MIGRATED ? ROUTE_LOCAL : ROUTE_LEGACY;
}

static void count(struct policyd *d, enum route_kind kind)
{
	struct policyd_counters *c = &d->counters;

	c->lookups++;
	switch (kind) {
	case ROUTE_OTHER: c->other++; break;
	case ROUTE_LOCAL: c->local++; break;
	case ROUTE_LEGACY: c->legacy++; break;
	case ROUTE_REJECT: c->rejected++; break;
	case ROUTE_VERIFY: c->verify++; break;
	case ROUTE_TEMP: c->deferred++; break;
	}
}

static void route_find(struct policyd *d, const char *recipient, struct route *r)
{
	struct migrate_address addr;
	struct migrate_store *store;

	memset(r, 0, sizeof(*r));
	r->kind = ROUTE_OTHER;
	/* Postfix also asks for bare domains and the wildcard "*" */
	if (strchr(recipient, '@') == NULL || normalize(d, recipient, false, &addr) < 0)
		return;
	r->domain = migrate_config_find_domain(d->config, addr.domain);
	if (r->domain == NULL)
		return;
	if (r->domain->fold_local_part && normalize(d, recipient, true, &addr) < 0)
		return;
	snprintf(r->account, sizeof(r->account), "%s", addr.address);
	store = policyd_store(d);
	r->kind = store == NULL ? ROUTE_TEMP : route_account(d, store, r);
}

void route_lookup(struct policyd *d, const char *recipient, struct route *r)
{
	route_find(d, recipient, r);
	count(d, r->kind);
}

const char *route_kind_name(enum route_kind kind)
{
	static const char *const names[] = {
		[ROUTE_OTHER] = "other", [ROUTE_LOCAL] = "local",
		[ROUTE_LEGACY] = "legacy", [ROUTE_REJECT] = "reject",
		[ROUTE_VERIFY] = "verify", [ROUTE_TEMP] = "temp",
	};

	return names[kind];
}
