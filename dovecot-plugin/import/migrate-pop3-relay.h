#ifndef MIGRATE_POP3_RELAY_H
#define MIGRATE_POP3_RELAY_H

/* A relay on 127.0.0.1 that speaks TLS to a legacy POP3 server on behalf
   of Dovecot 2.3.19's pop3c, which cannot: it never logs in after STLS,
   and over implicit TLS it can wait forever for a reply its TLS layer has
   already read (fixed upstream after 2.3.19, 7036f3f511). pop3c talks
   plain POP3 to the relay; the relay checks the legacy certificate as the
   domain says (ca_file, tls_verify, the host's name or address).

   The relay is a process of its own, forked by the caller, and each
   connection is served by a child of it. It dies with the process that
   started it, even one killed with -9. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct migrate_domain;

struct migrate_pop3_relay_target {
	const char *host;
	uint16_t port;
	/* STLS first; else TLS from the first byte */
	bool starttls;
	bool verify;
	/* NULL: the system's trust store */
	const char *ca_file;
};

struct migrate_pop3_relay {
	pid_t pid;	/* 0: none running */
	uint16_t port;	/* on 127.0.0.1 */
};

/* The target for a domain's POP3 server. FALSE when the domain has no
   TLS (pop3c then talks to the legacy server itself). */
bool migrate_pop3_relay_target(const struct migrate_domain *domain,
			       struct migrate_pop3_relay_target *target_r);

/* Listens, forks the relay, which writes its errors to log_fd (as lines
   with "Error: "). -1 with error filled when it cannot. */
int migrate_pop3_relay_start(const struct migrate_pop3_relay_target *target,
			     int log_fd, struct migrate_pop3_relay *relay_r,
			     char *error, size_t error_size);
/* The i-th (from 0) of the pop3c settings that send pop3c to the relay,
   as "key=value" in buf (host, port, no TLS). FALSE past the last. */
bool migrate_pop3_relay_setting(const struct migrate_pop3_relay *relay,
				unsigned int i, char *buf, size_t size);
/* Ends the relay and its connections, reaps it. No-op when pid is 0. */
void migrate_pop3_relay_stop(struct migrate_pop3_relay *relay);

#endif
