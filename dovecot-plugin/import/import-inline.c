/* In-process doveadm commands, see import-inline.h.

   Why in process: a child doveadm per step costs an exec, the config
   parsed anew, every plugin loaded, and (for most steps) its own login on
   the legacy server; for a fleet of small accounts that start-up was
   most of the work (issue 17: ~10 children per account). A pool process
   pays it once and then runs step after step here, the way doveadm's
   own server runs command after command. */

#include "lib.h"
#include "array.h"
#include "ostream.h"
#include "master-service-private.h"
#include "mail-storage-service.h"
#include "doveadm.h"
#include "doveadm-cmd.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"

#include "import-inline.h"

#include <stdio.h>
#include <sysexits.h>
#include <unistd.h>

static unsigned int inline_depth = 0;
/* the -f format of the run now executing (NULL: none was given) */
static const char *inline_format = NULL;

bool import_inline_running(void)
{
	return inline_depth > 0;
}

/* Back to root after a mail user's temporary drop. */
static void import_inline_regain_root(void)
{
	if (geteuid() != 0 && seteuid(0) < 0)
		i_fatal("migrate: seteuid(0) failed: %m");
	if (getegid() != 0 && getuid() == 0 && setegid(0) < 0)
		i_fatal("migrate: setegid(0) failed: %m");
}

/* Takes the leading -o and -f of args; the command's first word is
   returned. The -o settings are appended to the service's overrides. */
static const char *const *
import_inline_options(const char *const *args, const char **format_r)
{
	*format_r = NULL;
	for (;;) {
		if (args[0] != NULL && strcmp(args[0], "-o") == 0 &&
		    args[1] != NULL) {
			if (!array_is_created(&master_service->config_overrides))
				i_array_init(&master_service->config_overrides, 16);
			array_push_back(&master_service->config_overrides, &args[1]);
		} else if (args[0] != NULL && strcmp(args[0], "-f") == 0 &&
			   args[1] != NULL) {
			*format_r = args[1];
		} else {
			return args;
		}
		args += 2;
	}
}

static void import_inline_pop_overrides(unsigned int count)
{
	if (array_is_created(&master_service->config_overrides) &&
	    array_count(&master_service->config_overrides) > count) {
		array_delete(&master_service->config_overrides, count,
			     array_count(&master_service->config_overrides) - count);
	}
}

/* The printer for this run: a fresh one on out_fd. Called before stdout
   is redirected: what the outer printer still holds goes to its own
   file. */
static struct ostream *import_inline_print_begin(const char *format, int out_fd)
{
	struct ostream *outer = doveadm_print_ostream;

	if (doveadm_print_is_initialized())
		doveadm_print_deinit();
	doveadm_print_ostream = o_stream_create_fd(out_fd, 0);
	o_stream_set_no_error_handling(doveadm_print_ostream, TRUE);
	o_stream_cork(doveadm_print_ostream);
	if (format != NULL)
		doveadm_print_init(format);
	return outer;
}

static void import_inline_print_end(struct ostream *outer,
				    const char *outer_format)
{
	if (doveadm_print_is_initialized())
		doveadm_print_deinit();
	(void)o_stream_flush(doveadm_print_ostream);
	o_stream_unref(&doveadm_print_ostream);
	doveadm_print_ostream = outer;
	/* an outer run gets its format back (its headers are gone: a
	   command that runs steps prints only after them) */
	if (outer_format != NULL)
		doveadm_print_init(outer_format);
}

static int import_inline_exec(const char *const *args)
{
	struct doveadm_cmd_context cctx;
	int argc = str_array_length(args);

	if (argc == 0) {
		i_error("migrate: no command to run");
		return EX_USAGE;
	}
	i_zero(&cctx);
	/* not the command line: then doveadm's mail commands drop privileges
	   only temporarily, as they do in its HTTP API server (one process,
	   many users), so the process is root again for the next account,
	   the store and Dovecot's ipc socket. (The TCP type would also make
	   them ignore -u.) */
	cctx.conn_type = DOVEADM_CONNECTION_TYPE_HTTP;
	i_getopt_reset();
	doveadm_exit_code = 0;
	if (!doveadm_cmd_try_run_ver2(args[0], argc, args, &cctx)) {
		i_error("migrate: unknown doveadm command: %s", args[0]);
		return EX_USAGE;
	}
	return doveadm_exit_code;
}

int import_inline_run(const char *const *args, int out_fd, int err_fd)
{
	const char *outer_format = inline_format, *format;
	unsigned int overrides = array_is_created(&master_service->config_overrides) ?
		array_count(&master_service->config_overrides) : 0;
	int saved_exit = doveadm_exit_code, code;
	int saved_out, saved_err;
	struct ostream *outer;

	args = import_inline_options(args, &format);
	inline_format = format;
	outer = import_inline_print_begin(format, out_fd);

	fflush(stdout);
	fflush(stderr);
	saved_out = dup(STDOUT_FILENO);
	saved_err = dup(STDERR_FILENO);
	if (saved_out < 0 || saved_err < 0 ||
	    dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
		i_fatal("migrate: redirecting a step's output failed: %m");
	inline_depth++;
	T_BEGIN {
		code = import_inline_exec(args);
	} T_END;
	inline_depth--;
	import_inline_regain_root();
	fflush(stdout);
	fflush(stderr);
	if (dup2(saved_out, STDOUT_FILENO) < 0 ||
	    dup2(saved_err, STDERR_FILENO) < 0)
		i_fatal("migrate: restoring the output failed: %m");
	i_close_fd(&saved_out);
	i_close_fd(&saved_err);

	inline_format = outer_format;
	import_inline_print_end(outer, outer_format);
	import_inline_pop_overrides(overrides);
	doveadm_exit_code = saved_exit;
	return code;
}
