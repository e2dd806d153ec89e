/* Unit tests for migrate-policyd's routing (postfix-policy/route.c) and
   its socketmap and policy answers, over a real store. */

#include "lib.h"
#include "test-common.h"

#include "fixture-accounts.h"
#include "policy.h"
#include "policyd.h"
#include "socketmap.h"


static char store_dir[128];

static void add_account(struct migrate_store *store, const char *address,
			enum migrate_account_state state)
{
	char error[256] = "";

	if (fixture_account_create(store, address, state, NULL, error, sizeof(error)) < 0)
		i_fatal("%s: %s", address, error);
}

static void make_store(void)
{
	struct migrate_store_settings set = { .path = store_dir, .access = MIGRATE_STORE_WRITE };
	struct migrate_store *store;
	struct migrate_alias alias;
	char error[256];

	i_snprintf(store_dir, sizeof(store_dir), "/tmp/test-route.%d", (int)getpid());
	fixture_remove_tree(store_dir);
	if (migrate_store_open(&set, &store, error, sizeof(error)) < 0)
		i_fatal("%s", error);
	add_account(store, "migrated@example.com", MIGRATE_STATE_MIGRATED);
	add_account(store, "queued@example.com", MIGRATE_STATE_QUEUED);
	add_account(store, "CaseSensitive@xn--bcher-kva.example", MIGRATE_STATE_QUEUED);
	i_zero(&alias);
	i_snprintf(alias.alias, sizeof(alias.alias), "sales@example.com");
	i_snprintf(alias.account, sizeof(alias.account), "migrated@example.com");
	if (migrate_store_alias_set(store, &alias, error, sizeof(error)) < 0)
		i_fatal("%s", error);
	migrate_store_close(&store);
}

static void config_policyd(struct policyd *d, const char *unknown, const char *store)
{
	const char *text = t_strdup_printf(
		"store = %s\n"
		"lmtp_transport = lmtp:inet:127.0.0.1:24\n"
		"unknown_recipients = %s\n"
		"[domain example.com]\n"
		"legacy_host = legacy.example.net\n"
		"smtp_port = 2525\n"
		"[domain bücher.example]\n"
		"legacy_host = 192.0.2.7\n"
		"fold_local_part = no\n", store, unknown);
	char error[256];

	i_zero(d);
	if (migrate_config_parse("t", text, strlen(text), &d->config, error, sizeof(error)) < 0)
		i_fatal("%s", error);
}

static const char *lookup(struct policyd *d, const char *map, const char *key)
{
	struct socketmap_request req = { map, key };
	char out[512];
	size_t len = socketmap_answer(d, &req, out, sizeof(out));

	return t_strndup(out, len);
}

static void test_route_transport(void)
{
	static const struct {
		const char *key, *answer;
	} cases[] = {
		{ "migrated@example.com", "OK lmtp:inet:127.0.0.1:24" },
		/* extension, case, angle brackets: the same account */
		{ "Migrated+Tag@EXAMPLE.com", "OK lmtp:inet:127.0.0.1:24" },
		{ "queued@example.com", "OK smtp:[legacy.example.net]:2525" },
		/* unknown with relay: the legacy host accepts or rejects */
		{ "nobody@example.com", "OK smtp:[legacy.example.net]:2525" },
		/* a learnt alias of a migrated account */
		{ "sales@example.com", "OK lmtp:inet:127.0.0.1:24" },
		/* IDN domain as UTF-8 (SMTPUTF8) and as ACE; no case folding there */
		{ "CaseSensitive@bücher.example", "OK smtp:[192.0.2.7]:25" },
		{ "CaseSensitive@xn--bcher-kva.example", "OK smtp:[192.0.2.7]:25" },
		{ "jörg@bücher.example", "OK smtp:[192.0.2.7]:25" },
		/* not ours: other domains, bare domains, the wildcard, junk */
		{ "someone@other.org", "NOTFOUND " },
		{ "example.com", "NOTFOUND " },
		{ "*", "NOTFOUND " },
		{ "a@@example.com", "NOTFOUND " },
	};
	struct policyd d;
	unsigned int i;

	test_begin("route: transport answers per recipient");
	config_policyd(&d, "relay", store_dir);
	for (i = 0; i < N_ELEMENTS(cases); i++)
		test_assert_strcmp_idx(lookup(&d, "transport", cases[i].key), cases[i].answer, i);
	test_assert(d.counters.local == 3 && d.counters.legacy == 5 && d.counters.other == 4);
	policyd_deinit(&d);
	test_end();
}

static void test_route_recipient_maps(void)
{
	struct policyd d;

	test_begin("route: mailbox, relay and alias maps; unknown policies");
	config_policyd(&d, "relay", store_dir);
	test_assert_strcmp(lookup(&d, "mailbox", "Queued@example.com"), "OK queued@example.com");
	test_assert_strcmp(lookup(&d, "relay", "nobody@example.com"), "OK nobody@example.com");
	test_assert_strcmp(lookup(&d, "mailbox", "x@other.org"), "NOTFOUND ");
	test_assert_strcmp(lookup(&d, "alias", "Sales@example.com"), "OK migrated@example.com");
	test_assert_strcmp(lookup(&d, "alias", "migrated@example.com"), "NOTFOUND ");
	policyd_deinit(&d);

	config_policyd(&d, "reject", store_dir);
	test_assert_strcmp(lookup(&d, "mailbox", "nobody@example.com"), "NOTFOUND ");
	test_assert_strcmp(lookup(&d, "relay", "queued@example.com"), "OK queued@example.com");
	policyd_deinit(&d);
	test_end();
}

static const char *policy(struct policyd *d, const char *state, const char *rcpt)
{
	struct policy_request req;
	char out[512];
	size_t len;

	i_zero(&req);
	req.request = "smtpd_access_policy";
	req.protocol_state = state;
	req.recipient = rcpt;
	len = policy_answer(d, &req, out, sizeof(out));
	return t_strndup(out, len);
}

static void test_route_policy(void)
{
	struct policyd d;

	test_begin("route: policy answers at RCPT");
	config_policyd(&d, "reject", store_dir);
	test_assert_strcmp(policy(&d, "RCPT", "nobody@example.com"),
			   "action=550 5.1.1 User unknown in a migrating domain\n\n");
	test_assert_strcmp(policy(&d, "RCPT", "queued@example.com"), "action=DUNNO\n\n");
	test_assert_strcmp(policy(&d, "RCPT", "x@other.org"), "action=DUNNO\n\n");
	test_assert_strcmp(policy(&d, "DATA", "nobody@example.com"), "action=DUNNO\n\n");
	policyd_deinit(&d);

	config_policyd(&d, "verify", store_dir);
	test_assert_strcmp(policy(&d, "RCPT", "nobody@example.com"),
			   "action=reject_unverified_recipient\n\n");
	test_assert_strcmp(policy(&d, "RCPT", "migrated@example.com"), "action=DUNNO\n\n");
	policyd_deinit(&d);
	test_end();
}

static void test_route_store_unavailable(void)
{
	struct policyd d;

	test_begin("route: no store, temporary failures only in migrating domains");
	config_policyd(&d, "relay", "/nonexistent/dovecot-migrate-store");
	test_assert_strcmp(lookup(&d, "transport", "migrated@example.com"),
			   "TEMP migration routing store unavailable");
	test_assert_strcmp(lookup(&d, "mailbox", "queued@example.com"),
			   "TEMP migration routing store unavailable");
	test_assert_strcmp(policy(&d, "RCPT", "queued@example.com"),
			   "action=DEFER_IF_PERMIT 4.3.0 Migration routing unavailable\n\n");
	/* outside the migration nothing depends on the store */
	test_assert_strcmp(lookup(&d, "transport", "x@other.org"), "NOTFOUND ");
	test_assert(d.counters.deferred == 3);
	policyd_deinit(&d);
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_route_transport,
		test_route_recipient_maps,
		test_route_policy,
		test_route_store_unavailable,
		NULL
	};
	int ret;

	make_store();
	ret = test_run(tests);
	fixture_remove_tree(store_dir);
	return ret;
}
