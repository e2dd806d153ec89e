#ifndef SERVER_H
#define SERVER_H

/* The event loop of migrate-policyd: one thread, epoll, non-blocking
   sockets, so a slow or hostile client never stalls Postfix's lookups. */

struct policyd;
struct protocol;

struct server;

struct server *server_create(struct policyd *d, const char *config_path);
/* Serves proto on listen_fd (taken over). */
int server_listen(struct server *server, int listen_fd, const struct protocol *proto);
/* Runs until SIGTERM or SIGINT, then stops accepting, closes idle clients,
   lets pending replies drain (bounded) and returns 0; -1 on an
   unrecoverable error. SIGHUP reloads the config file; counters are logged
   every stats_secs seconds. */
int server_run(struct server *server, unsigned int stats_secs);
void server_destroy(struct server **server);

#endif
