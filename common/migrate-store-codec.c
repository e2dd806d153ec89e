/* Record encodings of the state store (see migrate-store-codec.h).
   Integers are big-endian; strings carry a 2-byte length and no NUL. */

#include "migrate-store-codec.h"

#include <string.h>

#define CODEC_VERSION 1

struct reader {
	const unsigned char *data;
	size_t size, pos;
	bool bad;
};

static void put_u64(unsigned char **p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		(*p)[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
	*p += 8;
}

static void put_u32(unsigned char **p, uint32_t v)
{
	(*p)[0] = (unsigned char)(v >> 24);
	(*p)[1] = (unsigned char)(v >> 16);
	(*p)[2] = (unsigned char)(v >> 8);
	(*p)[3] = (unsigned char)v;
	*p += 4;
}

static void put_bytes(unsigned char **p, const void *data, size_t len)
{
	(*p)[0] = (unsigned char)(len >> 8);
	(*p)[1] = (unsigned char)len;
	memcpy(*p + 2, data, len);
	*p += 2 + len;
}

static const unsigned char *take(struct reader *r, size_t len)
{
	const unsigned char *p = r->data + r->pos;

	if (r->bad || r->size - r->pos < len) {
		r->bad = true;
		return NULL;
	}
	r->pos += len;
	return p;
}

static uint64_t get_u64(struct reader *r)
{
	const unsigned char *p = take(r, 8);
	uint64_t v = 0;
	int i;

	for (i = 0; p != NULL && i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t get_u32(struct reader *r)
{
	const unsigned char *p = take(r, 4);

	if (p == NULL)
		return 0;
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
		((uint32_t)p[2] << 8) | p[3];
}

/* A length-prefixed field of at most max bytes; *len_r its length. */
static const unsigned char *get_bytes(struct reader *r, size_t max, size_t *len_r)
{
	const unsigned char *p = take(r, 2);
	size_t len;

	if (p == NULL)
		return NULL;
	len = ((size_t)p[0] << 8) | p[1];
	if (len > max) {
		r->bad = true;
		return NULL;
	}
	*len_r = len;
	return take(r, len);
}

static void get_string(struct reader *r, char *out, size_t max)
{
	size_t len = 0;
	const unsigned char *p = get_bytes(r, max, &len);

	out[0] = '\0';
	if (p == NULL)
		return;
	if (memchr(p, '\0', len) != NULL) {
		r->bad = true;
		return;
	}
	memcpy(out, p, len);
	out[len] = '\0';
}

static int finish(struct reader *r)
{
	return r->bad || r->pos != r->size ? -1 : 0;
}

static struct reader reader_init(const unsigned char *data, size_t size)
{
	struct reader r = { data, size, 0, false };
	const unsigned char *version = take(&r, 1);

	if (version == NULL || *version != CODEC_VERSION)
		r.bad = true;
	return r;
}

void migrate_queue_entry_encode(const struct migrate_queue_entry *e,
				unsigned char out[MIGRATE_QUEUE_ENTRY_SIZE])
{
	unsigned char *p = out;

	*p++ = CODEC_VERSION;
	*p++ = e->priority;
	put_u64(&p, (uint64_t)e->not_before);
	put_u64(&p, (uint64_t)e->enqueued);
	put_u32(&p, e->lease_owner);
	put_u64(&p, (uint64_t)e->lease_expiry);
}

int migrate_queue_entry_decode(const unsigned char *data, size_t size,
			       struct migrate_queue_entry *e)
{
	struct reader r = reader_init(data, size);
	const unsigned char *prio = take(&r, 1);

	memset(e, 0, sizeof(*e));
	if (prio != NULL)
		e->priority = *prio;
	e->not_before = (int64_t)get_u64(&r);
	e->enqueued = (int64_t)get_u64(&r);
	e->lease_owner = get_u32(&r);
	e->lease_expiry = (int64_t)get_u64(&r);
	return finish(&r);
}

size_t migrate_queue_order_key(const struct migrate_queue_entry *e,
			       const char *address,
			       unsigned char out[MIGRATE_QUEUE_ORDER_KEY_MAX])
{
	size_t len = strnlen(address, MIGRATE_ACCOUNT_ADDRESS_MAX);
	unsigned char *p = out;

	*p++ = (unsigned char)(0xff - e->priority);
	/* flipping the sign bit makes signed times sort as unsigned bytes */
	put_u64(&p, (uint64_t)e->not_before ^ (UINT64_C(1) << 63));
	memcpy(p, address, len);
	return 1 + 8 + len;
}

const char *migrate_queue_order_key_address(const unsigned char *key, size_t size,
					    char buf[MIGRATE_ACCOUNT_ADDRESS_MAX + 1])
{
	size_t len;

	if (size <= 9 || size - 9 > MIGRATE_ACCOUNT_ADDRESS_MAX)
		return NULL;
	len = size - 9;
	if (memchr(key + 9, '\0', len) != NULL)
		return NULL;
	memcpy(buf, key + 9, len);
	buf[len] = '\0';
	return buf;
}

size_t migrate_stats_encode(const struct migrate_stats *s,
			    unsigned char out[MIGRATE_STATS_RECORD_MAX])
{
	unsigned char *p = out;
	unsigned int i;

	*p++ = CODEC_VERSION;
	put_u64(&p, (uint64_t)s->started_at);
	put_u64(&p, s->mailboxes_migrated);
	put_u64(&p, s->aliases_created);
	put_u64(&p, s->messages_migrated);
	put_u64(&p, s->bytes_migrated);
	put_u64(&p, s->errors);
	for (i = 0; i < MIGRATE_STATE_COUNT; i++)
		put_u64(&p, s->state_counts[i]);
	put_bytes(&p, s->last_mailbox, strnlen(s->last_mailbox, MIGRATE_ACCOUNT_ADDRESS_MAX));
	/* added later: an older record ends before them */
	put_u64(&p, s->imported_messages);
	put_u64(&p, s->imported_bytes);
	put_u64(&p, (uint64_t)s->rate_window_start);
	put_u64(&p, s->rate_window_messages);
	put_u64(&p, s->rate_window_bytes);
	put_u64(&p, (uint64_t)s->rate_prev_start);
	put_u64(&p, s->rate_prev_messages);
	put_u64(&p, s->rate_prev_bytes);
	return (size_t)(p - out);
}

int migrate_stats_decode(const unsigned char *data, size_t size,
			 struct migrate_stats *s)
{
	struct reader r = reader_init(data, size);
	unsigned int i;

	memset(s, 0, sizeof(*s));
	s->started_at = (int64_t)get_u64(&r);
	s->mailboxes_migrated = get_u64(&r);
	s->aliases_created = get_u64(&r);
	s->messages_migrated = get_u64(&r);
	s->bytes_migrated = get_u64(&r);
	s->errors = get_u64(&r);
	for (i = 0; i < MIGRATE_STATE_COUNT; i++)
		s->state_counts[i] = get_u64(&r);
	get_string(&r, s->last_mailbox, MIGRATE_ACCOUNT_ADDRESS_MAX);
	if (!r.bad && r.pos < r.size) {
		s->imported_messages = get_u64(&r);
		s->imported_bytes = get_u64(&r);
		s->rate_window_start = (int64_t)get_u64(&r);
		s->rate_window_messages = get_u64(&r);
		s->rate_window_bytes = get_u64(&r);
		s->rate_prev_start = (int64_t)get_u64(&r);
		s->rate_prev_messages = get_u64(&r);
		s->rate_prev_bytes = get_u64(&r);
	}
	return finish(&r);
}

size_t migrate_secret_encode(const struct migrate_secret *s, int64_t created,
			     unsigned char out[MIGRATE_SECRET_RECORD_MAX])
{
	unsigned char *p = out;
	size_t cred_len = s->credential_len <= MIGRATE_SECRET_CREDENTIAL_MAX ?
		s->credential_len : 0;

	*p++ = CODEC_VERSION;
	put_u64(&p, (uint64_t)created);
	put_bytes(&p, s->password_hash, strnlen(s->password_hash, MIGRATE_SECRET_HASH_MAX));
	put_bytes(&p, s->credential, cred_len);
	return (size_t)(p - out);
}

int migrate_secret_decode(const unsigned char *data, size_t size,
			  struct migrate_secret *s, int64_t *created_r)
{
	struct reader r = reader_init(data, size);
	const unsigned char *cred;
	size_t len = 0;

	memset(s, 0, sizeof(*s));
	*created_r = (int64_t)get_u64(&r);
	get_string(&r, s->password_hash, MIGRATE_SECRET_HASH_MAX);
	cred = get_bytes(&r, MIGRATE_SECRET_CREDENTIAL_MAX, &len);
	if (cred != NULL) {
		memcpy(s->credential, cred, len);
		s->credential_len = len;
	}
	return finish(&r);
}

size_t migrate_alias_encode(const struct migrate_alias *a,
			    unsigned char out[MIGRATE_ALIAS_RECORD_MAX])
{
	unsigned char *p = out;

	*p++ = CODEC_VERSION;
	put_bytes(&p, a->account, strnlen(a->account, MIGRATE_ACCOUNT_ADDRESS_MAX));
	put_bytes(&p, a->source, strnlen(a->source, MIGRATE_ALIAS_SOURCE_MAX));
	return (size_t)(p - out);
}

int migrate_alias_decode(const unsigned char *data, size_t size,
			 struct migrate_alias *a)
{
	struct reader r = reader_init(data, size);

	memset(a, 0, sizeof(*a));
	get_string(&r, a->account, MIGRATE_ACCOUNT_ADDRESS_MAX);
	get_string(&r, a->source, MIGRATE_ALIAS_SOURCE_MAX);
	if (a->account[0] == '\0')
		r.bad = true;
	return finish(&r);
}

size_t migrate_ledger_account_encode(const struct migrate_ledger_account *a,
				     unsigned char out[MIGRATE_LEDGER_ACCOUNT_RECORD_SIZE])
{
	unsigned char *p = out;

	*p++ = CODEC_VERSION;
	*p++ = (unsigned char)a->engine;
	put_u64(&p, (uint64_t)a->sweep_due);
	put_u64(&p, (uint64_t)a->last_sweep);
	put_u64(&p, a->swept_messages);
	*p++ = a->finished ? 1 : 0;
	memcpy(p, a->unflushed_boot, MIGRATE_BOOT_ID_SIZE);
	p += MIGRATE_BOOT_ID_SIZE;
	memcpy(p, a->legacy_fingerprint, MIGRATE_LEGACY_FINGERPRINT_SIZE);
	p += MIGRATE_LEGACY_FINGERPRINT_SIZE;
	return (size_t)(p - out);
}

int migrate_ledger_account_decode(const unsigned char *data, size_t size,
				  struct migrate_ledger_account *a)
{
	struct reader r = reader_init(data, size);
	const unsigned char *engine = take(&r, 1);
	const unsigned char *finished;

	memset(a, 0, sizeof(*a));
	if (engine != NULL && *engine <= MIGRATE_ENGINE_COPIER)
		a->engine = (enum migrate_ledger_engine)*engine;
	else
		r.bad = true;
	a->sweep_due = (int64_t)get_u64(&r);
	a->last_sweep = (int64_t)get_u64(&r);
	a->swept_messages = get_u64(&r);
	finished = take(&r, 1);
	a->finished = finished != NULL && *finished != 0;
	/* absent from records written before it existed: flushed */
	if (!r.bad && r.size - r.pos >= MIGRATE_BOOT_ID_SIZE)
		memcpy(a->unflushed_boot, take(&r, MIGRATE_BOOT_ID_SIZE),
		       MIGRATE_BOOT_ID_SIZE);
	/* the same: no fingerprint, the next pass is not skipped */
	if (!r.bad && r.size - r.pos >= MIGRATE_LEGACY_FINGERPRINT_SIZE)
		memcpy(a->legacy_fingerprint,
		       take(&r, MIGRATE_LEGACY_FINGERPRINT_SIZE),
		       MIGRATE_LEGACY_FINGERPRINT_SIZE);
	return finish(&r);
}

size_t migrate_ledger_folder_encode(const struct migrate_ledger_folder *f,
				    unsigned char out[MIGRATE_LEDGER_FOLDER_RECORD_MAX])
{
	unsigned char *p = out;

	*p++ = CODEC_VERSION;
	put_bytes(&p, f->legacy, strnlen(f->legacy, MIGRATE_LEDGER_FOLDER_MAX));
	put_bytes(&p, f->local, strnlen(f->local, MIGRATE_LEDGER_FOLDER_MAX));
	put_u32(&p, f->uidvalidity);
	put_u32(&p, f->dsync_below);
	*p++ = f->seeded ? 1 : 0;
	return (size_t)(p - out);
}

int migrate_ledger_folder_decode(const unsigned char *data, size_t size,
				 struct migrate_ledger_folder *f)
{
	struct reader r = reader_init(data, size);
	const unsigned char *seeded;

	memset(f, 0, sizeof(*f));
	get_string(&r, f->legacy, MIGRATE_LEDGER_FOLDER_MAX);
	get_string(&r, f->local, MIGRATE_LEDGER_FOLDER_MAX);
	f->uidvalidity = get_u32(&r);
	f->dsync_below = get_u32(&r);
	seeded = take(&r, 1);
	f->seeded = seeded != NULL && *seeded != 0;
	return finish(&r);
}

size_t migrate_ledger_message_encode(const struct migrate_ledger_message *m,
				     unsigned char out[MIGRATE_LEDGER_MESSAGE_RECORD_MAX])
{
	unsigned char *p = out;

	*p++ = CODEC_VERSION;
	*p++ = m->pending ? 1 : 0;
	put_u32(&p, m->local_uid);
	put_bytes(&p, m->local, strnlen(m->local, MIGRATE_LEDGER_FOLDER_MAX));
	put_bytes(&p, m->message_id, strnlen(m->message_id, MIGRATE_LEDGER_MESSAGE_ID_MAX));
	memcpy(p, m->sha256, MIGRATE_LEDGER_HASH_SIZE);
	p += MIGRATE_LEDGER_HASH_SIZE;
	return (size_t)(p - out);
}

int migrate_ledger_message_decode(const unsigned char *data, size_t size,
				  struct migrate_ledger_message *m)
{
	struct reader r = reader_init(data, size);
	const unsigned char *pending = take(&r, 1), *hash;

	memset(m, 0, sizeof(*m));
	m->pending = pending != NULL && *pending != 0;
	m->local_uid = get_u32(&r);
	get_string(&r, m->local, MIGRATE_LEDGER_FOLDER_MAX);
	get_string(&r, m->message_id, MIGRATE_LEDGER_MESSAGE_ID_MAX);
	hash = take(&r, MIGRATE_LEDGER_HASH_SIZE);
	if (hash != NULL)
		memcpy(m->sha256, hash, MIGRATE_LEDGER_HASH_SIZE);
	return finish(&r);
}
