/* doveadm migrate add [-c migrate.conf] (-u ACCOUNT | -F FILE)
			[--messages-only | --passwords-only]

   Records accounts by hand, as IceWarp's manual import does, with their
   legacy password: -u reads it from standard input (without echo on a
   terminal), -F reads an account list (migrate-account-list.h:
   user:password[:domain] lines or the CSV account template, whose
   passwords must pass password_policy and whose quota_gb becomes the
   account's quota).

   Default: the account is new (neither in the store nor known to
   Dovecot's userdb) and is queued for import ("local account 'x' already
   exists, not migrated" otherwise). --passwords-only: the same, recorded
   as passwords-only (local logins with that password, no import).
   --messages-only: the account exists in the store already and its mail
   is imported into it: a passwords-only one becomes a "local" account,
   queued for the ledger copier, which only adds; a failed one is queued
   again with the new password. (An account of another userdb is refused:
   the import reads its legacy settings from the migrate userdb.)

   One row per account or bad line: line, account, result, detail. A bad
   line never stops the others; no password is ever printed or logged.
   Exit 65 when a line was refused, 75 on a temporary failure. */

#include "lib.h"
#include "array.h"
#include "askpass.h"
#include "hash.h"
#include "istream.h"
#include "safe-memset.h"
#include "auth-master.h"
#include "doveadm.h"
#include "doveadm-cmd.h"
#include "doveadm-print.h"
#include "doveadm-settings.h"

#include "migrate-account-list.h"
#include "migrate-address.h"
#include "migrate-config.h"
#include "migrate-password-policy.h"
#include "migrate-secret-seal.h"
#include "migrate-store.h"
#include "migrate-vault.h"
#include "doveadm-migrate.h"

#include <fcntl.h>
#include <sysexits.h>
#include <unistd.h>

/* a list of a million accounts is about 50 MB */
#define ADD_FILE_MAX (256 * 1024 * 1024)

enum add_mode {
	ADD_CREATE,
	ADD_MESSAGES_ONLY,
	ADD_PASSWORDS_ONLY,
};

struct add_context {
	struct migrate_config *config;
	struct migrate_store *store;
	struct migrate_vault *vault;
	struct auth_master_connection *auth;
	enum add_mode mode;
	pool_t pool;
	/* address -> the line that named it first */
	HASH_TABLE(char *, void *) seen;
	unsigned int added, refused;
	bool tempfail;
};

/* What an entry resolves to before anything is written. */
struct add_account {
	const struct migrate_account_list_entry *entry;
	struct migrate_address addr;
	const struct migrate_domain *domain;
};

static void add_row(const struct migrate_account_list_entry *entry,
		    const char *account, const char *result, const char *detail)
{
	doveadm_print(entry->line == 0 ? "" : dec2str(entry->line));
	doveadm_print(account);
	doveadm_print(result);
	doveadm_print(detail);
}

static void add_refuse(struct add_context *ctx,
		       const struct migrate_account_list_entry *entry,
		       const char *account, const char *reason)
{
	ctx->refused++;
	add_row(entry, account, "refused", reason);
	if (entry->line != 0)
		i_error("migrate add: line %u: %s", entry->line, reason);
	else
		i_error("migrate add: %s: %s", account, reason);
}

static void add_tempfail(struct add_context *ctx,
			 const struct migrate_account_list_entry *entry,
			 const char *account, const char *reason)
{
	ctx->tempfail = TRUE;
	add_row(entry, account, "failed", reason);
	i_error("migrate add: %s: %s", account, reason);
}

static void add_note_store_problem(const char *path, const char *before,
				   const char *after, void *context)
{
	const char **problem = context;

	if (*problem == NULL) {
		*problem = t_strdup_printf("%s is %s, the auth process needs %s",
					   path, before, after);
	}
}

/* Why the auth service may have failed a lookup: the most common cause
   is ours, a store it cannot open (root made it). NULL when the store's
   owners and modes are right. */
static const char *add_store_problem(struct add_context *ctx)
{
	struct migrate_store_settings set;
	const char *problem = NULL;
	char error[256];

	migrate_store_settings_from_config(&set, ctx->config, MIGRATE_STORE_WRITE);
	if (migrate_store_repair(&set, TRUE, add_note_store_problem, &problem,
				 error, sizeof(error)) < 0)
		return t_strdup(error);
	return problem;
}

/* 1 when Dovecot's userdb knows the account, 0 when not, -1 when it
   cannot be asked. */
static int add_userdb_knows(struct add_context *ctx, const char *address,
			    const char **error_r)
{
	struct auth_user_info info;
	const char *username, *const *fields = NULL;
	pool_t pool;
	int ret;

	if (ctx->auth == NULL) {
		ctx->auth = auth_master_init(doveadm_settings->auth_socket_path,
					     AUTH_MASTER_FLAG_NO_IDLE_TIMEOUT);
	}
	i_zero(&info);
	info.service = "doveadm";
	pool = pool_alloconly_create("migrate add userdb", 512);
	ret = auth_master_user_lookup(ctx->auth, address, &info, pool,
				      &username, &fields);
	if (ret < 0) {
		const char *problem = add_store_problem(ctx);

		*error_r = t_strdup_printf("cannot ask Dovecot's userdb whether "
			"the account exists (%s): %s", doveadm_settings->auth_socket_path,
			fields != NULL && fields[0] != NULL ? fields[0] :
			problem != NULL ? t_strdup_printf("the lookup failed, "
			"and %s (fix, as root: doveadm migrate init)", problem) :
			"the auth service failed the lookup or is unreachable "
			"(Dovecot's log says why; doveadm migrate check)");
	}
	pool_unref(&pool);
	return ret;
}

static const char *add_existing_reason(const char *address)
{
	return t_strdup_printf("local account '%s' already exists, not migrated",
			       address);
}

static int add_seal(struct add_context *ctx, const struct add_account *a,
		    struct migrate_secret *secret_r, const char **error_r)
{
	char legacy_user[MIGRATE_ACCOUNT_ADDRESS_MAX * 4 + 1], error[256];

	if (migrate_domain_legacy_user(a->domain, a->entry->user, a->addr.local,
				       a->addr.domain, legacy_user,
				       sizeof(legacy_user)) < 0) {
		*error_r = "the legacy login name (legacy_user) is too long";
		return -1;
	}
	if (migrate_secret_seal(ctx->vault, a->addr.address, legacy_user,
				a->entry->password, secret_r,
				error, sizeof(error)) < 0) {
		*error_r = t_strdup(error);
		return -1;
	}
	return 0;
}

static void add_new_account(struct add_context *ctx, const struct add_account *a,
			    struct migrate_account *account_r)
{
	i_zero(account_r);
	i_strocpy(account_r->address, a->addr.address, sizeof(account_r->address));
	i_strocpy(account_r->domain, a->domain->name, sizeof(account_r->domain));
	account_r->state = ctx->mode == ADD_PASSWORDS_ONLY ?
		MIGRATE_STATE_PASSWORDS_ONLY : MIGRATE_STATE_QUEUED;
	/* the legacy server's IMAP when it has one: folders and flags */
	account_r->protocol = a->domain->imap_port != 0 ?
		MIGRATE_PROTOCOL_IMAP : MIGRATE_PROTOCOL_POP3;
	account_r->quota_kbytes = a->entry->quota_kbytes;
}

/* A new account: 1 recorded, 0 refused (reason_r), -1 temporary. */
static int add_create(struct add_context *ctx, const struct add_account *a,
		      const char **reason_r)
{
	struct migrate_account account;
	struct migrate_secret secret;
	char error[512];
	int ret;

	if (add_seal(ctx, a, &secret, reason_r) < 0)
		return -1;
	add_new_account(ctx, a, &account);
	ret = migrate_store_account_create(ctx->store, &account, &secret,
					   error, sizeof(error));
	safe_memset(&secret, 0, sizeof(secret));
	if (ret < 0)
		*reason_r = t_strdup(error);
	else if (ret == 0)
		*reason_r = add_existing_reason(a->addr.address);
	return ret;
}

/* --messages-only for an account the store has: 1 queued, 0 refused,
   -1 temporary. The local password hash stays as it is. */
static int add_requeue(struct add_context *ctx, const struct add_account *a,
		       const struct migrate_account *account,
		       const char **reason_r)
{
	struct migrate_secret secret, sealed;
	const char *address = a->addr.address;
	char error[512];
	int ret;

	if (account->state != MIGRATE_STATE_PASSWORDS_ONLY &&
	    account->state != MIGRATE_STATE_FAILED) {
		*reason_r = t_strdup_printf("account '%s' is %s already, not queued",
			address, migrate_account_state_name(account->state));
		return 0;
	}
	if (add_seal(ctx, a, &sealed, reason_r) < 0)
		return -1;
	ret = migrate_store_secret_get(ctx->store, address, &secret,
				       error, sizeof(error));
	if (ret > 0) {
		memcpy(secret.credential, sealed.credential, sealed.credential_len);
		secret.credential_len = sealed.credential_len;
		ret = migrate_store_secret_set(ctx->store, address, &secret,
					       error, sizeof(error));
	} else if (ret == 0) {
		i_strocpy(error, "store: the account has no secret", sizeof(error));
		ret = -1;
	}
	safe_memset(&secret, 0, sizeof(secret));
	safe_memset(&sealed, 0, sizeof(sealed));
	/* passwords-only accounts are served locally already: stay so */
	if (ret >= 0 && account->state == MIGRATE_STATE_PASSWORDS_ONLY)
		ret = migrate_store_account_set_local(ctx->store, address, TRUE,
						      error, sizeof(error));
	if (ret >= 0)
		ret = migrate_store_account_transition(ctx->store, address,
			account->state, MIGRATE_STATE_QUEUED, NULL, 0,
			error, sizeof(error));
	if (ret < 0) {
		*reason_r = t_strdup(error);
		return -1;
	}
	return 1;
}

/* 1 recorded, 0 refused (reason_r), -1 temporary failure (reason_r). */
static int add_record(struct add_context *ctx, const struct add_account *a,
		      const char **reason_r)
{
	struct migrate_account account;
	char error[512];
	int in_store, in_userdb = 0;

	in_store = migrate_store_account_get(ctx->store, a->addr.address,
					     &account, error, sizeof(error));
	if (in_store < 0) {
		*reason_r = t_strdup(error);
		return -1;
	}
	if (in_store == 0 &&
	    (in_userdb = add_userdb_knows(ctx, a->addr.address, reason_r)) < 0)
		return -1;
	switch (ctx->mode) {
	case ADD_CREATE:
	case ADD_PASSWORDS_ONLY:
		if (in_store > 0 || in_userdb > 0) {
			*reason_r = add_existing_reason(a->addr.address);
			return 0;
		}
		return add_create(ctx, a, reason_r);
	case ADD_MESSAGES_ONLY:
		if (in_store > 0)
			return add_requeue(ctx, a, &account, reason_r);
		if (in_userdb > 0) {
			/* the import reads the legacy settings from our
			   userdb, which another userdb's account never
			   reaches */
			*reason_r = t_strdup_printf("account '%s' belongs to "
				"another userdb: --messages-only imports into "
				"accounts of the migration store", a->addr.address);
			return 0;
		}
		*reason_r = t_strdup_printf("no local account '%s', not migrated",
					    a->addr.address);
		return 0;
	}
	i_unreached();
}

static const char *add_result_name(const struct add_context *ctx)
{
	return ctx->mode == ADD_PASSWORDS_ONLY ? "passwords-only" : "queued";
}

/* Checks an entry and resolves its account; FALSE when refused. */
static bool add_resolve(struct add_context *ctx,
			const struct migrate_account_list_entry *entry,
			struct add_account *a_r)
{
	const char *input = entry->domain[0] != '\0' && strchr(entry->user, '@') == NULL ?
		t_strdup_printf("%s@%s", entry->user, entry->domain) : entry->user;
	char error[512], *address;
	void *first;

	i_zero(a_r);
	a_r->entry = entry;
	if (migrate_config_account(ctx->config, input, &a_r->addr, &a_r->domain,
				   error, sizeof(error)) < 0) {
		add_refuse(ctx, entry, input, t_strdup(error));
		return FALSE;
	}
	address = a_r->addr.address;
	first = hash_table_lookup(ctx->seen, address);
	if (first != NULL) {
		add_refuse(ctx, entry, a_r->addr.address, t_strdup_printf(
			"account '%s' already listed on line %u",
			a_r->addr.address, POINTER_CAST_TO(first, unsigned int)));
		return FALSE;
	}
	hash_table_insert(ctx->seen, p_strdup(ctx->pool, address),
			  POINTER_CAST(entry->line == 0 ? 1 : entry->line));
	if (entry->csv &&
	    migrate_password_policy_check(&ctx->config->password_policy,
					  entry->password, error, sizeof(error)) < 0) {
		add_refuse(ctx, entry, a_r->addr.address, t_strdup(error));
		return FALSE;
	}
	return TRUE;
}

static void add_entry(struct add_context *ctx,
		      const struct migrate_account_list_entry *entry)
{
	struct add_account a;
	const char *reason = NULL;
	int ret;

	if (!add_resolve(ctx, entry, &a))
		return;
	ret = add_record(ctx, &a, &reason);
	if (ret < 0) {
		add_tempfail(ctx, entry, a.addr.address, reason);
	} else if (ret == 0) {
		add_refuse(ctx, entry, a.addr.address, reason);
	} else {
		ctx->added++;
		add_row(entry, a.addr.address, add_result_name(ctx),
			a.entry->quota_kbytes == 0 ? "" : t_strdup_printf(
			"quota %"PRIu64" MB", a.entry->quota_kbytes / 1024));
		i_info("migrate add: %s: %s%s", a.addr.address,
		       add_result_name(ctx), ctx->mode == ADD_MESSAGES_ONLY ?
		       " (messages only)" : "");
	}
}

/* The whole file (or standard input for "-"), bounded. */
static int add_read_file(const char *path, buffer_t *buf)
{
	unsigned char chunk[8192];
	ssize_t n;
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY);

	if (fd < 0) {
		i_error("migrate add: open(%s) failed: %m", path);
		return -1;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (buf->used + (size_t)n > ADD_FILE_MAX) {
			i_error("migrate add: %s is larger than %d bytes: split it",
				path, ADD_FILE_MAX);
			n = -2;
			break;
		}
		buffer_append(buf, chunk, (size_t)n);
	}
	if (n == -1)
		i_error("migrate add: read(%s) failed: %m", path);
	safe_memset(chunk, 0, sizeof(chunk));
	if (fd != STDIN_FILENO)
		i_close_fd(&fd);
	return n < 0 ? -1 : 0;
}

static bool add_is_csv_name(const char *path)
{
	size_t len = strlen(path);

	return len > 4 && strcasecmp(path + len - 4, ".csv") == 0;
}

static void add_file(struct add_context *ctx, const char *path)
{
	struct migrate_account_list list;
	struct migrate_account_list_entry entry;
	buffer_t *buf = buffer_create_dynamic(default_pool, 65536);
	char error[512];
	int ret;

	if (add_read_file(path, buf) < 0) {
		doveadm_exit_code = EX_NOINPUT;
	} else {
		migrate_account_list_init(&list, buf->data, buf->used,
					  add_is_csv_name(path));
		while ((ret = migrate_account_list_next(&list, &entry, error,
							sizeof(error))) != 0) {
			T_BEGIN {
				if (ret > 0)
					add_entry(ctx, &entry);
				else
					add_refuse(ctx, &entry, "", error + strcspn(error, ":") + 2);
			} T_END;
		}
		safe_memset(&entry, 0, sizeof(entry));
	}
	safe_memset(buffer_get_modifiable_data(buf, NULL), 0, buf->used);
	buffer_free(&buf);
}

static void add_one(struct add_context *ctx, struct doveadm_cmd_context *cctx)
{
	struct migrate_account_list_entry entry;
	const char *user, *password;

	(void)doveadm_cmd_param_str(cctx, "user", &user);
	i_zero(&entry);
	i_strocpy(entry.user, user, sizeof(entry.user));
	password = t_askpass("Legacy password: ");
	if (*password == '\0' || strlen(password) >= sizeof(entry.password)) {
		add_refuse(ctx, &entry, user, *password == '\0' ?
			   "no password on standard input" : "password too long");
	} else {
		i_strocpy(entry.password, password, sizeof(entry.password));
		add_entry(ctx, &entry);
	}
	safe_memset((char *)password, 0, strlen(password));
	safe_memset(&entry, 0, sizeof(entry));
}

static bool add_parse_mode(struct doveadm_cmd_context *cctx, enum add_mode *mode_r)
{
	bool messages_only = FALSE, passwords_only = FALSE, has_user, has_file;
	const char *value;

	(void)doveadm_cmd_param_bool(cctx, "messages-only", &messages_only);
	(void)doveadm_cmd_param_bool(cctx, "passwords-only", &passwords_only);
	has_user = doveadm_cmd_param_str(cctx, "user", &value);
	has_file = doveadm_cmd_param_str(cctx, "file", &value);
	if (messages_only && passwords_only) {
		i_error("migrate add: --messages-only and --passwords-only "
			"exclude each other");
	} else if (has_user == has_file) {
		i_error("migrate add: give -u ACCOUNT (password on standard "
			"input) or -F FILE");
	} else {
		*mode_r = messages_only ? ADD_MESSAGES_ONLY :
			passwords_only ? ADD_PASSWORDS_ONLY : ADD_CREATE;
		return TRUE;
	}
	doveadm_exit_code = EX_USAGE;
	return FALSE;
}

static bool add_open_vault(struct add_context *ctx)
{
	char error[512];

	if (migrate_vault_open(ctx->config->vault_key, NULL, &ctx->vault,
			       error, sizeof(error)) < 0) {
		i_error("migrate add: %s", error);
		doveadm_exit_code = EX_CONFIG;
		return FALSE;
	}
	return TRUE;
}

void cmd_migrate_add(struct doveadm_cmd_context *cctx)
{
	struct add_context ctx;
	const char *path;

	i_zero(&ctx);
	if (!add_parse_mode(cctx, &ctx.mode) ||
	    !doveadm_migrate_cmd_open(cctx, MIGRATE_STORE_WRITE,
				      &ctx.config, &ctx.store))
		return;
	if (!add_open_vault(&ctx)) {
		doveadm_migrate_cmd_close(&ctx.config, &ctx.store);
		return;
	}
	ctx.pool = pool_alloconly_create("migrate add", 4096);
	hash_table_create(&ctx.seen, ctx.pool, 0, str_hash, strcmp);
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	doveadm_print_header_simple("line");
	doveadm_print_header_simple("account");
	doveadm_print_header_simple("result");
	doveadm_print_header_simple("detail");
	if (doveadm_cmd_param_str(cctx, "file", &path))
		add_file(&ctx, path);
	else
		add_one(&ctx, cctx);
	i_info("migrate add: %u account(s) recorded, %u line(s) refused%s",
	       ctx.added, ctx.refused, ctx.tempfail ?
	       ", some failed for a temporary reason" : "");
	if (ctx.tempfail)
		doveadm_exit_code = EX_TEMPFAIL;
	else if (ctx.refused > 0 && doveadm_exit_code == 0)
		doveadm_exit_code = EX_DATAERR;
	hash_table_destroy(&ctx.seen);
	pool_unref(&ctx.pool);
	if (ctx.auth != NULL)
		auth_master_deinit(&ctx.auth);
	migrate_vault_close(&ctx.vault);
	doveadm_migrate_cmd_close(&ctx.config, &ctx.store);
}
