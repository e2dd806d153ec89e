/* Account records: state names, the state machine and the stored encoding
   (see migrate-account.h).

   Encoding: one version byte, then fields as tag (1 byte), length (1 byte)
   and value; integers big-endian. Unknown tags are skipped so a newer
   writer's extra fields do not break an older reader; known tags are
   checked strictly. */

#include "migrate-account.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#define RECORD_VERSION 1

enum field_tag {
	TAG_STATE = 1,
	TAG_PROTOCOL,
	TAG_DOMAIN,
	TAG_CREATED,
	TAG_UPDATED,
	TAG_ATTEMPTS,
	TAG_NEXT_RETRY,
	TAG_LAST_ERROR,
	TAG_PASS,
	TAG_FOLDERS_DONE,
	TAG_FOLDERS_TOTAL,
	TAG_MESSAGES_DONE,
	TAG_MESSAGES_TOTAL,
	TAG_BYTES_DONE,
	TAG_BYTES_TOTAL,
	TAG_QUOTA_KBYTES,
	TAG_LOCAL,
	TAG_PROXY_GRANTED_MS,
};

static const char *const state_names[MIGRATE_STATE_COUNT] = {
	[MIGRATE_STATE_UNKNOWN] = "unknown",
	[MIGRATE_STATE_QUEUED] = "queued",
	[MIGRATE_STATE_IMPORTING] = "importing",
	[MIGRATE_STATE_SYNCED] = "synced",
	[MIGRATE_STATE_CUTOVER] = "cutover",
	[MIGRATE_STATE_MIGRATED] = "migrated",
	[MIGRATE_STATE_FAILED] = "failed",
	[MIGRATE_STATE_PASSWORDS_ONLY] = "passwords-only",
};

const char *migrate_account_state_name(enum migrate_account_state state)
{
	if ((unsigned int)state >= MIGRATE_STATE_COUNT)
		return "invalid";
	return state_names[state];
}

int migrate_account_state_parse(const char *name, enum migrate_account_state *state_r)
{
	unsigned int i;

	for (i = 0; i < MIGRATE_STATE_COUNT; i++) {
		if (strcmp(state_names[i], name) == 0) {
			*state_r = (enum migrate_account_state)i;
			return 0;
		}
	}
	return -1;
}

#define S(x) (1u << MIGRATE_STATE_##x)
/* allowed[from] = the states it may move to */
static const unsigned int allowed[MIGRATE_STATE_COUNT] = {
	/* a login or an operator's list records the account */
	[MIGRATE_STATE_UNKNOWN] = S(QUEUED) | S(PASSWORDS_ONLY),
	[MIGRATE_STATE_QUEUED] = S(IMPORTING) | S(PASSWORDS_ONLY),
	/* a lost lease or a stopped worker puts the job back */
	[MIGRATE_STATE_IMPORTING] = S(SYNCED) | S(FAILED) | S(QUEUED),
	/* another incremental pass, or cut-over once converged */
	[MIGRATE_STATE_SYNCED] = S(IMPORTING) | S(CUTOVER) | S(FAILED),
	/* the final pass failed: the account stays proxied, retried later */
	[MIGRATE_STATE_CUTOVER] = S(MIGRATED) | S(FAILED),
	/* migrated is final: from now on the local password is the only one */
	[MIGRATE_STATE_MIGRATED] = 0,
	[MIGRATE_STATE_FAILED] = S(QUEUED),
	[MIGRATE_STATE_PASSWORDS_ONLY] = S(QUEUED),
};
#undef S

bool migrate_account_transition_allowed(enum migrate_account_state from,
					enum migrate_account_state to)
{
	if ((unsigned int)from >= MIGRATE_STATE_COUNT ||
	    (unsigned int)to >= MIGRATE_STATE_COUNT)
		return false;
	return (allowed[from] & (1u << to)) != 0;
}

struct writer {
	unsigned char *out;
	size_t len;
};

static void put_field(struct writer *w, enum field_tag tag,
		      const void *value, size_t len)
{
	/* callers bound every value below 256 bytes, and the sum of all
	   fields below MIGRATE_ACCOUNT_RECORD_MAX */
	w->out[w->len++] = (unsigned char)tag;
	w->out[w->len++] = (unsigned char)len;
	memcpy(w->out + w->len, value, len);
	w->len += len;
}

static void put_u64(struct writer *w, enum field_tag tag, uint64_t value)
{
	unsigned char buf[8];
	int i;

	for (i = 7; i >= 0; i--) {
		buf[i] = (unsigned char)(value & 0xff);
		value >>= 8;
	}
	put_field(w, tag, buf, sizeof(buf));
}

static void put_string(struct writer *w, enum field_tag tag, const char *s,
		       size_t max)
{
	size_t len = strnlen(s, max);

	if (len > 0)
		put_field(w, tag, s, len);
}

size_t migrate_account_encode(const struct migrate_account *a,
			      unsigned char out[MIGRATE_ACCOUNT_RECORD_MAX])
{
	const struct migrate_account_progress *p = &a->progress;
	struct writer w = { out, 0 };

	out[w.len++] = RECORD_VERSION;
	put_u64(&w, TAG_STATE, (uint64_t)a->state);
	put_u64(&w, TAG_PROTOCOL, (uint64_t)a->protocol);
	put_string(&w, TAG_DOMAIN, a->domain, MIGRATE_ACCOUNT_DOMAIN_MAX);
	put_u64(&w, TAG_CREATED, (uint64_t)a->created);
	put_u64(&w, TAG_UPDATED, (uint64_t)a->updated);
	put_u64(&w, TAG_ATTEMPTS, a->attempts);
	put_u64(&w, TAG_NEXT_RETRY, (uint64_t)a->next_retry);
	put_string(&w, TAG_LAST_ERROR, a->last_error, MIGRATE_ACCOUNT_ERROR_MAX);
	put_u64(&w, TAG_PASS, p->pass);
	put_u64(&w, TAG_FOLDERS_DONE, p->folders_done);
	put_u64(&w, TAG_FOLDERS_TOTAL, p->folders_total);
	put_u64(&w, TAG_MESSAGES_DONE, p->messages_done);
	put_u64(&w, TAG_MESSAGES_TOTAL, p->messages_total);
	put_u64(&w, TAG_BYTES_DONE, p->bytes_done);
	put_u64(&w, TAG_BYTES_TOTAL, p->bytes_total);
	if (a->quota_kbytes != 0)
		put_u64(&w, TAG_QUOTA_KBYTES, a->quota_kbytes);
	if (a->local)
		put_u64(&w, TAG_LOCAL, 1);
	if (a->proxy_granted_ms != 0)
		put_u64(&w, TAG_PROXY_GRANTED_MS, (uint64_t)a->proxy_granted_ms);
	return w.len;
}

static int decode_error(char *error, size_t error_size, const char *what,
			unsigned int tag)
{
	snprintf(error, error_size, "corrupt account record: %s (field %u)", what, tag);
	return -1;
}

static int get_u64(const unsigned char *value, size_t len, uint64_t *num_r)
{
	uint64_t num = 0;
	size_t i;

	if (len != 8)
		return -1;
	for (i = 0; i < 8; i++)
		num = (num << 8) | value[i];
	*num_r = num;
	return 0;
}

static int get_string(const unsigned char *value, size_t len, char *out,
		      size_t max)
{
	size_t i;

	if (len > max)
		return -1;
	for (i = 0; i < len; i++) {
		if (value[i] == '\0')
			return -1;
	}
	memcpy(out, value, len);
	out[len] = '\0';
	return 0;
}

static int get_u32(const unsigned char *value, size_t len, uint32_t *num_r)
{
	uint64_t num;

	if (get_u64(value, len, &num) < 0 || num > UINT32_MAX)
		return -1;
	*num_r = (uint32_t)num;
	return 0;
}

static int decode_field(struct migrate_account *a, unsigned int tag,
			const unsigned char *v, size_t len)
{
	struct migrate_account_progress *p = &a->progress;
	uint64_t num;

	switch (tag) {
	case TAG_STATE:
		if (get_u64(v, len, &num) < 0 || num == MIGRATE_STATE_UNKNOWN ||
		    num >= MIGRATE_STATE_COUNT)
			return -1;
		a->state = (enum migrate_account_state)num;
		return 0;
	case TAG_PROTOCOL:
		if (get_u64(v, len, &num) < 0 || num > MIGRATE_PROTOCOL_POP3)
			return -1;
		a->protocol = (enum migrate_protocol)num;
		return 0;
	case TAG_DOMAIN:
		return get_string(v, len, a->domain, MIGRATE_ACCOUNT_DOMAIN_MAX);
	case TAG_LAST_ERROR:
		return get_string(v, len, a->last_error, MIGRATE_ACCOUNT_ERROR_MAX);
	case TAG_CREATED:
		return get_u64(v, len, (uint64_t *)&a->created);
	case TAG_UPDATED:
		return get_u64(v, len, (uint64_t *)&a->updated);
	case TAG_NEXT_RETRY:
		return get_u64(v, len, (uint64_t *)&a->next_retry);
	case TAG_ATTEMPTS:
		return get_u32(v, len, &a->attempts);
	case TAG_PASS:
		return get_u32(v, len, &p->pass);
	case TAG_FOLDERS_DONE:
		return get_u32(v, len, &p->folders_done);
	case TAG_FOLDERS_TOTAL:
		return get_u32(v, len, &p->folders_total);
	case TAG_MESSAGES_DONE:
		return get_u64(v, len, &p->messages_done);
	case TAG_MESSAGES_TOTAL:
		return get_u64(v, len, &p->messages_total);
	case TAG_BYTES_DONE:
		return get_u64(v, len, &p->bytes_done);
	case TAG_BYTES_TOTAL:
		return get_u64(v, len, &p->bytes_total);
	case TAG_QUOTA_KBYTES:
		return get_u64(v, len, &a->quota_kbytes);
	case TAG_LOCAL:
		if (get_u64(v, len, &num) < 0 || num > 1)
			return -1;
		a->local = num == 1;
		return 0;
	case TAG_PROXY_GRANTED_MS:
		return get_u64(v, len, (uint64_t *)&a->proxy_granted_ms);
	default:
		return 0; /* a newer writer's field */
	}
}

int migrate_account_decode(const unsigned char *data, size_t size,
			   struct migrate_account *account_r,
			   char *error, size_t error_size)
{
	uint32_t seen = 0;
	size_t pos = 1;

	memset(account_r, 0, sizeof(*account_r));
	if (size == 0 || size > MIGRATE_ACCOUNT_RECORD_MAX)
		return decode_error(error, error_size, "bad size", 0);
	if (data[0] != RECORD_VERSION)
		return decode_error(error, error_size, "unsupported version", data[0]);
	while (pos < size) {
		unsigned int tag = data[pos];
		size_t len;

		if (size - pos < 2)
			return decode_error(error, error_size, "truncated field header", tag);
		len = data[pos + 1];
		pos += 2;
		if (size - pos < len)
			return decode_error(error, error_size, "truncated field", tag);
		if (tag < 32) {
			/* a field twice: which one would be true? */
			if ((seen & (1u << tag)) != 0)
				return decode_error(error, error_size, "repeated field", tag);
			seen |= 1u << tag;
		}
		if (decode_field(account_r, tag, data + pos, len) < 0)
			return decode_error(error, error_size, "invalid value", tag);
		pos += len;
	}
	if (account_r->state == MIGRATE_STATE_UNKNOWN)
		return decode_error(error, error_size, "no state", TAG_STATE);
	return 0;
}

int64_t migrate_account_now_ms(void)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	return (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000;
}

bool migrate_account_proxied(const struct migrate_account *account)
{
	if (account->local)
		return false;
	switch (account->state) {
	case MIGRATE_STATE_QUEUED:
	case MIGRATE_STATE_IMPORTING:
	case MIGRATE_STATE_SYNCED:
	case MIGRATE_STATE_FAILED:
		return true;
	default:
		return false;
	}
}

int64_t migrate_account_retry_delay(uint32_t attempts)
{
	int64_t delay = MIGRATE_RETRY_FIRST_SECS;

	while (attempts-- > 1 && delay < MIGRATE_RETRY_MAX_SECS)
		delay *= 2;
	return delay < MIGRATE_RETRY_MAX_SECS ? delay : MIGRATE_RETRY_MAX_SECS;
}
