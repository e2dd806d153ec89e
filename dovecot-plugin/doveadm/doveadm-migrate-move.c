/* Moving local messages (see doveadm-migrate-move.h). */

#include "lib.h"
#include "array.h"
#include "hash.h"
#include "hex-binary.h"
#include "mail-storage.h"
#include "mail-namespace.h"
#include "mail-search-build.h"

#include "migrate-store.h"
#include "doveadm-migrate-mailbox.h"
#include "doveadm-migrate-move.h"

ARRAY_DEFINE_TYPE(migrate_ledger_message, struct migrate_ledger_message);

struct move_context {
	struct mailbox *source, *target;
	pool_t pool;
	/* hex SHA-256 of every message in the target */
	HASH_TABLE(char *, void *) target_hashes;
	struct migrate_move_result result;
	const char *error;
};

static struct mail_search_args *move_search(const ARRAY_TYPE(seq_range) *uids)
{
	struct mail_search_args *args = mail_search_build_init();
	struct mail_search_arg *arg;

	if (uids == NULL) {
		mail_search_build_add_all(args);
		return args;
	}
	arg = mail_search_build_add(args, SEARCH_UIDSET);
	p_array_init(&arg->value.seqset, args->pool, array_count(uids));
	array_append_array(&arg->value.seqset, uids);
	return args;
}

static int move_box_error(struct mailbox *box, const char *what,
			  const char **error_r)
{
	*error_r = t_strdup_printf("%s %s: %s", what, mailbox_get_vname(box),
				   mailbox_get_last_internal_error(box, NULL));
	return -1;
}

static int move_hash(struct mail *mail, unsigned char sha[SHA256_RESULTLEN],
		     const char **error_r)
{
	uoff_t size;

	if (migrate_mail_hash(mail, sha, &size, error_r) < 0) {
		*error_r = t_strdup_printf("%s UID %u: %s",
			mailbox_get_vname(mail->box), mail->uid, *error_r);
		return -1;
	}
	return 0;
}

int migrate_move_seed(struct migrate_store *store, const char *address,
		      struct migrate_ledger_folder *rec, struct mailbox *source,
		      const char **error_r)
{
	struct mailbox_transaction_context *t;
	struct mail_search_args *args;
	struct mail_search_context *search;
	ARRAY_TYPE(migrate_ledger_message) records;
	struct migrate_ledger_message *r;
	struct mail *mail;
	char error[512];
	int ret = 0;

	if (rec->seeded || rec->dsync_below <= 1)
		return 0;
	t_array_init(&records, 256);
	args = mail_search_build_init();
	mail_search_build_add_all(args);
	t = mailbox_transaction_begin(source, 0, "migrate move seed");
	search = mailbox_search_init(t, args, NULL, MAIL_FETCH_STREAM_HEADER |
				     MAIL_FETCH_STREAM_BODY, NULL);
	mail_search_args_unref(&args);
	while (ret == 0 && mailbox_search_next(search, &mail)) {
		unsigned char sha[SHA256_RESULTLEN];

		if (mail->uid >= rec->dsync_below)
			continue;
		if ((ret = move_hash(mail, sha, error_r)) < 0)
			break;
		/* dsync kept the legacy UIDs */
		r = array_append_space(&records);
		r->uidvalidity = rec->uidvalidity;
		r->uid = mail->uid;
		r->local_uid = mail->uid;
		i_strocpy(r->local, rec->local, sizeof(r->local));
		memcpy(r->sha256, sha, SHA256_RESULTLEN);
	}
	if (mailbox_search_deinit(&search) < 0 && ret == 0)
		ret = move_box_error(source, "reading", error_r);
	(void)mailbox_transaction_commit(&t);
	if (ret < 0)
		return -1;
	rec->seeded = TRUE;
	if ((array_count(&records) > 0 &&
	     migrate_store_ledger_put(store, address, rec->legacy,
				      array_front(&records), array_count(&records),
				      error, sizeof(error)) < 0) ||
	    migrate_store_ledger_folder_set(store, address, rec,
					    error, sizeof(error)) < 0) {
		*error_r = t_strdup(error);
		return -1;
	}
	return 0;
}

static int move_open_target(struct move_context *ctx, struct mail_user *user,
			    const char *name, const char **error_r)
{
	struct mail_namespace *ns = mail_namespace_find(user->namespaces, name);

	ctx->target = mailbox_alloc(ns->list, name, 0);
	if (mailbox_open(ctx->target) == 0)
		return 0;
	if (mailbox_get_last_mail_error(ctx->target) != MAIL_ERROR_NOTFOUND)
		return move_box_error(ctx->target, "opening", error_r);
	if (mailbox_create(ctx->target, NULL, FALSE) < 0 &&
	    mailbox_get_last_mail_error(ctx->target) != MAIL_ERROR_EXISTS)
		return move_box_error(ctx->target, "creating", error_r);
	if (mailbox_open(ctx->target) < 0)
		return move_box_error(ctx->target, "opening", error_r);
	return 0;
}

static int move_load_target(struct move_context *ctx, const char **error_r)
{
	struct mailbox_transaction_context *t;
	struct mail_search_args *args = move_search(NULL);
	struct mail_search_context *search;
	unsigned char sha[SHA256_RESULTLEN];
	struct mail *mail;
	int ret = 0;

	t = mailbox_transaction_begin(ctx->target, 0, "migrate move");
	search = mailbox_search_init(t, args, NULL, MAIL_FETCH_STREAM_HEADER |
				     MAIL_FETCH_STREAM_BODY, NULL);
	mail_search_args_unref(&args);
	while (ret == 0 && mailbox_search_next(search, &mail)) {
		if ((ret = move_hash(mail, sha, error_r)) == 0) {
			hash_table_update(ctx->target_hashes,
				p_strdup(ctx->pool, binary_to_hex(sha, sizeof(sha))),
				POINTER_CAST(1));
		}
	}
	if (mailbox_search_deinit(&search) < 0 && ret == 0)
		ret = move_box_error(ctx->target, "reading", error_r);
	(void)mailbox_transaction_commit(&t);
	return ret;
}

static int move_one(struct move_context *ctx,
		    struct mailbox_transaction_context *target_t,
		    struct mail *mail, const char **error_r)
{
	unsigned char sha[SHA256_RESULTLEN];
	struct mail_save_context *save;
	char *hex;

	if (move_hash(mail, sha, error_r) < 0)
		return -1;
	mail_expunge(mail);
	hex = p_strdup(ctx->pool, binary_to_hex(sha, sizeof(sha)));
	if (hash_table_lookup(ctx->target_hashes, hex) != NULL) {
		ctx->result.duplicates++;
		return 0;
	}
	hash_table_insert(ctx->target_hashes, hex, POINTER_CAST(1));
	save = mailbox_save_alloc(target_t);
	mailbox_save_copy_flags(save, mail);
	if (mailbox_copy(&save, mail) < 0)
		return move_box_error(ctx->target, "copying into", error_r);
	ctx->result.moved++;
	return 0;
}

static int move_all(struct move_context *ctx, const ARRAY_TYPE(seq_range) *uids,
		    const char **error_r)
{
	struct mailbox_transaction_context *source_t, *target_t;
	struct mail_search_args *args = move_search(uids);
	struct mail_search_context *search;
	struct mail *mail;
	int ret = 0;

	source_t = mailbox_transaction_begin(ctx->source, 0, "migrate move");
	target_t = mailbox_transaction_begin(ctx->target,
		MAILBOX_TRANSACTION_FLAG_EXTERNAL, "migrate move");
	search = mailbox_search_init(source_t, args, NULL, MAIL_FETCH_STREAM_HEADER |
				     MAIL_FETCH_STREAM_BODY | MAIL_FETCH_FLAGS |
				     MAIL_FETCH_RECEIVED_DATE, NULL);
	mail_search_args_unref(&args);
	while (ret == 0 && mailbox_search_next(search, &mail))
		ret = move_one(ctx, target_t, mail, error_r);
	if (mailbox_search_deinit(&search) < 0 && ret == 0)
		ret = move_box_error(ctx->source, "reading", error_r);
	if (ret == 0 && mailbox_transaction_commit(&target_t) < 0)
		ret = move_box_error(ctx->target, "committing the copies into", error_r);
	if (ret == 0 && mailbox_transaction_commit(&source_t) < 0)
		ret = move_box_error(ctx->source, "expunging from", error_r);
	if (target_t != NULL)
		mailbox_transaction_rollback(&target_t);
	if (source_t != NULL)
		mailbox_transaction_rollback(&source_t);
	return ret;
}

int migrate_move_messages(struct mail_user *user, struct mailbox *source,
			  const ARRAY_TYPE(seq_range) *uids,
			  const char *target_name,
			  struct migrate_move_result *result_r,
			  const char **error_r)
{
	struct move_context ctx;
	int ret;

	i_assert(strcmp(mailbox_get_vname(source), target_name) != 0);
	i_zero(&ctx);
	ctx.source = source;
	ctx.pool = pool_alloconly_create("migrate move", 4096);
	hash_table_create(&ctx.target_hashes, ctx.pool, 0, str_hash, strcmp);
	ret = move_open_target(&ctx, user, target_name, error_r);
	if (ret == 0)
		ret = move_load_target(&ctx, error_r);
	if (ret == 0)
		ret = move_all(&ctx, uids, error_r);
	if (ctx.target != NULL)
		mailbox_free(&ctx.target);
	hash_table_destroy(&ctx.target_hashes);
	pool_unref(&ctx.pool);
	*result_r = ctx.result;
	return ret;
}
