/* Threads for the auth process, see auth-offload.h. Completed jobs are
   handed back through an eventfd that the event loop watches. */

#include "lib.h"
#include "ioloop.h"
#include "auth-offload.h"

#include <pthread.h>
/* jobs call libxcrypt, LMDB and OpenSSL, none of which needs deep stacks;
   the 8 MiB default would count against the auth process's vsz_limit */
#define OFFLOAD_THREAD_STACK_SIZE (512 * 1024)
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct offload_job {
	struct offload_job *next;
	struct offload_lane *lane;
	auth_offload_fn *run, *done;
	void *context;
};

struct offload_list {
	struct offload_job *head, *tail;
};

struct offload_lane {
	struct auth_offload *offload;
	pthread_mutex_t lock;
	pthread_cond_t wakeup;
	struct offload_list queue;
	unsigned int pending;	/* queued or running; the lock guards it */
	pthread_t *threads;
	unsigned int thread_count;
	bool stopping;
};

struct auth_offload {
	struct offload_lane lanes[AUTH_OFFLOAD_LANE_COUNT];
	int event_fd;
	struct io *io;
	pthread_mutex_t done_lock;
	struct offload_list done;
};

static void list_push(struct offload_list *list, struct offload_job *job)
{
	job->next = NULL;
	if (list->tail == NULL)
		list->head = job;
	else
		list->tail->next = job;
	list->tail = job;
}

static struct offload_job *list_pop(struct offload_list *list)
{
	struct offload_job *job = list->head;

	if (job != NULL) {
		list->head = job->next;
		if (list->head == NULL)
			list->tail = NULL;
	}
	return job;
}

static void offload_job_finished(struct offload_lane *lane,
				 struct offload_job *job)
{
	struct auth_offload *offload = lane->offload;
	uint64_t one = 1;

	pthread_mutex_lock(&offload->done_lock);
	list_push(&offload->done, job);
	pthread_mutex_unlock(&offload->done_lock);
	/* an eventfd counter cannot fill up in practice (2^64 - 2) */
	if (write(offload->event_fd, &one, sizeof(one)) < 0)
		abort();
}

static void *offload_thread(void *context)
{
	struct offload_lane *lane = context;
	struct offload_job *job;

	pthread_mutex_lock(&lane->lock);
	for (;;) {
		while (lane->queue.head == NULL && !lane->stopping)
			pthread_cond_wait(&lane->wakeup, &lane->lock);
		if (lane->stopping)
			break;
		job = list_pop(&lane->queue);
		pthread_mutex_unlock(&lane->lock);
		job->run(job->context);
		offload_job_finished(lane, job);
		pthread_mutex_lock(&lane->lock);
	}
	pthread_mutex_unlock(&lane->lock);
	return NULL;
}

static void offload_event(struct auth_offload *offload)
{
	struct offload_list done;
	struct offload_job *job;
	uint64_t count;

	if (read(offload->event_fd, &count, sizeof(count)) < 0 &&
	    errno != EAGAIN)
		i_fatal("read(offload eventfd) failed: %m");

	pthread_mutex_lock(&offload->done_lock);
	done = offload->done;
	i_zero(&offload->done);
	pthread_mutex_unlock(&offload->done_lock);

	while ((job = list_pop(&done)) != NULL) {
		pthread_mutex_lock(&job->lane->lock);
		job->lane->pending--;
		pthread_mutex_unlock(&job->lane->lock);
		job->done(job->context);
		i_free(job);
	}
}

static void offload_lane_start(struct auth_offload *offload,
			       struct offload_lane *lane, unsigned int threads)
{
	pthread_attr_t attr;
	sigset_t all, old;
	unsigned int i;
	int ret;

	lane->offload = offload;
	pthread_mutex_init(&lane->lock, NULL);
	pthread_cond_init(&lane->wakeup, NULL);
	lane->threads = i_new(pthread_t, threads);
	/* signals stay with the main thread, whose handlers Dovecot set up */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, OFFLOAD_THREAD_STACK_SIZE);
	for (i = 0; i < threads; i++) {
		ret = pthread_create(&lane->threads[i], &attr, offload_thread, lane);
		if (ret != 0) {
			errno = ret;
			i_fatal("pthread_create() failed: %m");
		}
	}
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	lane->thread_count = threads;
}

static void offload_lane_stop(struct offload_lane *lane)
{
	struct offload_job *job;
	unsigned int i;

	pthread_mutex_lock(&lane->lock);
	lane->stopping = TRUE;
	pthread_cond_broadcast(&lane->wakeup);
	pthread_mutex_unlock(&lane->lock);
	for (i = 0; i < lane->thread_count; i++)
		(void)pthread_join(lane->threads[i], NULL);
	while ((job = list_pop(&lane->queue)) != NULL)
		i_free(job);
	i_free(lane->threads);
	pthread_cond_destroy(&lane->wakeup);
	pthread_mutex_destroy(&lane->lock);
}

struct auth_offload *auth_offload_init(unsigned int crypt_threads)
{
	struct auth_offload *offload = i_new(struct auth_offload, 1);

	offload->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (offload->event_fd < 0)
		i_fatal("eventfd() failed: %m");
	pthread_mutex_init(&offload->done_lock, NULL);
	offload->io = io_add(offload->event_fd, IO_READ, offload_event, offload);
	offload_lane_start(offload, &offload->lanes[AUTH_OFFLOAD_STORE], 1);
	offload_lane_start(offload, &offload->lanes[AUTH_OFFLOAD_CRYPT],
			   I_MAX(crypt_threads, 1));
	return offload;
}

void auth_offload_deinit(struct auth_offload **_offload)
{
	struct auth_offload *offload = *_offload;
	struct offload_job *job;
	unsigned int i;

	*_offload = NULL;
	for (i = 0; i < AUTH_OFFLOAD_LANE_COUNT; i++)
		offload_lane_stop(&offload->lanes[i]);
	while ((job = list_pop(&offload->done)) != NULL)
		i_free(job);
	io_remove(&offload->io);
	i_close_fd(&offload->event_fd);
	pthread_mutex_destroy(&offload->done_lock);
	i_free(offload);
}

#undef auth_offload_run
void auth_offload_run(struct auth_offload *offload, enum auth_offload_lane lane_id,
		      auth_offload_fn *run, auth_offload_fn *done, void *context)
{
	struct offload_lane *lane = &offload->lanes[lane_id];
	struct offload_job *job = i_new(struct offload_job, 1);

	job->lane = lane;
	job->run = run;
	job->done = done;
	job->context = context;
	pthread_mutex_lock(&lane->lock);
	list_push(&lane->queue, job);
	lane->pending++;
	pthread_cond_signal(&lane->wakeup);
	pthread_mutex_unlock(&lane->lock);
}

unsigned int auth_offload_pending(struct auth_offload *offload,
				  enum auth_offload_lane lane_id)
{
	struct offload_lane *lane = &offload->lanes[lane_id];
	unsigned int pending;

	pthread_mutex_lock(&lane->lock);
	pending = lane->pending;
	pthread_mutex_unlock(&lane->lock);
	return pending;
}
