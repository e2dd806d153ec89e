/* The migration log for the doveadm side: every "migrate ..." info,
   warning and error line our commands write also goes to migrate.conf's
   "log" file (migrate-event-log.h), so the operator's commands, the
   worker, the cut-over and finish all leave their events there without a
   second call at each place. Dovecot's own log keeps getting them. */

#include "lib.h"

#include "migrate-config.h"
#include "migrate-event-log.h"
#include "doveadm-migrate.h"

static failure_callback_t *orig_info_handler, *orig_error_handler;
static char *log_path, *log_owner;
/* opened with the config (as root): where a mail command that runs as
   the user writes when it cannot open the file itself */
static int log_fd = -1;
static bool log_failed;

static void migrate_log_event(const struct failure_context *ctx,
			      const char *format, va_list args)
{
	const char *text, *level;

	if (log_path == NULL)
		return;
	T_BEGIN {
		text = t_strdup_vprintf(format, args);
		if (str_begins(text, "migrate ")) {
			level = ctx->type == LOG_TYPE_ERROR ? "error: " :
				ctx->type == LOG_TYPE_WARNING ? "warning: " : "";
			text = t_strconcat(level, text, NULL);
			if (migrate_event_log_append(log_path, log_owner, text) < 0 &&
			    (log_fd == -1 ||
			     migrate_event_log_append_fd(log_fd, text) < 0) &&
			    !log_failed) {
				/* once: the log itself must not recurse */
				log_failed = TRUE;
				i_warning("migration log %s: %m", log_path);
			}
		}
	} T_END;
}

static void migrate_log_info(const struct failure_context *ctx,
			     const char *format, va_list args)
{
	va_list copy;

	va_copy(copy, args);
	migrate_log_event(ctx, format, copy);
	va_end(copy);
	orig_info_handler(ctx, format, args);
}

static void migrate_log_error(const struct failure_context *ctx,
			      const char *format, va_list args)
{
	va_list copy;

	va_copy(copy, args);
	if (ctx->type == LOG_TYPE_ERROR || ctx->type == LOG_TYPE_WARNING)
		migrate_log_event(ctx, format, copy);
	va_end(copy);
	orig_error_handler(ctx, format, args);
}

void doveadm_migrate_log_config(const struct migrate_config *config)
{
	failure_callback_t *fatal, *error, *info, *debug;

	i_free(log_path);
	i_free(log_owner);
	i_close_fd(&log_fd);
	log_path = i_strdup(config->log);
	log_owner = i_strdup(config->store_user);
	log_fd = migrate_event_log_open(log_path, log_owner);
	if (orig_info_handler != NULL)
		return;
	i_get_failure_handlers(&fatal, &error, &info, &debug);
	orig_info_handler = info;
	orig_error_handler = error;
	i_set_info_handler(migrate_log_info);
	i_set_error_handler(migrate_log_error);
}

void doveadm_migrate_log_deinit(void)
{
	if (orig_info_handler != NULL) {
		i_set_info_handler(orig_info_handler);
		i_set_error_handler(orig_error_handler);
		orig_info_handler = orig_error_handler = NULL;
	}
	i_free(log_path);
	i_free(log_owner);
	i_close_fd(&log_fd);
}
