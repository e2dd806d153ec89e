/* doveadm migrate check [-c migrate.conf] [-u account] [-p postfix-dir]
   [-f json]: one
   line per check, "OK   name: what was found" or "FAIL name: the cause
   (fix: what to do)", exit status 1 when any failed (EX_CONFIG when the
   config itself cannot be read). With -f the rows go through doveadm's
   formatter (check, result, detail, fix). With -u the password for the
   test login is read from stdin: never from the command line, where
   every user of the machine could read it.

   This file: the results, the config, the store and the vault key. The
   legacy hosts, Dovecot's and Postfix's settings have files of their
   own. */

#include "lib.h"
#include "str.h"
#include "safe-memset.h"
#include "doveadm.h"
#include "doveadm-cmd.h"
#include "doveadm-print.h"

#include "migrate-config.h"
#include "migrate-store.h"
#include "migrate-vault.h"
#include "doveadm-migrate.h"
#include "doveadm-migrate-check.h"

#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#define CHECK_PASSWORD_MAX 512

static void check_print(struct check_run *run, bool ok, const char *name,
			const char *detail, const char *fix)
{
	if (run->formatted) {
		doveadm_print(name);
		doveadm_print(ok ? "OK" : "FAIL");
		doveadm_print(detail);
		doveadm_print(fix == NULL ? "" : fix);
		return;
	}
	if (ok)
		printf("OK   %s: %s\n", name, detail);
	else
		printf("FAIL %s: %s (fix: %s)\n", name, detail, fix);
	fflush(stdout);
}

void check_ok(struct check_run *run, const char *name, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	T_BEGIN {
		check_print(run, TRUE, name, t_strdup_vprintf(fmt, args), NULL);
	} T_END;
	va_end(args);
}

void check_fail(struct check_run *run, const char *name, const char *fix,
		const char *fmt, ...)
{
	va_list args;

	run->failures++;
	va_start(args, fmt);
	T_BEGIN {
		check_print(run, FALSE, name, t_strdup_vprintf(fmt, args), fix);
	} T_END;
	va_end(args);
}

static void check_repair_needed(const char *path, const char *before,
				const char *after, void *context)
{
	struct check_run *run = context;

	check_fail(run, "store", "as root: doveadm migrate init",
		   "%s is %s, must be %s", path, before, after);
}

static void check_store(struct check_run *run)
{
	const struct migrate_config *config = run->config;
	struct migrate_store_settings set;
	struct migrate_store *store;
	char error[512];
	struct stat st;
	int ret;

	if (stat(config->store, &st) < 0) {
		check_fail(run, "store", "as root: doveadm migrate init",
			   "%s: %m", config->store);
		return;
	}
	migrate_store_settings_from_config(&set, config, MIGRATE_STORE_WRITE);
	ret = migrate_store_repair(&set, TRUE, check_repair_needed, run,
				   error, sizeof(error));
	if (ret < 0) {
		check_fail(run, "store", "as root: doveadm migrate init", "%s", error);
		return;
	}
	if (ret > 0)
		return;
	/* read-only: a check must not create what is missing */
	migrate_store_settings_from_config(&set, config, MIGRATE_STORE_READ_ROUTING);
	if (migrate_store_open(&set, &store, error, sizeof(error)) < 0) {
		check_fail(run, "store", "as root: doveadm migrate init", "%s", error);
		return;
	}
	migrate_store_close(&store);
	check_ok(run, "store", "%s, owner %s, routing readable by group %s",
		 config->store, config->store_user != NULL ? config->store_user : "(creator)",
		 config->store_group != NULL ? config->store_group : "(owner's)");
}

static void check_vault_key(struct check_run *run)
{
	const struct migrate_config *config = run->config;
	struct passwd *pw = config->store_user == NULL ? NULL :
		getpwnam(config->store_user);
	struct migrate_vault *vault;
	char error[512];
	struct stat st;

	if (stat(config->vault_key, &st) < 0) {
		check_fail(run, "vault key", "as root: doveadm migrate init",
			   "%s: %m", config->vault_key);
		return;
	}
	if (pw != NULL && st.st_uid != pw->pw_uid) {
		check_fail(run, "vault key", "as root: doveadm migrate init",
			   "%s is not owned by store_user %s: the auth process "
			   "cannot read it", config->vault_key, config->store_user);
		return;
	}
	if (migrate_vault_open(config->vault_key, NULL, &vault, error, sizeof(error)) < 0) {
		check_fail(run, "vault key", "as root: doveadm migrate init", "%s", error);
		return;
	}
	check_ok(run, "vault key", "%s, mode %04o, id %s", config->vault_key,
		 (unsigned int)(st.st_mode & 07777), migrate_vault_key_id_hex(vault));
	migrate_vault_close(&vault);
}

/* One line from stdin, without echo on a terminal. */
static int check_read_password(struct check_run *run)
{
	char buf[CHECK_PASSWORD_MAX];
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	size_t len;

	if (tty) {
		fprintf(stderr, "legacy password for %s: ", run->user);
		quiet = old;
		quiet.c_lflag &= ~ECHO;
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (fgets(buf, sizeof(buf), stdin) == NULL)
		buf[0] = '\0';
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	if (len == 0) {
		i_error("migrate check: -u %s: no password on stdin", run->user);
		return -1;
	}
	run->password = i_strdup(buf);
	safe_memset(buf, 0, sizeof(buf));
	return 0;
}

static void check_start_output(struct check_run *run)
{
	run->formatted = doveadm_print_is_initialized();
	if (!run->formatted)
		return;
	doveadm_print_header_simple("check");
	doveadm_print_header_simple("result");
	doveadm_print_header_simple("detail");
	doveadm_print_header_simple("fix");
}

void cmd_migrate_check(struct doveadm_cmd_context *cctx)
{
	struct migrate_config *config = doveadm_migrate_cmd_config(cctx);
	struct check_run run;

	if (config == NULL)
		return;
	i_zero(&run);
	run.config = config;
	(void)doveadm_cmd_param_str(cctx, "user", &run.user);
	(void)doveadm_cmd_param_str(cctx, "postfix-config", &run.postfix_dir);
	if (run.user != NULL && check_read_password(&run) < 0) {
		doveadm_exit_code = EX_USAGE;
		migrate_config_free(&config);
		return;
	}
	check_start_output(&run);
	check_ok(&run, "config", "%s, %u migrating domains", config->path,
		 config->domain_count);
	check_store(&run);
	check_vault_key(&run);
	check_legacy_hosts(&run);
	check_dovecot_settings(&run);
	check_postfix_settings(&run);
	if (run.password != NULL) {
		safe_memset(run.password, 0, strlen(run.password));
		i_free(run.password);
	}
	if (run.failures > 0)
		doveadm_exit_code = EXIT_FAILURE;
	migrate_config_free(&config);
}
