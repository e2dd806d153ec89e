/* migrate-policyd: answers Postfix's routing lookups for dovecot-migrate.
   Usage: migrate-policyd [-f] [-v] [-t] [-s] [-c CONFIG]
   (see migrate-policyd(8) and the README). */

#include "dovecot-migrate-config.h"
#include "listener.h"
#include "log.h"
#include "policyd.h"
#include "privileges.h"
#include "protocol.h"
#include "server.h"
#include "spawn.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct options {
	const char *config_path;
	bool foreground, verbose, test_only, spawn;
};

static void usage(void)
{
	fprintf(stderr, "usage: migrate-policyd [-f] [-v] [-t] [-s] [-c CONFIG]\n"
		"  -c CONFIG  migrate.conf to read (default %s)\n"
		"  -f         stay in the foreground and log to stderr\n"
		"  -v         log every routing decision (debug level)\n"
		"  -t         check the config file and exit\n"
		"  -s         serve one policy client on stdin/stdout (Postfix spawn(8))\n",
		MIGRATE_DEFAULT_CONFIG);
	exit(2);
}

static void parse_options(int argc, char *argv[], struct options *opt)
{
	int c;

	memset(opt, 0, sizeof(*opt));
	opt->config_path = MIGRATE_DEFAULT_CONFIG;
	while ((c = getopt(argc, argv, "c:fvts")) != -1) {
		switch (c) {
		case 'c': opt->config_path = optarg; break;
		case 'f': opt->foreground = true; break;
		case 'v': opt->verbose = true; break;
		case 't': opt->test_only = true; break;
		case 's': opt->spawn = true; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
}

/* Binds both listeners, gives the UNIX sockets to the store group, and
   drops root. */
static int start_listening(struct server *server, const struct migrate_config *config)
{
	static const struct {
		size_t offset;
		const struct protocol *proto;
		const char *key;
	} listens[] = {
		{ offsetof(struct migrate_config, socketmap_listen), &protocol_socketmap, "socketmap_listen" },
		{ offsetof(struct migrate_config, policy_listen), &protocol_policy, "policy_listen" },
	};
	char error[512];
	unsigned int i;
	gid_t group;

	if (privileges_socket_group(config->store_group, &group, error, sizeof(error)) < 0) {
		log_error("%s", error);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		const char *address = *(char *const *)((const char *)config + listens[i].offset);
		int fd = listener_open(address, group, error, sizeof(error));

		if (fd < 0) {
			log_error("%s: %s", listens[i].key, error);
			return -1;
		}
		if (server_listen(server, fd, listens[i].proto) < 0) {
			log_error("%s: cannot watch the socket", listens[i].key);
			return -1;
		}
	}
	if (privileges_drop(config->policyd_user, error, sizeof(error)) < 0) {
		log_error("%s", error);
		return -1;
	}
	return 0;
}

static int run_daemon(struct policyd *d, const struct options *opt)
{
	struct server *server = server_create(d, opt->config_path);
	int ret;

	if (server == NULL || start_listening(server, d->config) < 0) {
		server_destroy(&server);
		return -1;
	}
	if (!opt->foreground && daemon(0, 0) < 0) {
		log_error("daemon() failed");
		server_destroy(&server);
		return -1;
	}
	log_info("dovecot-migrate %s: socketmap on %s, policy on %s", MIGRATE_VERSION,
		 d->config->socketmap_listen, d->config->policy_listen);
	ret = server_run(server, d->config->policyd_stats_secs);
	server_destroy(&server);
	listener_unlink(d->config->socketmap_listen);
	listener_unlink(d->config->policy_listen);
	log_info("stopped");
	return ret;
}

int main(int argc, char *argv[])
{
	struct options opt;
	struct policyd d;
	char error[512];
	int ret;

	parse_options(argc, argv, &opt);
	/* under spawn(8), stderr goes to Postfix's log */
	log_open(opt.foreground || opt.test_only || opt.spawn);
	log_set_verbose(opt.verbose);
	memset(&d, 0, sizeof(d));
	if (migrate_config_load(opt.config_path, &d.config, error, sizeof(error)) < 0) {
		log_error("%s", error);
		return EXIT_FAILURE;
	}
	if (opt.test_only) {
		printf("%s: OK (%u domains)\n", opt.config_path, d.config->domain_count);
		ret = 0;
	} else if (opt.spawn) {
		ret = spawn_serve_policy(&d, 0, 1);
	} else {
		ret = run_daemon(&d, &opt);
	}
	policyd_deinit(&d);
	return ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
