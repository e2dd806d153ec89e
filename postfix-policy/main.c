/* migrate-policyd: answers Postfix's routing lookups for dovecot-migrate.
   Usage: migrate-policyd [-f] [-t] [-c CONFIG] (see migrate-policyd(8)). */

#include "dovecot-migrate-config.h"
#include "log.h"
#include "listener.h"
#include "migrate-config.h"
#include "server.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr, "usage: migrate-policyd [-f] [-t] [-c CONFIG]\n"
		"  -c CONFIG  migrate.conf to read (default %s)\n"
		"  -f         stay in the foreground and log to stderr\n"
		"  -t         check the config file and exit\n",
		MIGRATE_DEFAULT_CONFIG);
	exit(2);
}

int main(int argc, char *argv[])
{
	const char *config_path = MIGRATE_DEFAULT_CONFIG;
	struct migrate_config *config;
	struct server *server;
	bool foreground = false, test_only = false;
	char error[512];
	int opt, fd, ret;

	while ((opt = getopt(argc, argv, "c:ft")) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; break;
		case 'f': foreground = true; break;
		case 't': test_only = true; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	log_open(foreground || test_only);

	if (migrate_config_load(config_path, &config, error, sizeof(error)) < 0) {
		log_error("%s", error);
		return EXIT_FAILURE;
	}
	if (test_only) {
		printf("%s: OK (%u domains)\n", config_path, config->domain_count);
		migrate_config_free(&config);
		return EXIT_SUCCESS;
	}
	fd = listener_open(config->socketmap_listen, error, sizeof(error));
	if (fd < 0) {
		log_error("socketmap_listen: %s", error);
		migrate_config_free(&config);
		return EXIT_FAILURE;
	}
	if (!foreground && daemon(0, 0) < 0) {
		log_error("daemon() failed");
		migrate_config_free(&config);
		return EXIT_FAILURE;
	}
	server = server_create(fd);
	if (server == NULL) {
		migrate_config_free(&config);
		return EXIT_FAILURE;
	}
	log_info("dovecot-migrate %s: socketmap on %s", MIGRATE_VERSION,
		 config->socketmap_listen);
	ret = server_run(server);
	server_destroy(&server);
	listener_unlink(config->socketmap_listen);
	log_info("stopped");
	migrate_config_free(&config);
	return ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
