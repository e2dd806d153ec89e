/* doveadm migrate sweep [-c migrate.conf] [-m DAYS] [-M] -u ACCOUNT

   The ledger copier. Copies the legacy messages the ledger does not know
   into the account's local folders, with their flags, keywords and
   INTERNALDATE, and records each one; running it again copies nothing.
   It never deletes or changes anything local, so it is safe once the user
   works on the new server (after the cut-over, or in local and refuse
   modes, where dsync's backup would undo the user's own changes).

   A legacy message is known when the ledger has its key (UIDVALIDITY and
   UID, or the POP3 UIDL), or its UID is below the folder's cut-over
   watermark (dsync placed it). When the legacy UIDVALIDITY changed, and
   for POP3 (no watermark: dsync's local UIDs say nothing of the UIDLs),
   a message not known by key is matched by its content hash instead.

   Crash safety: a batch's records are written as pending (with the local
   UIDNEXT before the save) before the local save commits, and confirmed
   with their local UIDs after it. A sweep that finds pending records
   looks for their copies among the local messages from that UIDNEXT on,
   by content hash: found, confirmed; not found (the save never
   committed), dropped and copied again. So a kill -9 anywhere leaves
   neither a gap nor a duplicate.

   -M (at the cut-over, right after dsync's final pass, while the local
   mailbox is still exactly the legacy one): records each folder's
   UIDVALIDITY and UIDNEXT as its watermark, and prints them with the
   folder's messages and size (the cut-over's done counts). The per-message records of
   what dsync placed are written by the first sweep afterwards (seeding),
   from the local messages below the watermark.

   -m DAYS: only legacy messages received in the last DAYS days. */

#include "lib.h"
#include "array.h"
#include "file-lock.h"
#include "hash.h"
#include "ioloop.h"
#include "istream.h"
#include "istream-crlf.h"
#include "seq-range-array.h"
#include "settings-parser.h"
#include "sha2.h"
#include "mail-storage.h"
#include "mail-storage-service.h"
#include "mail-namespace.h"
#include "mail-search-build.h"
#include "mailbox-list-iter.h"
#include "doveadm-mail.h"
#include "doveadm-print.h"

#include "migrate-config.h"
#include "migrate-store.h"
#include "doveadm-migrate.h"
#include "doveadm-migrate-mail-cmd.h"
#include "doveadm-migrate-special.h"
#include "doveadm-migrate-mailbox.h"

#include <stdio.h>
#include <sysexits.h>

/* a batch is committed (and confirmed in the ledger) at whichever comes
   first: a crash costs at most one batch of re-checking */
#define SWEEP_BATCH_MESSAGES 100
#define SWEEP_BATCH_BYTES (32 * 1024 * 1024)
/* the per-account lock (in the user's home), and how long to wait for it */
#define SWEEP_LOCK_FILENAME ".dovecot-migrate-sweep.lock"
#define SWEEP_LOCK_SECS 5
/* records written per transaction while seeding */
#define SWEEP_SEED_BATCH 500

ARRAY_DEFINE_TYPE(migrate_ledger_folder, struct migrate_ledger_folder);

struct sweep_cmd_context {
	struct migrate_mail_cmd base;
	int64_t maxage_days;
	bool mark;
	const char *address;
	bool pop3;
	/* the account's domain (config memory), NULL when gone from it */
	const struct migrate_domain *domain;
	uint64_t copied;
};

#define sweep_fail(cmd, ...) \
	migrate_mail_cmd_fail(&(cmd)->base, (cmd)->address, __VA_ARGS__)
#define sweep_box_fail(cmd, box, what) \
	migrate_mail_cmd_box_fail(&(cmd)->base, (cmd)->address, box, what)

/* one ledger record of the batch being saved */
struct sweep_entry {
	struct migrate_ledger_message msg;
	/* copied now (else only recorded: its bytes were already there) */
	bool copied;
};

/* one legacy folder being swept */
struct sweep_folder {
	struct sweep_cmd_context *cmd;
	pool_t pool;
	struct migrate_ledger_folder rec;
	uint32_t uidvalidity;
	/* match unknown messages by content (POP3, changed UIDVALIDITY) */
	bool by_content;
	struct mailbox *legacy_box, *local_box;
	ARRAY_TYPE(seq_range) known_uids;
	HASH_TABLE(char *, char *) known_uidls;
	ARRAY(struct migrate_ledger_message) pending;

	struct mailbox_transaction_context *trans;
	ARRAY(struct sweep_entry) batch;
	uoff_t batch_bytes;
	uint32_t batch_uidnext;
	unsigned int copied, known;
};

/* ---- one message: content hash and Message-ID -------------------------- */

/* SHA-256 of the message with CRLF turned into LF: the legacy server
   sends CRLF, the local store may keep LF, and the hash must match. */
static int sweep_hash(struct mail *mail, struct migrate_ledger_message *m,
		      uoff_t *size_r)
{
	const char *msgid, *error;

	if (migrate_mail_hash(mail, m->sha256, size_r, &error) < 0) {
		i_error("migrate sweep: reading UID %u: %s", mail->uid, error);
		return -1;
	}
	if (mail_get_first_header(mail, "Message-ID", &msgid) > 0)
		i_snprintf(m->message_id, sizeof(m->message_id), "%s", msgid);
	return 0;
}

/* ---- the ledger's view of the folder ------------------------------------ */

/* A confirmed record's legacy message is known: not copied again. */
static void sweep_know(struct sweep_folder *f, const struct migrate_ledger_message *m)
{
	if (m->uidl[0] != '\0') {
		char *uidl = p_strdup(f->pool, m->uidl);

		hash_table_update(f->known_uidls, uidl, uidl);
	} else if (m->uidvalidity == f->uidvalidity && m->uid != 0)
		seq_range_array_add(&f->known_uids, m->uid);
}

static int sweep_known_one(const struct migrate_ledger_message *m, void *context)
{
	struct sweep_folder *f = context;

	if (m->pending)
		array_push_back(&f->pending, m);
	else
		sweep_know(f, m);
	return 0;
}

static int sweep_load_known(struct sweep_folder *f)
{
	char error[512];

	if (migrate_store_ledger_messages(f->cmd->base.store, f->cmd->address,
					  f->rec.legacy, sweep_known_one, f,
					  error, sizeof(error)) < 0)
		return sweep_fail(f->cmd, "%s", error);
	/* below the watermark dsync placed every UID (under that UIDVALIDITY) */
	if (!f->by_content && f->rec.dsync_below > 1)
		seq_range_array_add_range(&f->known_uids, 1, f->rec.dsync_below - 1);
	return 0;
}

static bool sweep_is_known(struct sweep_folder *f, struct mail *mail,
			   const char **uidl_r)
{
	*uidl_r = NULL;
	if (!f->cmd->pop3)
		return seq_range_exists(&f->known_uids, mail->uid);
	if (mail_get_special(mail, MAIL_FETCH_UIDL_BACKEND, uidl_r) < 0 ||
	    **uidl_r == '\0')
		return FALSE;
	return hash_table_lookup(f->known_uidls, *uidl_r) != NULL;
}

/* The local messages with UIDs in range, one callback each with its hash. */
typedef int sweep_local_fn(struct sweep_folder *f, struct mail *mail,
			   const struct migrate_ledger_message *hashed);
static int sweep_local_foreach(struct sweep_folder *f, uint32_t uid1, uint32_t uid2,
			       sweep_local_fn *fn)
{
	struct mailbox_transaction_context *t;
	struct mail_search_args *args;
	struct mail_search_arg *arg;
	struct mail_search_context *search;
	struct mail *mail;
	int ret = 0;

	if (mailbox_sync(f->local_box, 0) < 0)
		return sweep_box_fail(f->cmd, f->local_box, "syncing");
	args = mail_search_build_init();
	arg = mail_search_build_add(args, SEARCH_UIDSET);
	p_array_init(&arg->value.seqset, args->pool, 1);
	seq_range_array_add_range(&arg->value.seqset, uid1, uid2);
	t = mailbox_transaction_begin(f->local_box, 0, __func__);
	search = mailbox_search_init(t, args, NULL, MAIL_FETCH_STREAM_HEADER |
				     MAIL_FETCH_STREAM_BODY, NULL);
	mail_search_args_unref(&args);
	while (ret == 0 && mailbox_search_next(search, &mail)) {
		struct migrate_ledger_message m;
		uoff_t size;

		i_zero(&m);
		if (sweep_hash(mail, &m, &size) < 0)
			ret = sweep_box_fail(f->cmd, f->local_box, "reading");
		else
			ret = fn(f, mail, &m);
	}
	if (mailbox_search_deinit(&search) < 0 && ret == 0)
		ret = sweep_box_fail(f->cmd, f->local_box, "searching");
	(void)mailbox_transaction_commit(&t);
	return ret;
}

/* ---- seeding: records for what dsync placed before the cut-over --------- */

static int sweep_put(struct sweep_folder *f, const struct migrate_ledger_message *msgs,
		     unsigned int count)
{
	char error[512];

	if (count > 0 && migrate_store_ledger_put(f->cmd->base.store, f->cmd->address,
						  f->rec.legacy, msgs, count,
						  error, sizeof(error)) < 0)
		return sweep_fail(f->cmd, "%s", error);
	return 0;
}

/* Records the batch's entries: all, or with copies_only the copies whose
   local save is confirmed. */
static int sweep_put_batch(struct sweep_folder *f, bool copies_only)
{
	ARRAY(struct migrate_ledger_message) msgs;
	const struct sweep_entry *e;

	t_array_init(&msgs, array_count(&f->batch) + 1);
	array_foreach(&f->batch, e) {
		if (!copies_only || (e->copied && !e->msg.pending))
			array_push_back(&msgs, &e->msg);
	}
	/* a batch of messages all known by content has nothing to confirm */
	if (array_count(&msgs) == 0)
		return 0;
	return sweep_put(f, array_front(&msgs), array_count(&msgs));
}

static int sweep_flush_seed(struct sweep_folder *f)
{
	int ret = sweep_put_batch(f, FALSE);

	array_clear(&f->batch);
	return ret;
}

static int sweep_seed_one(struct sweep_folder *f, struct mail *mail,
			  const struct migrate_ledger_message *hashed)
{
	struct migrate_ledger_message m = *hashed;
	struct sweep_entry e;

	/* IMAP: dsync kept the legacy UIDs. POP3: the UIDLs are not known
	   here, only the content (keyed by the local UID, UIDVALIDITY 0) */
	m.uidvalidity = f->cmd->pop3 ? 0 : f->rec.uidvalidity;
	m.uid = mail->uid;
	m.local_uid = mail->uid;
	i_snprintf(m.local, sizeof(m.local), "%s", f->rec.local);
	i_zero(&e);
	e.msg = m;
	array_push_back(&f->batch, &e);
	return array_count(&f->batch) < SWEEP_SEED_BATCH ? 0 : sweep_flush_seed(f);
}

static int sweep_seed(struct sweep_folder *f)
{
	char error[512];

	if (f->rec.dsync_below <= 1 || f->rec.seeded)
		return 0;
	if (sweep_local_foreach(f, 1, f->rec.dsync_below - 1, sweep_seed_one) < 0 ||
	    sweep_flush_seed(f) < 0)
		return -1;
	f->rec.seeded = TRUE;
	if (migrate_store_ledger_folder_set(f->cmd->base.store, f->cmd->address, &f->rec,
					    error, sizeof(error)) < 0)
		return sweep_fail(f->cmd, "%s", error);
	return 0;
}

/* ---- pending records of an interrupted sweep ---------------------------- */

/* A copy found after a crash gets its flags and keywords again from the
   legacy message: killed between Maildir's message file and its
   dovecot-keywords file, a copy's keywords are letters without names
   ("unknown-1"). */
static void sweep_restore_flags(struct sweep_folder *f, struct mail *local,
				const struct migrate_ledger_message *m)
{
	struct mailbox_transaction_context *t;
	struct mail_keywords *keywords;
	struct mail *legacy;

	if (f->cmd->pop3 || m->uidvalidity != f->uidvalidity)
		return;
	t = mailbox_transaction_begin(f->legacy_box, 0, __func__);
	legacy = mail_alloc(t, MAIL_FETCH_FLAGS, NULL);
	if (mail_set_uid(legacy, m->uid)) {
		mail_update_flags(local, MODIFY_REPLACE,
				  mail_get_flags(legacy) & ENUM_NEGATE(MAIL_RECENT));
		if (mailbox_keywords_create(local->box, mail_get_keywords(legacy),
					    &keywords) == 0) {
			mail_update_keywords(local, MODIFY_REPLACE, keywords);
			mailbox_keywords_unref(&keywords);
		}
	}
	mail_free(&legacy);
	(void)mailbox_transaction_commit(&t);
}

static int sweep_resolve_one(struct sweep_folder *f, struct mail *mail,
			     const struct migrate_ledger_message *hashed)
{
	struct migrate_ledger_message *m;

	array_foreach_modifiable(&f->pending, m) {
		if (m->pending && mail->uid >= m->local_uid &&
		    memcmp(m->sha256, hashed->sha256, sizeof(m->sha256)) == 0) {
			m->pending = FALSE;
			m->local_uid = mail->uid;
			sweep_restore_flags(f, mail, m);
			return sweep_put(f, m, 1);
		}
	}
	return 0;
}

static int sweep_resolve_pending(struct sweep_folder *f)
{
	const struct migrate_ledger_message *m;
	uint32_t first = (uint32_t)-1;
	char error[512];

	if (array_count(&f->pending) == 0)
		return 0;
	array_foreach(&f->pending, m)
		first = I_MIN(first, m->local_uid);
	if (sweep_local_foreach(f, I_MAX(first, 1), (uint32_t)-1, sweep_resolve_one) < 0)
		return -1;
	array_foreach(&f->pending, m) {
		if (m->pending) {
			/* its save never committed: copied again below */
			if (migrate_store_ledger_drop(f->cmd->base.store, f->cmd->address,
						      f->rec.legacy, m, error,
						      sizeof(error)) < 0)
				return sweep_fail(f->cmd, "%s", error);
			continue;
		}
		sweep_know(f, m);
	}
	i_info("migrate sweep: %s: '%s': an interrupted sweep's %u messages checked",
	       f->cmd->address, f->rec.legacy, array_count(&f->pending));
	return 0;
}

/* ---- copying ------------------------------------------------------------- */

static int sweep_batch_begin(struct sweep_folder *f)
{
	struct mailbox_status status;

	if (mailbox_sync(f->local_box, 0) < 0)
		return sweep_box_fail(f->cmd, f->local_box, "syncing");
	mailbox_get_open_status(f->local_box, STATUS_UIDNEXT, &status);
	f->batch_uidnext = status.uidnext;
	f->batch_bytes = 0;
	f->trans = mailbox_transaction_begin(f->local_box,
					     MAILBOX_TRANSACTION_FLAG_EXTERNAL,
					     __func__);
	return 0;
}

/* pending records, the local commit, the confirmed records */
static int sweep_flush(struct sweep_folder *f)
{
	struct mail_transaction_commit_changes changes;
	struct seq_range_iter iter;
	struct sweep_entry *e;
	unsigned int n = 0;
	uint32_t uid;
	int ret;

	if (f->trans == NULL)
		return 0;
	array_foreach_modifiable(&f->batch, e) {
		e->msg.pending = e->copied;
		if (e->copied)
			e->msg.local_uid = f->batch_uidnext;
	}
	if (sweep_put_batch(f, FALSE) < 0) {
		mailbox_transaction_rollback(&f->trans);
		return -1;
	}
	if (mailbox_transaction_commit_get_changes(&f->trans, &changes) < 0)
		return sweep_box_fail(f->cmd, f->local_box, "saving into");
	seq_range_array_iter_init(&iter, &changes.saved_uids);
	array_foreach_modifiable(&f->batch, e) {
		/* without a UID the record stays pending: the next sweep
		   finds the copy by its content */
		if (e->copied && seq_range_array_iter_nth(&iter, n++, &uid)) {
			e->msg.pending = FALSE;
			e->msg.local_uid = uid;
		}
	}
	pool_unref(&changes.pool);
	ret = sweep_put_batch(f, TRUE);
	array_clear(&f->batch);
	return ret;
}

static int sweep_copy_one(struct sweep_folder *f, struct mail *mail, const char *uidl)
{
	struct sweep_entry e;
	struct mail_save_context *save;
	uoff_t size;
	char error[512];
	int ret;

	i_zero(&e);
	if (sweep_hash(mail, &e.msg, &size) < 0)
		return sweep_box_fail(f->cmd, f->legacy_box, "reading from");
	e.msg.uidvalidity = f->uidvalidity;
	e.msg.uid = mail->uid;
	if (uidl != NULL)
		i_snprintf(e.msg.uidl, sizeof(e.msg.uidl), "%s", uidl);
	i_snprintf(e.msg.local, sizeof(e.msg.local), "%s", f->rec.local);
	if (f->by_content) {
		ret = migrate_store_ledger_hash_known(f->cmd->base.store, f->cmd->address,
						      f->rec.legacy, e.msg.sha256,
						      error, sizeof(error));
		if (ret < 0)
			return sweep_fail(f->cmd, "%s", error);
		e.copied = ret == 0;
	} else {
		e.copied = TRUE;
	}
	if (f->trans == NULL && sweep_batch_begin(f) < 0)
		return -1;
	if (e.copied) {
		save = mailbox_save_alloc(f->trans);
		mailbox_save_copy_flags(save, mail);
		if (mailbox_copy(&save, mail) < 0)
			return sweep_box_fail(f->cmd, f->local_box, "copying into");
		f->copied++;
		f->batch_bytes += size;
	} else {
		f->known++;
	}
	array_push_back(&f->batch, &e);
	if (array_count(&f->batch) >= SWEEP_BATCH_MESSAGES ||
	    f->batch_bytes >= SWEEP_BATCH_BYTES)
		return sweep_flush(f);
	return 0;
}

static struct mail_search_args *sweep_search_args(struct sweep_cmd_context *cmd)
{
	struct mail_search_args *args = mail_search_build_init();
	struct mail_search_arg *arg;

	if (cmd->maxage_days <= 0) {
		mail_search_build_add_all(args);
		return args;
	}
	arg = mail_search_build_add(args, SEARCH_SINCE);
	arg->value.date_type = MAIL_SEARCH_DATE_TYPE_RECEIVED;
	arg->value.time = ioloop_time - cmd->maxage_days * 24 * 3600;
	return args;
}

/* The legacy UIDs not known by key, then those messages, prefetched. */
static int sweep_copy_new(struct sweep_folder *f)
{
	struct mailbox_transaction_context *t;
	struct mail_search_args *args;
	struct mail_search_arg *arg;
	struct mail_search_context *search;
	ARRAY_TYPE(seq_range) unknown;
	ARRAY(const char *) uidls;
	struct mail *mail;
	const char *uidl;
	int ret = 0;

	t_array_init(&unknown, 64);
	t_array_init(&uidls, 64);
	t = mailbox_transaction_begin(f->legacy_box, 0, __func__);
	args = sweep_search_args(f->cmd);
	search = mailbox_search_init(t, args, NULL, f->cmd->pop3 ?
				     MAIL_FETCH_UIDL_BACKEND : 0, NULL);
	mail_search_args_unref(&args);
	while (mailbox_search_next(search, &mail)) {
		if (!sweep_is_known(f, mail, &uidl))
			seq_range_array_add(&unknown, mail->uid);
		else
			f->known++;
	}
	if (mailbox_search_deinit(&search) < 0)
		ret = sweep_box_fail(f->cmd, f->legacy_box, "searching");
	if (ret == 0 && array_count(&unknown) > 0) {
		args = mail_search_build_init();
		arg = mail_search_build_add(args, SEARCH_UIDSET);
		p_array_init(&arg->value.seqset, args->pool, 1);
		array_append_array(&arg->value.seqset, &unknown);
		search = mailbox_search_init(t, args, NULL, MAIL_FETCH_STREAM_HEADER |
					     MAIL_FETCH_STREAM_BODY | MAIL_FETCH_FLAGS |
					     MAIL_FETCH_RECEIVED_DATE |
					     (f->cmd->pop3 ? MAIL_FETCH_UIDL_BACKEND : 0),
					     NULL);
		mail_search_args_unref(&args);
		while (ret == 0 && mailbox_search_next(search, &mail)) T_BEGIN {
			if (!f->cmd->pop3 ||
			    mail_get_special(mail, MAIL_FETCH_UIDL_BACKEND, &uidl) < 0)
				uidl = NULL;
			ret = sweep_copy_one(f, mail, uidl);
		} T_END;
		if (mailbox_search_deinit(&search) < 0 && ret == 0)
			ret = sweep_box_fail(f->cmd, f->legacy_box, "fetching from");
		if (ret == 0)
			ret = sweep_flush(f);
	}
	if (f->trans != NULL)
		mailbox_transaction_rollback(&f->trans);
	(void)mailbox_transaction_commit(&t);
	return ret;
}

/* ---- one folder ------------------------------------------------------------ */

static int sweep_open_local(struct sweep_folder *f, struct mail_user *user)
{
	struct mail_namespace *ns = mail_namespace_find(user->namespaces, f->rec.local);
	enum mail_error error;

	f->local_box = mailbox_alloc(ns->list, f->rec.local, 0);
	if (mailbox_open(f->local_box) == 0)
		return 0;
	(void)mailbox_get_last_error(f->local_box, &error);
	if (error != MAIL_ERROR_NOTFOUND)
		return sweep_box_fail(f->cmd, f->local_box, "opening");
	if (mailbox_create(f->local_box, NULL, FALSE) < 0 &&
	    mailbox_get_last_mail_error(f->local_box) != MAIL_ERROR_EXISTS)
		return sweep_box_fail(f->cmd, f->local_box, "creating");
	if (mailbox_open(f->local_box) < 0)
		return sweep_box_fail(f->cmd, f->local_box, "opening");
	return 0;
}

/* 1 opened, 0 when the legacy folder does not exist, -1 error */
static int sweep_open_legacy(struct sweep_folder *f, struct mail_user *legacy_user,
			     const char *vname)
{
	struct mail_namespace *ns = mail_namespace_find(legacy_user->namespaces, vname);
	struct mailbox_status status;

	f->legacy_box = mailbox_alloc(ns->list, vname, MAILBOX_FLAG_READONLY);
	if (mailbox_sync(f->legacy_box, 0) < 0) {
		/* gone since the listing, or a parent holding only children */
		if (mailbox_get_last_mail_error(f->legacy_box) == MAIL_ERROR_NOTFOUND)
			return 0;
		return sweep_box_fail(f->cmd, f->legacy_box, "opening legacy");
	}
	mailbox_get_open_status(f->legacy_box, STATUS_UIDVALIDITY, &status);
	f->uidvalidity = f->cmd->pop3 ? 0 : status.uidvalidity;
	return 1;
}

static int sweep_folder_run(struct sweep_folder *f, struct mail_user *user,
			    struct mail_user *legacy_user,
			    const struct migrate_folder_entry *legacy)
{
	const char *vname = legacy->name;
	char error[512];
	int ret, opened;

	ret = migrate_store_ledger_folder_get(f->cmd->base.store, f->cmd->address, vname,
					      &f->rec, error, sizeof(error));
	if (ret < 0)
		return sweep_fail(f->cmd, "%s", error);
	if (ret == 0) {
		i_snprintf(f->rec.legacy, sizeof(f->rec.legacy), "%s", vname);
		/* a folder met for the first time: its special folder's
		   (special_folders = merge), else the same name */
		i_snprintf(f->rec.local, sizeof(f->rec.local), "%s",
			   f->cmd->base.config->special_folders ==
			   MIGRATE_SPECIAL_FOLDERS_MERGE ?
			   migrate_special_target(user, legacy_user, legacy) : vname);
	}
	if ((opened = sweep_open_legacy(f, legacy_user, vname)) <= 0)
		return opened;
	if (sweep_open_local(f, user) < 0 || sweep_seed(f) < 0)
		return -1;
	/* a folder met for the first time takes the legacy subscription; the
	   user's later choices are never undone */
	if (ret == 0 && legacy->subscribed &&
	    mailbox_set_subscribed(f->local_box, TRUE) < 0)
		return sweep_box_fail(f->cmd, f->local_box, "subscribing to");
	if (ret > 0 && f->rec.uidvalidity != f->uidvalidity) {
		i_info("migrate sweep: %s: '%s': legacy UIDVALIDITY changed "
		       "(%u -> %u): matching its messages by content",
		       f->cmd->address, vname, f->rec.uidvalidity, f->uidvalidity);
		f->rec.dsync_below = 0;
	}
	f->by_content = f->cmd->pop3 || (ret > 0 && f->rec.uidvalidity != f->uidvalidity);
	if (sweep_load_known(f) < 0 || sweep_resolve_pending(f) < 0 ||
	    sweep_copy_new(f) < 0)
		return -1;
	f->rec.uidvalidity = f->uidvalidity;
	if (migrate_store_ledger_folder_set(f->cmd->base.store, f->cmd->address, &f->rec,
					    error, sizeof(error)) < 0)
		return sweep_fail(f->cmd, "%s", error);
	return 0;
}

static int sweep_folder(struct sweep_cmd_context *cmd, struct mail_user *user,
			struct mail_user *legacy_user,
			const struct migrate_folder_entry *legacy)
{
	const char *vname = legacy->name;
	struct sweep_folder f;
	int ret;

	i_zero(&f);
	f.cmd = cmd;
	f.pool = pool_alloconly_create("migrate sweep folder", 4096);
	p_array_init(&f.known_uids, f.pool, 64);
	p_array_init(&f.pending, f.pool, 8);
	p_array_init(&f.batch, f.pool, SWEEP_BATCH_MESSAGES);
	hash_table_create(&f.known_uidls, f.pool, 0, str_hash, strcmp);
	ret = sweep_folder_run(&f, user, legacy_user, legacy);
	if (f.legacy_box != NULL)
		mailbox_free(&f.legacy_box);
	if (f.local_box != NULL)
		mailbox_free(&f.local_box);
	hash_table_destroy(&f.known_uidls);
	pool_unref(&f.pool);
	doveadm_print(vname);
	doveadm_print_num(f.copied);
	doveadm_print_num(f.known);
	cmd->copied += f.copied;
	return ret;
}

/* ---- the folders ------------------------------------------------------------ */

/* The user's selectable folders (data stack); -1 when listing failed. */
static int sweep_legacy_open(struct sweep_cmd_context *cmd,
			     struct migrate_legacy *legacy_r)
{
	const char *error;

	if (migrate_legacy_open(&cmd->base.ctx, cmd->domain, cmd->pop3,
				cmd->base.config->import_prefetch, legacy_r,
				&error) < 0)
		return sweep_fail(cmd, "legacy mailbox: %s", error);
	return 0;
}

static int sweep_account(struct sweep_cmd_context *cmd, struct mail_user *user)
{
	struct migrate_ledger_account la;
	struct migrate_legacy legacy;
	struct mail_user *legacy_user;
	ARRAY_TYPE(migrate_folder_entry) folders;
	const struct migrate_folder_entry *folder;
	char error[512];
	int ret = 0;

	if (sweep_legacy_open(cmd, &legacy) < 0)
		return -1;
	legacy_user = legacy.user;
	if (migrate_list_folders(legacy_user, cmd->pop3, &folders) < 0) {
		ret = sweep_fail(cmd, "listing the legacy folders failed: %s",
				 mailbox_list_get_last_internal_error(
					legacy_user->namespaces->list, NULL));
	}
	array_foreach(&folders, folder) {
		if (ret < 0)
			break;
		T_BEGIN {
			ret = sweep_folder(cmd, user, legacy_user, folder);
		} T_END;
	}
	migrate_legacy_close(&legacy);
	if (ret < 0)
		return -1;
	if (migrate_store_ledger_account_get(cmd->base.store, cmd->address, &la,
					     error, sizeof(error)) < 0)
		return sweep_fail(cmd, "%s", error);
	la.last_sweep = ioloop_time;
	la.swept_messages += cmd->copied;
	if (migrate_store_ledger_account_set(cmd->base.store, cmd->address, &la,
					     error, sizeof(error)) < 0)
		return sweep_fail(cmd, "%s", error);
	i_info("migrate sweep: %s: %"PRIu64" messages copied", cmd->address,
	       cmd->copied);
	return 0;
}

/* ---- -M: the cut-over's watermarks --------------------------------------- */

/* The mark of one local folder into recs; its row printed. */
static int sweep_mark_folder(struct sweep_cmd_context *cmd, struct mail_user *user,
			     const char *vname, ARRAY_TYPE(migrate_ledger_folder) *recs)
{
	struct mail_namespace *ns = mail_namespace_find(user->namespaces, vname);
	struct migrate_ledger_folder *rec;
	struct mailbox_status status;
	struct mailbox_metadata metadata;
	struct mailbox *box;
	int ret = 0;

	box = mailbox_alloc(ns->list, vname, MAILBOX_FLAG_READONLY);
	if (mailbox_get_status(box, STATUS_UIDVALIDITY | STATUS_UIDNEXT |
			       STATUS_MESSAGES, &status) < 0 ||
	    mailbox_get_metadata(box, MAILBOX_METADATA_VIRTUAL_SIZE, &metadata) < 0) {
		/* a parent that only holds children has nothing to mark */
		ret = mailbox_get_last_mail_error(box) == MAIL_ERROR_NOTFOUND ? 1 :
			sweep_box_fail(cmd, box, "reading");
	}
	mailbox_free(&box);
	if (ret != 0)
		return ret < 0 ? -1 : 0;
	rec = array_append_space(recs);
	i_snprintf(rec->legacy, sizeof(rec->legacy), "%s", vname);
	i_snprintf(rec->local, sizeof(rec->local), "%s", vname);
	rec->uidvalidity = cmd->pop3 ? 0 : status.uidvalidity;
	rec->dsync_below = status.uidnext;
	doveadm_print(vname);
	doveadm_print_num(rec->uidvalidity);
	doveadm_print_num(rec->dsync_below);
	doveadm_print_num(status.messages);
	doveadm_print_num(metadata.virtual_size);
	return 0;
}

static int sweep_mark(struct sweep_cmd_context *cmd, struct mail_user *user)
{
	struct migrate_ledger_account la;
	ARRAY_TYPE(migrate_folder_entry) folders;
	ARRAY_TYPE(migrate_ledger_folder) recs;
	const struct migrate_folder_entry *folder;
	char error[512];

	if (migrate_list_folders(user, cmd->pop3, &folders) < 0)
		return sweep_fail(cmd, "listing the local folders failed");
	t_array_init(&recs, array_count(&folders) + 1);
	array_foreach(&folders, folder) {
		if (sweep_mark_folder(cmd, user, folder->name, &recs) < 0)
			return -1;
	}
	/* every folder's mark in one commit */
	if (migrate_store_ledger_folders_set(cmd->base.store, cmd->address,
					     array_front(&recs), array_count(&recs),
					     error, sizeof(error)) < 0 ||
	    migrate_store_ledger_account_get(cmd->base.store, cmd->address, &la,
					     error, sizeof(error)) < 0)
		return sweep_fail(cmd, "%s", error);
	la.engine = MIGRATE_ENGINE_DSYNC;
	if (migrate_store_ledger_account_set(cmd->base.store, cmd->address, &la,
					     error, sizeof(error)) < 0)
		return sweep_fail(cmd, "%s", error);
	return 0;
}

/* ---- the command ------------------------------------------------------------- */

static int cmd_sweep_run(struct doveadm_mail_cmd_context *_ctx, struct mail_user *user)
{
	struct sweep_cmd_context *cmd = (struct sweep_cmd_context *)_ctx;
	struct migrate_account account;
	struct file_lock *lock;
	const char *lock_error;
	int ret;

	cmd->address = user->username;
	if (migrate_mail_cmd_account(&cmd->base, user, &account) < 0)
		return -1;
	cmd->pop3 = account.protocol == MIGRATE_PROTOCOL_POP3;
	cmd->domain = migrate_config_find_domain(cmd->base.config, account.domain);
	cmd->copied = 0;
	/* two sweeps of one account would both copy what neither has
	   recorded yet */
	if (mail_user_home_mkdir(user) < 0)
		return sweep_fail(cmd, "cannot create the home directory");
	ret = mail_user_lock_file_create(user, SWEEP_LOCK_FILENAME,
					 SWEEP_LOCK_SECS, &lock, &lock_error);
	if (ret <= 0) {
		return sweep_fail(cmd, "%s", ret < 0 ? lock_error :
				  "another sweep of this account is running");
	}
	ret = cmd->mark ? sweep_mark(cmd, user) : sweep_account(cmd, user);
	file_lock_free(&lock);
	return ret;
}

static void cmd_sweep_print_header(struct migrate_mail_cmd *base)
{
	struct sweep_cmd_context *cmd = (struct sweep_cmd_context *)base;

	doveadm_print_header_simple("folder");
	if (cmd->mark) {
		/* the marks, and the counts the cut-over records as done */
		doveadm_print_header_simple("uidvalidity");
		doveadm_print_header_simple("uidnext");
		doveadm_print_header_simple("messages");
		doveadm_print_header_simple("vsize");
	} else {
		doveadm_print_header_simple("copied");
		doveadm_print_header_simple("known");
	}
}

static bool cmd_sweep_parse_arg(struct migrate_mail_cmd *base, int c)
{
	struct sweep_cmd_context *cmd = (struct sweep_cmd_context *)base;

	switch (c) {
	case 'm':
		return str_to_int64(optarg, &cmd->maxage_days) == 0 &&
			cmd->maxage_days > 0;
	case 'M':
		cmd->mark = TRUE;
		return TRUE;
	}
	return FALSE;
}

struct doveadm_mail_cmd_context *cmd_migrate_sweep_alloc(void)
{
	struct sweep_cmd_context *cmd;

	cmd = migrate_mail_cmd_alloc(struct sweep_cmd_context, "sweep", "c:m:M",
				     cmd_sweep_run);
	cmd->base.parse_arg = cmd_sweep_parse_arg;
	cmd->base.print_header = cmd_sweep_print_header;
	return &cmd->base.ctx;
}
