/* The cut-over's fence, see doveadm-migrate-fence.h. Talks to Dovecot's
   ipc service directly (one connection, one command at a time, on a
   private ioloop) rather than through `doveadm proxy` children: the fence
   may take several rounds, and every round is part of the window in which
   the account's logins are refused. */

#include "lib.h"
#include "ioloop.h"
#include "str.h"
#include "strescape.h"
#include "ipc-client.h"

#include "migrate-account.h"
#include "doveadm-migrate-fence.h"

#include <sys/stat.h>
#include <unistd.h>

/* an ipc service that answers nothing in this time is broken */
#define FENCE_IPC_TIMEOUT_MSECS 5000
#define FENCE_ROUND_SLEEP_USECS 50000

struct fence_cmd {
	const char *address;
	unsigned int count;	/* kicked, or listed sessions of address */
	bool list, done, failed;
	const char *error;
};

static void fence_cmd_end(struct fence_cmd *cmd, bool failed, const char *error)
{
	cmd->done = TRUE;
	cmd->failed = failed;
	cmd->error = t_strdup(error);
	io_loop_stop(current_ioloop);
}

static void fence_callback(enum ipc_client_cmd_state state, const char *data,
			   void *context)
{
	struct fence_cmd *cmd = context;
	const char *const *fields;

	switch (state) {
	case IPC_CLIENT_CMD_STATE_REPLY:
		/* LIST-FULL: a header line per login process, then one
		   line per proxy, its user name first */
		fields = t_strsplit_tabescaped(data);
		if (cmd->list && fields[0] != NULL &&
		    strcmp(fields[0], cmd->address) == 0)
			cmd->count++;
		return;
	case IPC_CLIENT_CMD_STATE_OK:
		if (!cmd->list && data[0] != '\0' &&
		    str_to_uint(data, &cmd->count) < 0)
			cmd->count = 1;
		fence_cmd_end(cmd, FALSE, NULL);
		return;
	case IPC_CLIENT_CMD_STATE_ERROR:
		fence_cmd_end(cmd, TRUE, data);
		return;
	}
}

static void fence_timeout(struct fence_cmd *cmd)
{
	fence_cmd_end(cmd, TRUE, "no answer in 5 s");
}

/* Runs one ipc command to its end on a private ioloop. */
static int fence_ipc(const char *socket_path, const char *line,
		     struct fence_cmd *cmd, const char **reason_r)
{
	struct ioloop *ioloop = io_loop_create();
	struct ipc_client *ipc = ipc_client_init(socket_path);
	struct timeout *to;

	to = timeout_add(FENCE_IPC_TIMEOUT_MSECS, fence_timeout, cmd);
	(void)ipc_client_cmd(ipc, line, fence_callback, cmd);
	if (!cmd->done)
		io_loop_run(ioloop);
	timeout_remove(&to);
	ipc_client_deinit(&ipc);
	io_loop_destroy(&ioloop);
	if (cmd->failed) {
		*reason_r = t_strdup_printf("Dovecot's ipc service %s: %s",
					    socket_path, cmd->error);
		return -1;
	}
	return 0;
}

static int fence_round(const char *socket_path, const char *address,
		       unsigned int *kicked_r, unsigned int *listed_r,
		       const char **reason_r)
{
	struct fence_cmd kick = { .address = address };
	struct fence_cmd list = { .address = address, .list = TRUE };
	string_t *line = t_str_new(128);

	str_append(line, "proxy\t*\tKICK\t");
	str_append_tabescaped(line, address);
	*kicked_r = *listed_r = 0;
	if (fence_ipc(socket_path, str_c(line), &kick, reason_r) < 0)
		return -1;
	*kicked_r = kick.count;
	if (fence_ipc(socket_path, "proxy\t*\tLIST-FULL", &list, reason_r) < 0)
		return -1;
	*listed_r = list.count;
	return 0;
}

int migrate_fence_sessions(const char *base_dir, const char *address,
			   int64_t granted_ms,
			   struct migrate_fence_result *result_r,
			   const char **reason_r)
{
	const char *socket_path = t_strconcat(base_dir, "/ipc", NULL);
	int64_t start = migrate_account_now_ms(), now = start;
	unsigned int kicked, listed;
	const char *error;
	struct stat st;
	int ret;

	i_zero(result_r);
	if (stat(socket_path, &st) < 0 && errno == ENOENT)
		return 0;
	for (;;) {
		/* a failed round proves nothing, and is no reason to give
		   up: with service_count = 1 a kicked session's login
		   process exits, and the ipc service reports that as the
		   broadcast's error. Only a clean list counts. */
		ret = fence_round(socket_path, address, &kicked, &listed, &error);
		result_r->kicked += kicked;
		result_r->rounds++;
		now = migrate_account_now_ms();
		result_r->waited_ms = now - start;
		if (ret == 0 && listed == 0 &&
		    now >= granted_ms + MIGRATE_FENCE_SETTLE_MSECS)
			return 0;
		if (now - start >= MIGRATE_FENCE_MAX_MSECS) {
			*reason_r = ret < 0 ? error : t_strdup_printf(
				"%u sessions of %s still proxied to the legacy "
				"server after %d s of kicks", listed, address,
				MIGRATE_FENCE_MAX_MSECS / 1000);
			return -1;
		}
		usleep(FENCE_ROUND_SLEEP_USECS);
	}
}
