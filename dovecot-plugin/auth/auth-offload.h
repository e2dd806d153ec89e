#ifndef AUTH_OFFLOAD_H
#define AUTH_OFFLOAD_H

/* Work the auth process must not do on its event loop, done by threads:
   password hashing (tens of milliseconds of CPU each) and store access
   (an fsynced commit). The auth process is single-threaded and Dovecot's
   library is not thread-safe, so a job's run() may only touch its own
   context and thread-safe plain-C code (common/: store, vault, password);
   its done() runs afterwards on the event loop, where everything else
   happens.

   Two lanes: STORE has one thread, so the store is only ever used from
   that thread and needs no lock, and a quick store lookup never waits
   behind a slow hash; CRYPT has as many threads as configured. */

enum auth_offload_lane {
	AUTH_OFFLOAD_STORE,
	AUTH_OFFLOAD_CRYPT,

	AUTH_OFFLOAD_LANE_COUNT
};

typedef void auth_offload_fn(void *context);

struct auth_offload;

struct auth_offload *auth_offload_init(unsigned int crypt_threads);
/* Waits for running jobs to finish; queued jobs are dropped without
   their done() being called. */
void auth_offload_deinit(struct auth_offload **offload);

void auth_offload_run(struct auth_offload *offload, enum auth_offload_lane lane,
		      auth_offload_fn *run, auth_offload_fn *done, void *context);
#define auth_offload_run(offload, lane, run, done, context) \
	auth_offload_run(offload, lane, \
		(auth_offload_fn *)(run), (auth_offload_fn *)(done), \
		(void *)((char *)(context) + \
			 CALLBACK_TYPECHECK(run, void (*)(typeof(context))) + \
			 CALLBACK_TYPECHECK(done, void (*)(typeof(context)))))

/* Jobs queued or running in a lane (for logs and tests). */
unsigned int auth_offload_pending(struct auth_offload *offload,
				  enum auth_offload_lane lane);

#endif
