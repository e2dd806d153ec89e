/* doveadm migrate keygen and init: the files the Dovecot side and
   migrate-policyd open, with the owners and modes migrate.conf names.

   init is what the package's postinst runs and what an operator runs
   after changing store, store_user or store_group: it creates the empty
   store (so migrate-policyd routes unknown recipients of a migrating
   domain to the legacy MX before the first account exists, instead of
   answering "store unavailable") and the vault key when missing, and
   repairs what root made by hand (a store directory of mode 0755 owned
   by root fails every first login). It changes nothing that is right, so
   running it twice is safe; it never replaces a key. */

#include "lib.h"
#include "doveadm.h"
#include "doveadm-cmd.h"
#include "doveadm-print.h"

#include "migrate-config.h"
#include "migrate-store.h"
#include "migrate-vault.h"
#include "doveadm-migrate.h"

#include <pwd.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

/* The Dovecot side reads the key as store_user: hand it over. */
static int give_key_to_store_user(const struct migrate_config *config)
{
	struct passwd *pw;

	if (config->store_user == NULL || geteuid() != 0)
		return 0;
	pw = getpwnam(config->store_user);
	if (pw == NULL) {
		i_error("store_user %s: no such user", config->store_user);
		return -1;
	}
	if (chown(config->vault_key, pw->pw_uid, pw->pw_gid) < 0) {
		i_error("chown(%s) failed: %m", config->vault_key);
		return -1;
	}
	return 0;
}

static int key_create(const struct migrate_config *config)
{
	char error[512];

	if (migrate_vault_keygen(config->vault_key, error, sizeof(error)) < 0) {
		i_error("%s", error);
		doveadm_exit_code = EX_CANTCREAT;
		return -1;
	}
	if (give_key_to_store_user(config) < 0) {
		doveadm_exit_code = EX_NOPERM;
		return -1;
	}
	return 0;
}

void cmd_migrate_keygen(struct doveadm_cmd_context *cctx)
{
	struct migrate_config *config = doveadm_migrate_cmd_config(cctx);
	struct migrate_vault *vault;
	char error[512];

	if (config == NULL)
		return;
	if (key_create(config) < 0) {
		/* logged */
	} else if (migrate_vault_open(config->vault_key, NULL, &vault,
				      error, sizeof(error)) < 0) {
		i_error("%s", error);
		doveadm_exit_code = EX_SOFTWARE;
	} else {
		doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
		doveadm_print_header_simple("key");
		doveadm_print_header_simple("id");
		doveadm_print(config->vault_key);
		doveadm_print(migrate_vault_key_id_hex(vault));
		migrate_vault_close(&vault);
	}
	migrate_config_free(&config);
}

static void init_print(const char *path, const char *result)
{
	doveadm_print(path);
	doveadm_print(result);
}

static void init_report_repair(const char *path, const char *before,
			       const char *after, void *context)
{
	(void)context;
	init_print(path, t_strdup_printf("repaired: %s, was %s", after, before));
}

static int init_store(const struct migrate_config *config)
{
	struct migrate_store_settings set;
	struct migrate_store *store;
	struct stat st;
	char error[512];
	bool existed;
	int changed;

	migrate_store_settings_from_config(&set, config, MIGRATE_STORE_WRITE);
	/* a store directory alone (the package's) holds no store yet */
	existed = stat(t_strconcat(set.path, "/routing", NULL), &st) == 0;
	changed = migrate_store_repair(&set, FALSE, init_report_repair, NULL,
				       error, sizeof(error));
	if (changed < 0 ||
	    migrate_store_open(&set, &store, error, sizeof(error)) < 0) {
		i_error("%s", error);
		doveadm_exit_code = EX_CANTCREAT;
		return -1;
	}
	migrate_store_close(&store);
	if (!existed)
		init_print(set.path, "created");
	else if (changed == 0)
		init_print(set.path, "ok");
	return 0;
}

/* The key: created when missing, else given back to store_user with mode
   0600 (the vault refuses a key others can read). */
static int init_key(const struct migrate_config *config)
{
	struct passwd *pw;
	struct stat st;

	if (lstat(config->vault_key, &st) < 0) {
		if (errno != ENOENT) {
			i_error("stat(%s) failed: %m", config->vault_key);
			doveadm_exit_code = EX_IOERR;
			return -1;
		}
		if (key_create(config) < 0)
			return -1;
		init_print(config->vault_key, "created");
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		i_error("vault key %s is not a regular file", config->vault_key);
		doveadm_exit_code = EX_CONFIG;
		return -1;
	}
	pw = config->store_user == NULL ? NULL : getpwnam(config->store_user);
	if ((st.st_mode & 07777) == 0600 &&
	    (pw == NULL || geteuid() != 0 || st.st_uid == pw->pw_uid)) {
		init_print(config->vault_key, "ok");
		return 0;
	}
	if (chmod(config->vault_key, 0600) < 0) {
		i_error("chmod(%s) failed: %m", config->vault_key);
		doveadm_exit_code = EX_NOPERM;
		return -1;
	}
	if (give_key_to_store_user(config) < 0) {
		doveadm_exit_code = EX_NOPERM;
		return -1;
	}
	init_print(config->vault_key, t_strdup_printf(
		"repaired: %s mode 0600, was mode %04o",
		config->store_user != NULL ? config->store_user : "owner",
		(unsigned int)(st.st_mode & 07777)));
	return 0;
}

void cmd_migrate_init(struct doveadm_cmd_context *cctx)
{
	struct migrate_config *config = doveadm_migrate_cmd_config(cctx);

	if (config == NULL)
		return;
	doveadm_print_init(DOVEADM_PRINT_TYPE_TABLE);
	doveadm_print_header_simple("path");
	doveadm_print_header_simple("result");
	if (config->store_user != NULL && geteuid() != 0 &&
	    getpwnam(config->store_user) != NULL &&
	    getpwnam(config->store_user)->pw_uid != geteuid()) {
		i_error("migrate init: run it as root (the store belongs to %s)",
			config->store_user);
		doveadm_exit_code = EX_NOPERM;
	} else if (init_store(config) == 0) {
		(void)init_key(config);
	}
	migrate_config_free(&config);
}
