/* Benchmark of migrate-policyd alone: requests per second and latency
   (p50, p99) for socketmap transport lookups and policy RCPT requests over
   1, 50 and 500 keep-alive connections, on a store of 100,000 accounts;
   the daemon's peak RSS. The peer, measured in the same run, is the same
   lookups done in-process on the store (no sockets, no protocol): the
   ratio is what serving them over Postfix's protocols costs.

   Usage: bench-policyd MIGRATE-POLICYD [ACCOUNTS] */

#include "bench-fill.h"
#include "migrate-store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN_SECONDS 2.0
#define MAX_SAMPLES 4000000

struct client {
	int fd;
	double sent_at;
	size_t got;
	char buf[512];
};

static double *samples;
static unsigned int sample_count;
static unsigned int accounts = 100000;

union address {
	struct sockaddr sa;
	struct sockaddr_in in;
};

static union address loopback(unsigned short port)
{
	union address a;

	memset(&a, 0, sizeof(a));
	a.in.sin_family = AF_INET;
	a.in.sin_port = htons(port);
	a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static unsigned short free_port(void)
{
	union address a = loopback(0);
	socklen_t len = sizeof(a.in);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (bind(fd, &a.sa, sizeof(a.in)) < 0 || getsockname(fd, &a.sa, &len) < 0)
		exit(1);
	close(fd);
	return ntohs(a.in.sin_port);
}

static int connect_to(unsigned short port)
{
	union address a = loopback(port);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (connect(fd, &a.sa, sizeof(a.in)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* One request for account i, in the protocol's framing. */
static size_t make_request(bool policy, unsigned int i, char *buf, size_t size)
{
	char address[64], payload[128];
	int n;

	bench_address(i % accounts, address, sizeof(address));
	if (policy) {
		n = snprintf(buf, size, "request=smtpd_access_policy\nprotocol_state=RCPT\n"
			     "sender=a@b.example\nclient_address=192.0.2.1\nrecipient=%s\n\n",
			     address);
	} else {
		n = snprintf(payload, sizeof(payload), "transport %s", address);
		n = snprintf(buf, size, "%d:%s,", n, payload);
	}
	return (size_t)n;
}

static bool reply_complete(bool policy, const char *buf, size_t len)
{
	if (policy)
		return len >= 2 && buf[len - 1] == '\n' && buf[len - 2] == '\n';
	return len > 0 && buf[len - 1] == ',';
}

static void send_request(struct client *c, bool policy, unsigned int *next)
{
	char req[512];
	size_t len = make_request(policy, (*next)++ * 7919, req, sizeof(req));

	c->got = 0;
	c->sent_at = bench_now();
	if (write(c->fd, req, len) != (ssize_t)len) {
		fprintf(stderr, "bench-policyd: write failed\n");
		exit(1);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void run(bool policy, unsigned short port, unsigned int conns)
{
	struct client *clients = calloc(conns, sizeof(*clients));
	struct epoll_event ev, events[256];
	int ep = epoll_create1(0);
	unsigned int i, next = 0;
	double start, elapsed;

	sample_count = 0;
	for (i = 0; i < conns; i++) {
		clients[i].fd = connect_to(port);
		if (clients[i].fd < 0) {
			fprintf(stderr, "bench-policyd: connect failed\n");
			exit(1);
		}
		ev.events = EPOLLIN;
		ev.data.ptr = &clients[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, clients[i].fd, &ev);
	}
	start = bench_now();
	for (i = 0; i < conns; i++)
		send_request(&clients[i], policy, &next);
	while ((elapsed = bench_now() - start) < RUN_SECONDS) {
		int n = epoll_wait(ep, events, 256, 100), k;

		for (k = 0; k < n; k++) {
			struct client *c = events[k].data.ptr;
			ssize_t r = read(c->fd, c->buf + c->got, sizeof(c->buf) - c->got);

			if (r <= 0) {
				fprintf(stderr, "bench-policyd: server closed a connection\n");
				exit(1);
			}
			c->got += (size_t)r;
			if (!reply_complete(policy, c->buf, c->got))
				continue;
			if (sample_count < MAX_SAMPLES)
				samples[sample_count++] = bench_now() - c->sent_at;
			send_request(c, policy, &next);
		}
	}
	qsort(samples, sample_count, sizeof(double), cmp_double);
	printf("%-9s %3u connections: %8.0f requests/s, p50 %.3f ms, p99 %.3f ms\n",
	       policy ? "policy" : "socketmap", conns, sample_count / elapsed,
	       samples[sample_count / 2] * 1000, samples[sample_count * 99 / 100] * 1000);
	for (i = 0; i < conns; i++)
		close(clients[i].fd);
	close(ep);
	free(clients);
}

static double in_process_lookups(const char *dir)
{
	struct migrate_store_settings set = { .path = dir, .access = MIGRATE_STORE_READ_ROUTING };
	struct migrate_store *store;
	char error[512], address[64];
	unsigned int n = 0;
	double start;

	if (migrate_store_open(&set, &store, error, sizeof(error)) < 0)
		exit(1);
	start = bench_now();
	while (bench_now() - start < RUN_SECONDS) {
		struct migrate_account a;
		unsigned int k;

		for (k = 0; k < 1000; k++, n++) {
			bench_address((n * 7919) % accounts, address, sizeof(address));
			(void)migrate_store_account_get(store, address, &a, error, sizeof(error));
		}
	}
	migrate_store_close(&store);
	return n / (bench_now() - start);
}

/* Prints the daemon's memory: peak RSS, and the current split between
   its own (anonymous) memory and pages of the mmap'd store file, which
   are the kernel's page cache shared with every reader. */
static void print_memory(pid_t pid)
{
	static const char *const keys[] = { "VmHWM:", "RssAnon:", "RssFile:" };
	char path[64], line[256];
	unsigned int i;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	printf("daemon memory:");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		for (i = 0; i < 3; i++) {
			if (strncmp(line, keys[i], strlen(keys[i])) == 0)
				printf(" %s %ld kB", keys[i], atol(line + strlen(keys[i])));
		}
	}
	printf("\n");
	if (f != NULL)
		fclose(f);
}

static pid_t start_daemon(const char *binary, const char *conf, unsigned short port)
{
	pid_t pid = fork();
	int fd, tries;

	if (pid == 0) {
		execl(binary, binary, "-f", "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (tries = 0; tries < 100; tries++) {
		if ((fd = connect_to(port)) >= 0) {
			close(fd);
			return pid;
		}
		usleep(50000);
	}
	fprintf(stderr, "bench-policyd: %s did not start\n", binary);
	kill(pid, SIGKILL);
	exit(1);
}

int main(int argc, char *argv[])
{
	static const unsigned int conn_counts[] = { 1, 50, 500 };
	char dir[] = "/tmp/bench-policyd.XXXXXX", conf[512], cmd[600];
	unsigned short sm_port = free_port(), policy_port = free_port();
	double local_rate;
	unsigned int i;
	pid_t pid;
	FILE *f;
	int status;

	if (argc < 2) {
		fprintf(stderr, "usage: bench-policyd MIGRATE-POLICYD [ACCOUNTS]\n");
		return 2;
	}
	if (argc > 2)
		accounts = (unsigned int)atoi(argv[2]);
	samples = malloc(sizeof(double) * MAX_SAMPLES);
	if (mkdtemp(dir) == NULL || samples == NULL)
		return 1;
	snprintf(conf, sizeof(conf), "%s/migrate.conf", dir);
	snprintf(cmd, sizeof(cmd), "%s/store", dir);
	bench_fill(cmd, 0, accounts, true);
	f = fopen(conf, "w");
	fprintf(f, "store = %s/store\nsocketmap_listen = inet:127.0.0.1:%u\n"
		"policy_listen = inet:127.0.0.1:%u\nunknown_recipients = reject\n"
		"[domain example.com]\nlegacy_host = 192.0.2.1\n", dir, sm_port, policy_port);
	fclose(f);

	local_rate = in_process_lookups(cmd);
	pid = start_daemon(argv[1], conf, sm_port);
	printf("store: %u accounts; in-process lookups (the peer): %.0f/s\n", accounts, local_rate);
	for (i = 0; i < 3; i++)
		run(false, sm_port, conn_counts[i]);
	for (i = 0; i < 3; i++)
		run(true, policy_port, conn_counts[i]);
	print_memory(pid);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
