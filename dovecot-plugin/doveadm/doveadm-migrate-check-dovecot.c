/* doveadm migrate check: the settings of Dovecot (doveconf -S of the
   config doveadm runs with) and of Postfix (postconf, MAIL_CONFIG as
   Postfix's own tools honour it) that the product depends on. Each rule
   says why in its FAIL line. */

#include "lib.h"
#include "str.h"
#include "hash.h"
#include "strescape.h"
#include "settings-parser.h"
#include "master-service.h"

#include "migrate-config.h"
#include "doveadm-migrate.h"
#include "doveadm-migrate-check.h"

#define DOVECONF_OUTPUT_MAX (4 * 1024 * 1024)
#define AUTH_VSZ_MIN (1024ULL * 1024 * 1024)

struct dovecot_settings {
	HASH_TABLE(const char *, const char *) values;
	string_t *text;
};

static const char *dc_get(struct dovecot_settings *ds, const char *key)
{
	const char *value = hash_table_lookup(ds->values, key);

	return value == NULL ? "" : value;
}

static int dc_read(struct dovecot_settings *ds, const char **error_r)
{
	const char *argv[] = {
		"doveconf", "-c", master_service_get_config_path(master_service),
		"-S", NULL
	};
	const char *const *lines, *eq;

	ds->text = t_str_new(65536);
	if (doveadm_migrate_capture(argv, DOVECONF_OUTPUT_MAX, ds->text, error_r) < 0)
		return -1;
	hash_table_create(&ds->values, pool_datastack_create(), 1024, str_hash, strcmp);
	for (lines = t_strsplit(str_c(ds->text), "\n"); *lines != NULL; lines++) {
		if ((eq = strchr(*lines, '=')) != NULL)
			hash_table_update(ds->values, t_strdup_until(*lines, eq), eq + 1);
	}
	return 0;
}

/* The name of the first passdb or userdb (kind) with driver = migrate,
   or NULL. */
static const char *dc_find_driver(struct dovecot_settings *ds, const char *kind)
{
	const char *const *names = t_strsplit_spaces(dc_get(ds, kind), " ");

	for (; *names != NULL; names++) {
		if (strcmp(dc_get(ds, t_strdup_printf("%s/%s/driver", kind, *names)),
			   "migrate") == 0)
			return *names;
	}
	return NULL;
}

/* The operator's passdbs first, ours after them: a user an earlier
   passdb knows is never checked against the legacy server. */
static void check_passdb_order(struct check_run *run, struct dovecot_settings *ds)
{
	const char *fix = "include conf.d/auth-migrate.conf.ext after the "
		"operator's passdbs (10-auth.conf's last !include)";
	const char *const *names = t_strsplit_spaces(dc_get(ds, "passdb"), " ");
	const char *driver, *ours = NULL;
	unsigned int i;

	for (i = 0; names[i] != NULL; i++) {
		driver = dc_get(ds, t_strdup_printf("passdb/%s/driver", names[i]));
		if (strcmp(driver, "migrate") == 0) {
			ours = names[i];
		} else if (ours != NULL &&
			   strcmp(dc_get(ds, t_strdup_printf("passdb/%s/master", names[i])), "yes") != 0) {
			check_fail(run, "dovecot passdb", fix, "passdb %s (driver %s) comes "
				   "after driver = migrate: its users would be checked "
				   "against the legacy server first", names[i], driver);
			return;
		}
	}
	if (ours == NULL) {
		check_fail(run, "dovecot passdb", fix, "no passdb with driver = migrate");
		return;
	}
	if (dc_find_driver(ds, "userdb") == NULL) {
		check_fail(run, "dovecot passdb", fix, "no userdb with driver = migrate");
		return;
	}
	check_ok(run, "dovecot passdb", "driver = migrate after %u other passdbs, "
		 "userdb migrate present", (unsigned int)(str_array_length(names) - 1));
}

/* The inbox namespace must hold legacy folder names with '.' and '/':
   separator '/' and a storage that accepts '.' in a name (listescape, or
   a layout of directories). */
static void check_namespace(struct check_run *run, struct dovecot_settings *ds)
{
	const char *fix = "namespace inbox { separator = / } and mail_plugins = "
		"$mail_plugins listescape (see auth-migrate.conf.ext)";
	const char *const *names = t_strsplit_spaces(dc_get(ds, "namespace"), " ");
	const char *location = dc_get(ds, "mail_location"), *sep = "", *name = NULL;
	bool dots_ok;
	char ssep;
	unsigned int i;

	for (i = 0; names[i] != NULL && name == NULL; i++) {
		if (strcmp(dc_get(ds, t_strdup_printf("namespace/%s/inbox", names[i])), "yes") == 0)
			name = names[i];
	}
	if (name == NULL) {
		check_fail(run, "dovecot namespace", fix, "no namespace with inbox = yes");
		return;
	}
	sep = dc_get(ds, t_strdup_printf("namespace/%s/separator", name));
	/* unset: the storage's own (Maildir++ '.', the others '/') */
	ssep = sep[0] != '\0' ? sep[0] :
		(str_begins(location, "maildir:") && strstr(location, "LAYOUT=fs") == NULL ? '.' : '/');
	dots_ok = !str_begins(location, "maildir:") || strstr(location, "LAYOUT=fs") != NULL ||
		strstr(dc_get(ds, "mail_plugins"), "listescape") != NULL;
	if (ssep == '/' && dots_ok) {
		check_ok(run, "dovecot namespace", "%s: separator '/', folder names "
			 "with '.' and '/' kept", name);
	} else if (ssep == run->legacy_sep && run->legacy_sep == '.') {
		check_ok(run, "dovecot namespace", "%s: separator '.', the legacy "
			 "server's too: folder names kept", name);
	} else if (ssep == '/') {
		check_fail(run, "dovecot namespace", fix, "%s: separator '/' on "
			   "Maildir++ without listescape: a legacy folder \"a.b\" "
			   "would become \"a_b\"", name);
	} else {
		check_fail(run, "dovecot namespace", fix, "%s: separator '%c'%s: a "
			   "legacy folder \"a.b\" on a server with '/' would become "
			   "\"a_b\"", name, ssep, run->legacy_sep == '\0' ? "" :
			   t_strdup_printf(", the legacy server's '%c'", run->legacy_sep));
	}
}

static void check_auth_vsz(struct check_run *run, struct dovecot_settings *ds)
{
	const char *value = dc_get(ds, "service/auth/vsz_limit"), *error;
	uoff_t bytes;

	/* unset ("18446744073709551615 B"): default_vsz_limit applies */
	if (value[0] == '\0' || str_begins(value, "18446744073709551615"))
		value = dc_get(ds, "default_vsz_limit");
	if (settings_get_size(value, &bytes, &error) < 0) {
		check_fail(run, "dovecot auth vsz_limit", "service auth { vsz_limit = 1G }",
			   "cannot read \"%s\": %s", value, error);
	} else if (bytes != 0 && bytes < AUTH_VSZ_MIN) {
		check_fail(run, "dovecot auth vsz_limit", "service auth { vsz_limit = 1G }",
			   "%s: password hashes take 16 MiB each and the store is "
			   "memory-mapped", value);
	} else {
		check_ok(run, "dovecot auth vsz_limit", "%s", bytes == 0 ? "unlimited" : value);
	}
}

static void check_simple_settings(struct check_run *run, struct dovecot_settings *ds)
{
	const char *features = t_strconcat(" ", dc_get(ds, "imapc_features"), " ", NULL);
	const char *format = dc_get(ds, "auth_username_format");
	const char *auth_user = doveadm_migrate_auth_user();

	if (strstr(features, " rfc822.size ") == NULL || strstr(features, " fetch-headers ") == NULL)
		check_fail(run, "dovecot imapc_features", "imapc_features = rfc822.size fetch-headers",
			   "\"%s\": imports would download whole messages for sizes and headers",
			   dc_get(ds, "imapc_features"));
	else
		check_ok(run, "dovecot imapc_features", "%s", dc_get(ds, "imapc_features"));
	if (strcmp(format, "%Lu") != 0)
		check_fail(run, "dovecot auth_username_format", "auth_username_format = %Lu",
			   "\"%s\": the same user typed in other case would be two accounts", format);
	else
		check_ok(run, "dovecot auth_username_format", "%%Lu");
	if (auth_user == NULL || run->config->store_user == NULL ||
	    strcmp(auth_user, run->config->store_user) != 0) {
		check_fail(run, "dovecot auth user", t_strdup_printf(
			   "store_user = %s in %s", auth_user == NULL ? "?" : auth_user,
			   run->config->path), "the auth service runs as %s, store_user is %s",
			   auth_user == NULL ? "(unknown)" : auth_user,
			   run->config->store_user == NULL ? "unset" : run->config->store_user);
	} else {
		check_ok(run, "dovecot auth user", "%s owns the store", auth_user);
	}
}

void check_dovecot_settings(struct check_run *run)
{
	struct dovecot_settings ds;
	const char *error;

	T_BEGIN {
		i_zero(&ds);
		if (dc_read(&ds, &error) < 0) {
			check_fail(run, "dovecot settings", "doveconf must read "
				   "Dovecot's config", "%s", error);
		} else {
			check_passdb_order(run, &ds);
			check_namespace(run, &ds);
			check_auth_vsz(run, &ds);
			check_simple_settings(run, &ds);
			hash_table_destroy(&ds.values);
		}
	} T_END;
}
