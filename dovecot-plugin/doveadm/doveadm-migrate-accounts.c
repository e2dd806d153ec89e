/* The operator's account commands:

   doveadm migrate list [-c migrate.conf] [-s STATE]
     one row per account (in address order; only those in STATE with -s):
     account, state, protocol, passes, messages and bytes done/total, next
     retry, last error. Read-only, never waits for the worker.
   doveadm migrate retry [-c migrate.conf] (-u ACCOUNT | --failed)
     a failed account (every failed one with --failed) is queued again at
     once instead of at its retry time. Exit 65 when -u names an account
     that is not failed.
   doveadm migrate forget [-c migrate.conf] -u ACCOUNT
     removes the account from the store: its record, queue entry, stored
     password hash and legacy credential, aliases and ledger. Its local mail
     is left alone; its next login is a first login again and its mail is
     routed as for an unknown account. Refused (exit 65) while a worker or
     a cut-over is on it (importing, cutover). */

#include "lib.h"
#include "array.h"
#include "time-util.h"
#include "doveadm.h"
#include "doveadm-cmd.h"
#include "doveadm-print.h"

#include "migrate-address.h"
#include "migrate-config.h"
#include "migrate-store.h"
#include "doveadm-migrate.h"

#include <sysexits.h>

/* ---- list ---------------------------------------------------------------- */

static int list_one(const struct migrate_account *account, void *context ATTR_UNUSED)
{
	doveadm_migrate_print_account(account);
	return 0;
}

void cmd_migrate_list(struct doveadm_cmd_context *cctx)
{
	struct migrate_config *config;
	struct migrate_store *store;
	enum migrate_account_state state;
	const char *state_name = NULL;
	char error[512];
	int ret;

	if (doveadm_cmd_param_str(cctx, "state", &state_name) &&
	    migrate_account_state_parse(state_name, &state) < 0) {
		i_error("migrate list: unknown state '%s'", state_name);
		doveadm_exit_code = EX_USAGE;
		return;
	}
	if (!doveadm_migrate_cmd_open(cctx, MIGRATE_STORE_READ_ROUTING,
				      &config, &store))
		return;
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	doveadm_migrate_print_account_header();
	ret = state_name == NULL ?
		migrate_store_account_iterate(store, list_one, NULL,
					      error, sizeof(error)) :
		migrate_store_account_iterate_state(store, state, list_one, NULL,
						    error, sizeof(error));
	if (ret < 0) {
		i_error("migrate list: %s", error);
		doveadm_exit_code = EX_TEMPFAIL;
	}
	doveadm_migrate_cmd_close(&config, &store);
}

/* ---- retry --------------------------------------------------------------- */

static int retry_collect(const struct migrate_account *account, void *context)
{
	ARRAY_TYPE(const_string) *addresses = context;
	const char *address = t_strdup(account->address);

	array_push_back(addresses, &address);
	return 0;
}

static void retry_print(const char *address, const char *result)
{
	doveadm_print(address);
	doveadm_print(result);
}

void cmd_migrate_retry(struct doveadm_cmd_context *cctx)
{
	ARRAY_TYPE(const_string) addresses;
	struct migrate_config *config;
	struct migrate_store *store;
	const char *address, *const *a;
	bool all_failed = FALSE;
	char error[512];

	(void)doveadm_cmd_param_bool(cctx, "failed", &all_failed);
	if (!doveadm_migrate_cmd_open(cctx, MIGRATE_STORE_WRITE, &config, &store))
		return;
	t_array_init(&addresses, 16);
	if (!all_failed) {
		if ((address = doveadm_migrate_cmd_account(cctx, config, "retry")) != NULL)
			array_push_back(&addresses, &address);
	} else if (migrate_store_account_iterate_state(store, MIGRATE_STATE_FAILED,
			retry_collect, &addresses, error, sizeof(error)) < 0) {
		i_error("migrate retry: %s", error);
		doveadm_exit_code = EX_TEMPFAIL;
	}
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	doveadm_print_header_simple("account");
	doveadm_print_header_simple("result");
	array_foreach(&addresses, a) {
		/* only from failed: the store refuses any other state */
		if (migrate_store_account_transition(store, *a, MIGRATE_STATE_FAILED,
				MIGRATE_STATE_QUEUED, NULL, 0,
				error, sizeof(error)) < 0) {
			i_error("migrate retry: %s", error);
			doveadm_exit_code = all_failed ? EX_TEMPFAIL : EX_DATAERR;
			retry_print(*a, "not queued");
			continue;
		}
		i_info("migrate retry: %s: queued again", *a);
		retry_print(*a, "queued");
	}
	doveadm_migrate_cmd_close(&config, &store);
}

/* ---- forget -------------------------------------------------------------- */

void cmd_migrate_forget(struct doveadm_cmd_context *cctx)
{
	struct migrate_config *config;
	struct migrate_store *store;
	struct migrate_account account;
	const char *address;
	char error[512];
	int ret;

	if (!doveadm_migrate_cmd_open(cctx, MIGRATE_STORE_WRITE, &config, &store))
		return;
	if ((address = doveadm_migrate_cmd_account(cctx, config, "forget")) == NULL) {
		doveadm_migrate_cmd_close(&config, &store);
		return;
	}
	ret = migrate_store_account_get(store, address, &account, error, sizeof(error));
	if (ret > 0 && (account.state == MIGRATE_STATE_IMPORTING ||
			account.state == MIGRATE_STATE_CUTOVER)) {
		i_error("migrate forget: %s is %s: a worker or a cut-over is on it, "
			"try again once it is done", address,
			migrate_account_state_name(account.state));
		doveadm_exit_code = EX_DATAERR;
	} else if (ret > 0) {
		ret = migrate_store_account_forget(store, address, error, sizeof(error));
	}
	if (ret < 0) {
		i_error("migrate forget: %s", error);
		doveadm_exit_code = EX_TEMPFAIL;
	} else if (ret == 0) {
		i_error("migrate forget: no account %s", address);
		doveadm_exit_code = EX_NOUSER;
	} else if (doveadm_exit_code == 0) {
		i_info("migrate forget: %s: forgotten (was %s); its local mail is "
		       "left as it is", address,
		       migrate_account_state_name(account.state));
		doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
		doveadm_print_header_simple("account");
		doveadm_print_header_simple("was");
		doveadm_print(address);
		doveadm_print(migrate_account_state_name(account.state));
	}
	doveadm_migrate_cmd_close(&config, &store);
}
