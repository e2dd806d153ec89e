#ifndef LEGACY_HOST_H
#define LEGACY_HOST_H

/* The address of a legacy server: a literal IP as it is, a name through
   Dovecot's dns-client service (never a blocking resolver in the auth
   process), remembered for a minute. */

#include "net.h"

/* ip is NULL when the name did not resolve (error says why). */
typedef void legacy_host_callback_t(const struct ip_addr *ip,
				    const char *error, void *context);

struct legacy_host_resolver;

struct legacy_host_resolver *
legacy_host_resolver_init(const char *dns_client_socket_path,
			  unsigned int timeout_msecs);
void legacy_host_resolver_deinit(struct legacy_host_resolver **resolver);

/* Calls back at once when the answer is known, else later. */
void legacy_host_resolve(struct legacy_host_resolver *resolver,
			 const char *host, struct event *event,
			 legacy_host_callback_t *callback, void *context);
#define legacy_host_resolve(resolver, host, event, callback, context) \
	legacy_host_resolve(resolver, host, event, \
		(legacy_host_callback_t *)(callback), \
		(void *)((char *)(context) + CALLBACK_TYPECHECK(callback, \
			void (*)(const struct ip_addr *, const char *, typeof(context)))))

#endif
