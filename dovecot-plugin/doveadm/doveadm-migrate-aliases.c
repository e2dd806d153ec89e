/* doveadm migrate aliases [-c migrate.conf] -u ACCOUNT

   IceWarp's "aliases created": the addresses of the account's own domain
   that its mail was delivered to without being the account itself are
   learnt as its aliases and recorded in the store, where migrate-policyd
   answers them (socketmap "alias", and the routing of mail for them).

   Read from the newest ALIASES_SCAN_MESSAGES messages of the local INBOX:
   Delivered-To and X-Original-To (the envelope recipients the legacy MTA
   wrote down: one message is enough), and with learn_aliases = headers
   also To (ALIASES_TO_MIN_MESSAGES messages at least: a list address
   now and then is not an alias). An address that is an account itself,
   or already another account's alias, is not taken (the row says so).
   The cut-over runs it when learn_aliases is not "no".

   One row per candidate: alias, source, messages, result (learnt, known,
   account, other-account). */

#include "lib.h"
#include "array.h"
#include "hash.h"
#include "str.h"
#include "message-address.h"
#include "mail-storage.h"
#include "mail-namespace.h"
#include "mail-search-build.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"

#include "migrate-address.h"
#include "migrate-config.h"
#include "migrate-store.h"
#include "doveadm-migrate.h"
#include "doveadm-migrate-mail-cmd.h"

#define ALIASES_SCAN_MESSAGES 2000
#define ALIASES_TO_MIN_MESSAGES 3
/* addresses taken from one header of one message */
#define ALIASES_MAX_PER_HEADER 50

struct alias_candidate {
	const char *source;
	unsigned int messages;
};

struct aliases_cmd_context {
	struct migrate_mail_cmd base;
	struct migrate_address account;
	const struct migrate_domain *domain;
	/* the candidates of the current account, by store key */
	pool_t pool;
	HASH_TABLE(char *, struct alias_candidate *) found;
};

#define aliases_fail(cmd, address, reason) \
	migrate_mail_cmd_fail(&(cmd)->base, address, "%s", reason)

/* The store key of an address of the account's domain, "" otherwise. */
static const char *aliases_key(struct aliases_cmd_context *cmd,
			       const struct message_address *addr)
{
	const struct migrate_config *config = cmd->base.config;
	struct migrate_address_settings set = {
		config->recipient_delimiter, cmd->domain->fold_local_part
	};
	struct migrate_address norm;
	char error[256];
	const char *input;

	if (addr->mailbox == NULL || addr->domain == NULL ||
	    addr->mailbox[0] == '\0' || addr->domain[0] == '\0')
		return "";
	input = t_strdup_printf("%s@%s", addr->mailbox, addr->domain);
	if (migrate_address_normalize(input, strlen(input), &set, &norm,
				      error, sizeof(error)) < 0 ||
	    strcmp(norm.domain, cmd->account.domain) != 0 ||
	    strcmp(norm.address, cmd->account.address) == 0)
		return "";
	return t_strdup(norm.address);
}

static void aliases_collect_header(struct aliases_cmd_context *cmd,
				   struct mail *mail, const char *header)
{
	const char *const *values;
	const struct message_address *addr;
	struct alias_candidate *c;
	HASH_TABLE(char *, void *) seen;

	if (mail_get_headers(mail, header, &values) <= 0)
		return;
	/* a message counts once per address */
	hash_table_create(&seen, pool_datastack_create(), 0, str_hash, strcmp);
	for (; *values != NULL; values++) {
		addr = message_address_parse(pool_datastack_create(),
			(const unsigned char *)*values, strlen(*values),
			ALIASES_MAX_PER_HEADER, 0);
		for (; addr != NULL; addr = addr->next) {
			char *k = t_strdup_noconst(aliases_key(cmd, addr));

			if (*k == '\0' || hash_table_lookup(seen, k) != NULL)
				continue;
			hash_table_insert(seen, k, POINTER_CAST(1));
			c = hash_table_lookup(cmd->found, k);
			if (c == NULL) {
				c = p_new(cmd->pool, struct alias_candidate, 1);
				c->source = p_strdup(cmd->pool, header);
				hash_table_insert(cmd->found, p_strdup(cmd->pool, k), c);
			}
			c->messages++;
		}
	}
	hash_table_destroy(&seen);
}

static int aliases_scan(struct aliases_cmd_context *cmd, struct mail_user *user)
{
	static const char *const envelope[] = { "Delivered-To", "X-Original-To", NULL };
	struct mail_namespace *ns = mail_namespace_find_inbox(user->namespaces);
	struct mailbox *box = mailbox_alloc(ns->list, "INBOX", MAILBOX_FLAG_READONLY);
	struct mailbox_transaction_context *t;
	struct mail_search_args *args;
	struct mail_search_context *search;
	struct mailbox_status status;
	struct mail *mail;
	unsigned int i;
	int ret = 0;

	if (mailbox_sync(box, 0) < 0) {
		ret = mailbox_get_last_mail_error(box) == MAIL_ERROR_NOTFOUND ? 0 :
			aliases_fail(cmd, user->username, mailbox_get_last_internal_error(box, NULL));
		mailbox_free(&box);
		return ret;
	}
	mailbox_get_open_status(box, STATUS_MESSAGES, &status);
	t = mailbox_transaction_begin(box, 0, "migrate aliases");
	args = mail_search_build_init();
	mail_search_build_add_seqset(args, status.messages > ALIASES_SCAN_MESSAGES ?
				     status.messages - ALIASES_SCAN_MESSAGES + 1 : 1,
				     I_MAX(status.messages, 1));
	search = mailbox_search_init(t, args, NULL, 0, NULL);
	mail_search_args_unref(&args);
	while (status.messages > 0 && mailbox_search_next(search, &mail)) T_BEGIN {
		for (i = 0; envelope[i] != NULL; i++)
			aliases_collect_header(cmd, mail, envelope[i]);
		if (cmd->base.config->learn_aliases == MIGRATE_ALIASES_HEADERS)
			aliases_collect_header(cmd, mail, "To");
	} T_END;
	if (mailbox_search_deinit(&search) < 0)
		ret = aliases_fail(cmd, user->username, mailbox_get_last_internal_error(box, NULL));
	(void)mailbox_transaction_commit(&t);
	mailbox_free(&box);
	return ret;
}

/* The result word for one candidate, recording it when it is learnt. */
static const char *aliases_record(struct aliases_cmd_context *cmd,
				  const char *alias, const struct alias_candidate *c,
				  const char **error_r)
{
	struct migrate_store *store = cmd->base.store;
	struct migrate_account account;
	struct migrate_alias existing, new_alias;
	char error[512];
	int ret;

	ret = migrate_store_account_get(store, alias, &account, error, sizeof(error));
	if (ret > 0)
		return "account";
	if (ret == 0)
		ret = migrate_store_alias_get(store, alias, &existing, error, sizeof(error));
	if (ret < 0) {
		*error_r = t_strdup(error);
		return NULL;
	}
	if (ret > 0)
		return strcmp(existing.account, cmd->account.address) == 0 ?
			"known" : "other-account";
	i_zero(&new_alias);
	i_strocpy(new_alias.alias, alias, sizeof(new_alias.alias));
	i_strocpy(new_alias.account, cmd->account.address, sizeof(new_alias.account));
	i_strocpy(new_alias.source, c->source, sizeof(new_alias.source));
	if (migrate_store_alias_set(store, &new_alias, error, sizeof(error)) < 0) {
		*error_r = t_strdup(error);
		return NULL;
	}
	return "learnt";
}

static int aliases_cmp(const char *const *a, const char *const *b)
{
	return strcmp(*a, *b);
}

static int aliases_record_all(struct aliases_cmd_context *cmd)
{
	struct hash_iterate_context *iter = hash_table_iterate_init(cmd->found);
	ARRAY_TYPE(const_string) keys;
	struct alias_candidate *c;
	const char *const *key, *result, *error;
	unsigned int learnt = 0;
	char *k;

	t_array_init(&keys, 16);
	while (hash_table_iterate(iter, cmd->found, &k, &c))
		array_push_back(&keys, (const char *const *)&k);
	hash_table_iterate_deinit(&iter);
	array_sort(&keys, aliases_cmp);
	array_foreach(&keys, key) {
		c = hash_table_lookup(cmd->found, *key);
		if (strcmp(c->source, "To") == 0 && c->messages < ALIASES_TO_MIN_MESSAGES)
			continue;
		if ((result = aliases_record(cmd, *key, c, &error)) == NULL)
			return aliases_fail(cmd, cmd->account.address, error);
		if (strcmp(result, "learnt") == 0) {
			learnt++;
			i_info("migrate aliases: %s: learnt %s (%s, %u messages)",
			       cmd->account.address, *key, c->source, c->messages);
		}
		doveadm_print(*key);
		doveadm_print(c->source);
		doveadm_print_num(c->messages);
		doveadm_print(result);
	}
	if (learnt > 0) {
		i_info("migrate aliases: %s: %u aliases learnt",
		       cmd->account.address, learnt);
	}
	return 0;
}

static int cmd_aliases_run(struct doveadm_mail_cmd_context *ctx, struct mail_user *user)
{
	struct aliases_cmd_context *cmd = (struct aliases_cmd_context *)ctx;
	char error[512];
	int ret;

	if (migrate_config_account(cmd->base.config, user->username, &cmd->account,
				   &cmd->domain, error, sizeof(error)) < 0)
		return aliases_fail(cmd, user->username, error);
	cmd->pool = pool_alloconly_create("migrate aliases", 4096);
	hash_table_create(&cmd->found, cmd->pool, 0, str_hash, strcmp);
	ret = aliases_scan(cmd, user);
	if (ret == 0)
		ret = aliases_record_all(cmd);
	hash_table_destroy(&cmd->found);
	pool_unref(&cmd->pool);
	return ret;
}

static const char *const aliases_headers[] = {
	"alias", "source", "messages", "result", NULL
};

struct doveadm_mail_cmd_context *cmd_migrate_aliases_alloc(void)
{
	struct aliases_cmd_context *cmd;

	cmd = migrate_mail_cmd_alloc(struct aliases_cmd_context, "aliases", "c:",
				     cmd_aliases_run);
	cmd->base.headers = aliases_headers;
	return &cmd->base.ctx;
}
