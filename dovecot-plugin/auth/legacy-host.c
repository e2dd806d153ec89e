/* Legacy host name resolution, see legacy-host.h. */

#include "lib.h"
#include "array.h"
#include "hash.h"
#include "ioloop.h"
#include "dns-lookup.h"
#include "legacy-host.h"

#define LEGACY_HOST_CACHE_SECS 60

struct legacy_host_waiter {
	legacy_host_callback_t *callback;
	void *context;
};
ARRAY_DEFINE_TYPE(legacy_host_waiter, struct legacy_host_waiter);

struct legacy_host_entry {
	char *host;
	struct ip_addr ip;
	time_t expires;
	struct dns_lookup *lookup;
	/* callers waiting for the lookup in flight */
	ARRAY_TYPE(legacy_host_waiter) waiters;
};

struct legacy_host_resolver {
	char *socket_path;
	unsigned int timeout_msecs;
	HASH_TABLE(char *, struct legacy_host_entry *) entries;
};

struct legacy_host_resolver *
legacy_host_resolver_init(const char *dns_client_socket_path,
			  unsigned int timeout_msecs)
{
	struct legacy_host_resolver *resolver =
		i_new(struct legacy_host_resolver, 1);

	resolver->socket_path = i_strdup(dns_client_socket_path);
	resolver->timeout_msecs = timeout_msecs;
	hash_table_create(&resolver->entries, default_pool, 0, str_hash, strcmp);
	return resolver;
}

void legacy_host_resolver_deinit(struct legacy_host_resolver **_resolver)
{
	struct legacy_host_resolver *resolver = *_resolver;
	struct hash_iterate_context *iter;
	struct legacy_host_entry *entry;
	char *host;

	*_resolver = NULL;
	iter = hash_table_iterate_init(resolver->entries);
	while (hash_table_iterate(iter, resolver->entries, &host, &entry)) {
		/* abandoned callers belong to auth requests being freed */
		if (entry->lookup != NULL)
			dns_lookup_abort(&entry->lookup);
		array_free(&entry->waiters);
		i_free(entry->host);
		i_free(entry);
	}
	hash_table_iterate_deinit(&iter);
	hash_table_destroy(&resolver->entries);
	i_free(resolver->socket_path);
	i_free(resolver);
}

static void legacy_host_lookup_done(const struct dns_lookup_result *result,
				    struct legacy_host_entry *entry)
{
	ARRAY_TYPE(legacy_host_waiter) waiters;
	const struct legacy_host_waiter *waiter;
	const char *error = NULL;

	entry->lookup = NULL;
	if (result->ret != 0) {
		error = t_strdup_printf("cannot resolve legacy host %s: %s",
					entry->host, result->error);
		entry->expires = 0;
	} else {
		entry->ip = result->ips[0];
		entry->expires = ioloop_time + LEGACY_HOST_CACHE_SECS;
	}
	/* the callbacks may resolve again and touch entry->waiters */
	t_array_init(&waiters, array_count(&entry->waiters));
	array_append_array(&waiters, &entry->waiters);
	array_clear(&entry->waiters);
	array_foreach(&waiters, waiter) {
		waiter->callback(error == NULL ? &entry->ip : NULL,
				 error, waiter->context);
	}
}

#undef legacy_host_resolve
void legacy_host_resolve(struct legacy_host_resolver *resolver,
			 const char *host, struct event *event,
			 legacy_host_callback_t *callback, void *context)
{
	struct legacy_host_entry *entry;
	struct legacy_host_waiter *waiter;
	struct dns_lookup_settings set;
	struct ip_addr ip;

	if (net_addr2ip(host, &ip) == 0) {
		callback(&ip, NULL, context);
		return;
	}
	entry = hash_table_lookup(resolver->entries, host);
	if (entry == NULL) {
		entry = i_new(struct legacy_host_entry, 1);
		entry->host = i_strdup(host);
		i_array_init(&entry->waiters, 4);
		hash_table_insert(resolver->entries, entry->host, entry);
	}
	if (entry->lookup == NULL && entry->expires > ioloop_time) {
		callback(&entry->ip, NULL, context);
		return;
	}
	waiter = array_append_space(&entry->waiters);
	waiter->callback = callback;
	waiter->context = context;
	if (entry->lookup != NULL)
		return;

	i_zero(&set);
	set.dns_client_socket_path = resolver->socket_path;
	set.timeout_msecs = resolver->timeout_msecs;
	set.event_parent = event;
	/* on an immediate failure dns_lookup() has called back already */
	(void)dns_lookup(host, &set, legacy_host_lookup_done, entry,
			 &entry->lookup);
}
