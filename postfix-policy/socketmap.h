#ifndef SOCKETMAP_H
#define SOCKETMAP_H

/* The socketmap protocol (socketmap_table(5)): each request is a netstring
   "NAME KEY", each reply a netstring "OK value", "NOTFOUND ", "TEMP reason",
   "TIMEOUT reason" or "PERM reason".

   Maps (the NAME, last field of socketmap:...:NAME in main.cf):
     transport  transport_maps: every address of a migrating domain gets an
                explicit answer (LMTP when migrated, the legacy host else)
     mailbox    virtual_mailbox_maps: OK for every address to accept
     relay      relay_recipient_maps: the same, for relay_domains setups
     alias      virtual_alias_maps: learnt alias -> its account
     health     any key: "OK dovecot-migrate VERSION" */

#include <stddef.h>

struct policyd;

/* Longest request payload accepted; Postfix lookups are addresses and
   domains, far shorter than this. Anything longer closes the connection. */
#define SOCKETMAP_MAX_REQUEST 4096
/* Postfix's own client refuses replies above 100000 bytes. */
#define SOCKETMAP_MAX_REPLY 100000

struct socketmap_request {
	const char *name;	/* NUL-terminated copies, owned by the caller */
	const char *key;
};

/* Splits a request payload into map name and key, writing NUL-terminated
   copies into buf (size buf_size, at least len + 1). Returns 0, or -1 with
   *error_r set when the request is malformed. */
int socketmap_parse_request(const char *data, size_t len,
			    char *buf, size_t buf_size,
			    struct socketmap_request *req_r,
			    const char **error_r);

/* Answers a request: writes the reply payload (without netstring framing)
   into out and returns its length. */
size_t socketmap_answer(struct policyd *d, const struct socketmap_request *req,
			char *out, size_t out_size);

#endif
