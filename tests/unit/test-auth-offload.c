/* Unit tests for dovecot-plugin/auth/auth-offload.c: jobs run off the
   event loop, their done() runs on it, the STORE lane keeps order. */

#include "lib.h"
#include "ioloop.h"
#include "test-common.h"

#include "auth-offload.h"

#include <pthread.h>

#define JOBS 200

struct job {
	unsigned int index;
	pthread_t ran_on;
	bool done;
};

static struct auth_offload *offload;
static unsigned int done_count, done_order[JOBS];

static void job_run(struct job *job)
{
	job->ran_on = pthread_self();
}

static void job_done(struct job *job)
{
	job->done = TRUE;
	done_order[done_count++] = job->index;
	if (done_count == JOBS)
		io_loop_stop(current_ioloop);
}

static void test_offload_lane(enum auth_offload_lane lane)
{
	struct ioloop *ioloop = io_loop_create();
	struct job jobs[JOBS];
	bool off_loop = TRUE, in_order = TRUE;
	unsigned int i;

	offload = auth_offload_init(2);
	done_count = 0;
	for (i = 0; i < JOBS; i++) {
		i_zero(&jobs[i]);
		jobs[i].index = i;
		auth_offload_run(offload, lane, job_run, job_done, &jobs[i]);
	}
	test_assert(auth_offload_pending(offload, lane) > 0);
	/* nothing is done before the loop runs */
	test_assert(!jobs[0].done);
	io_loop_run(ioloop);
	for (i = 0; i < JOBS; i++) {
		test_assert_idx(jobs[i].done, i);
		if (pthread_equal(jobs[i].ran_on, pthread_self()))
			off_loop = FALSE;
		if (done_order[i] != i)
			in_order = FALSE;
	}
	test_assert(off_loop);
	/* one thread serves the store: jobs and their answers keep order */
	if (lane == AUTH_OFFLOAD_STORE)
		test_assert(in_order);
	test_assert(auth_offload_pending(offload, lane) == 0);
	auth_offload_deinit(&offload);
	io_loop_destroy(&ioloop);
}

static void test_offload_store_lane(void)
{
	test_begin("offload: STORE lane runs jobs in order, off the loop");
	test_offload_lane(AUTH_OFFLOAD_STORE);
	test_end();
}

static void test_offload_crypt_lane(void)
{
	test_begin("offload: CRYPT lane runs every job, off the loop");
	test_offload_lane(AUTH_OFFLOAD_CRYPT);
	test_end();
}

static void slow_run(struct job *job ATTR_UNUSED)
{
	usleep(20000);
}

static void never_done(struct job *job)
{
	job->done = TRUE;
}

static void test_offload_deinit_drops_queued(void)
{
	struct ioloop *ioloop = io_loop_create();
	struct job jobs[10];
	unsigned int i;

	test_begin("offload: deinit waits for running jobs, drops queued ones");
	offload = auth_offload_init(1);
	for (i = 0; i < N_ELEMENTS(jobs); i++) {
		i_zero(&jobs[i]);
		auth_offload_run(offload, AUTH_OFFLOAD_CRYPT, slow_run, never_done,
				 &jobs[i]);
	}
	auth_offload_deinit(&offload);
	for (i = 0; i < N_ELEMENTS(jobs); i++)
		test_assert_idx(!jobs[i].done, i);
	io_loop_destroy(&ioloop);
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_offload_store_lane,
		test_offload_crypt_lane,
		test_offload_deinit_drops_queued,
		NULL
	};
	return test_run(tests);
}
