#ifndef SERVER_H
#define SERVER_H

/* The event loop of migrate-policyd: one thread, epoll, non-blocking
   sockets, so a slow or hostile client never stalls Postfix's lookups. */

struct server;

/* Takes ownership of listen_fd (a socketmap listener). */
struct server *server_create(int socketmap_fd);
/* Runs until SIGTERM or SIGINT, then stops accepting, lets every
   connection's pending replies drain (bounded), and returns 0; -1 on an
   unrecoverable error. */
int server_run(struct server *server);
void server_destroy(struct server **server);

#endif
