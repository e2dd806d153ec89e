#ifndef SPAWN_H
#define SPAWN_H

/* Postfix's spawn(8) runs a policy server per client with the connection
   on stdin/stdout: serve the policy protocol there until EOF. */

struct policyd;

int spawn_serve_policy(struct policyd *d, int in_fd, int out_fd);

#endif
