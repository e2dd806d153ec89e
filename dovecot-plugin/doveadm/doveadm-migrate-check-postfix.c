/* doveadm migrate check: Postfix's main.cf lines that send each recipient
   of a migrating domain through migrate-policyd (migrate-policyd(8)),
   read with `postconf -h` (-p DIR: `postconf -c DIR`; MAIL_CONFIG does
   not reach it, doveadm clears its environment). */

#include "lib.h"
#include "str.h"

#include "migrate-config.h"
#include "doveadm-migrate.h"
#include "doveadm-migrate-check.h"

#define POSTCONF_OUTPUT_MAX (256 * 1024)

enum postfix_param {
	PF_RELAY_DOMAINS,
	PF_TRANSPORT_MAPS,
	PF_RELAY_RECIPIENT_MAPS,
	PF_VIRTUAL_ALIAS_MAPS,
	PF_RECIPIENT_RESTRICTIONS,
	PF_COUNT
};

static const char *const postfix_params[PF_COUNT] = {
	"relay_domains", "transport_maps", "relay_recipient_maps",
	"virtual_alias_maps", "smtpd_recipient_restrictions",
};

/* How main.cf names one of our listeners: "unix:/x/private/migrate-map"
   is reached as ".../migrate-map" (Postfix's lines are relative to its
   spool: private/migrate-map), "inet:H:P" as itself. */
static const char *listener_tail(const char *listen)
{
	const char *slash;

	if (!str_begins(listen, "unix:"))
		return listen;
	slash = strrchr(listen, '/');
	return t_strconcat("/", slash != NULL ? slash + 1 : listen + 5, NULL);
}

static void check_map(struct check_run *run, const char *const *values,
		      enum postfix_param param, const char *map)
{
	const char *want = t_strdup_printf("%s:%s",
		listener_tail(run->config->socketmap_listen), map);
	const char *fix = t_strdup_printf("%s = socketmap:unix:private/migrate-map:%s "
		"(doc/examples/postfix-main.cf)", postfix_params[param], map);
	const char *name = t_strconcat("postfix ", postfix_params[param], NULL);

	if (strstr(values[param], "socketmap:") == NULL || strstr(values[param], want) == NULL)
		check_fail(run, name, fix, "\"%s\" does not ask migrate-policyd", values[param]);
	else
		check_ok(run, name, "%s", values[param]);
}

static void check_policy(struct check_run *run, const char *const *values)
{
	const char *value = values[PF_RECIPIENT_RESTRICTIONS];
	const char *tail = listener_tail(run->config->policy_listen);

	if (strstr(value, "check_policy_service") == NULL || strstr(value, tail) == NULL) {
		check_fail(run, "postfix smtpd_recipient_restrictions",
			   "check_policy_service unix:private/migrate-policy "
			   "(doc/examples/postfix-main.cf)",
			   "no check_policy_service for migrate-policyd (%s)", tail + 1);
	} else {
		check_ok(run, "postfix smtpd_recipient_restrictions", "asks %s", tail + 1);
	}
}

static void check_relay_domains(struct check_run *run, const char *const *values)
{
	const char *value = values[PF_RELAY_DOMAINS], *const *words;
	unsigned int i;

	if (strchr(value, ':') != NULL) {
		check_ok(run, "postfix relay_domains", "a table (%s): its contents "
			 "are not checked", value);
		return;
	}
	words = t_strsplit_spaces(value, " ,");
	for (i = 0; i < run->config->domain_count; i++) {
		if (!str_array_icase_find(words, run->config->domains[i].name)) {
			check_fail(run, "postfix relay_domains", t_strdup_printf(
				   "add %s to relay_domains", run->config->domains[i].name),
				   "\"%s\" lacks the migrating domain %s", value,
				   run->config->domains[i].name);
			return;
		}
	}
	check_ok(run, "postfix relay_domains", "%s", value);
}

void check_postfix_settings(struct check_run *run)
{
	const char *argv[PF_COUNT + 5] = { "postconf", "-h" };
	const char *const *values, *error;
	string_t *out = t_str_new(1024);
	unsigned int i, n = 2;

	if (run->postfix_dir != NULL) {
		argv[n++] = "-c";
		argv[n++] = run->postfix_dir;
	}
	for (i = 0; i < PF_COUNT; i++)
		argv[n++] = postfix_params[i];
	if (doveadm_migrate_capture(argv, POSTCONF_OUTPUT_MAX, out, &error) < 0) {
		check_fail(run, "postfix", "Postfix's postconf must read main.cf "
			   "(-p DIR for another directory)", "%s", error);
		return;
	}
	values = (const char *const *)p_strsplit(pool_datastack_create(), str_c(out), "\n");
	if (str_array_length(values) < PF_COUNT) {
		check_fail(run, "postfix", "Postfix's postconf must read main.cf",
			   "postconf printed %u lines for %u parameters",
			   str_array_length(values), PF_COUNT);
		return;
	}
	check_relay_domains(run, values);
	check_map(run, values, PF_TRANSPORT_MAPS, "transport");
	check_map(run, values, PF_RELAY_RECIPIENT_MAPS, "relay");
	check_map(run, values, PF_VIRTUAL_ALIAS_MAPS, "alias");
	check_policy(run, values);
}
