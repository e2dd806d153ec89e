/* The unflushed-replica marks in the ledger, see import-replica.h. */

#include "lib.h"
#include "str.h"
#include "buffer.h"
#include "hex-binary.h"
#include "import-replica.h"

#include <fcntl.h>
#include <unistd.h>

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

/* Linux's boot_id: a UUID, new at every boot. */
static int replica_boot_id(uint8_t id_r[MIGRATE_BOOT_ID_SIZE],
			   char *error, size_t error_size)
{
	char text[64];
	string_t *hex = t_str_new(40);
	buffer_t *bin = t_buffer_create(MIGRATE_BOOT_ID_SIZE);
	ssize_t ret;
	int fd = open(BOOT_ID_PATH, O_RDONLY);

	if (fd < 0) {
		i_snprintf(error, error_size, "open(%s) failed: %m", BOOT_ID_PATH);
		return -1;
	}
	ret = read(fd, text, sizeof(text) - 1);
	i_close_fd(&fd);
	for (ssize_t i = 0; i < ret; i++) {
		if (text[i] != '-' && text[i] != '\n')
			str_append_c(hex, text[i]);
	}
	if (str_len(hex) != MIGRATE_BOOT_ID_SIZE * 2 ||
	    hex_to_binary(str_c(hex), bin) < 0) {
		i_snprintf(error, error_size, "%s: not a boot id", BOOT_ID_PATH);
		return -1;
	}
	memcpy(id_r, bin->data, MIGRATE_BOOT_ID_SIZE);
	return 0;
}

static bool boot_id_is_set(const uint8_t id[MIGRATE_BOOT_ID_SIZE])
{
	for (unsigned int i = 0; i < MIGRATE_BOOT_ID_SIZE; i++) {
		if (id[i] != 0)
			return TRUE;
	}
	return FALSE;
}

int replica_state_get(struct migrate_store *store, const char *address,
		      enum replica_state *state_r,
		      char *error, size_t error_size)
{
	struct migrate_ledger_account la;
	uint8_t boot[MIGRATE_BOOT_ID_SIZE];

	if (migrate_store_ledger_account_get(store, address, &la,
					     error, error_size) < 0)
		return -1;
	if (!boot_id_is_set(la.unflushed_boot)) {
		*state_r = REPLICA_FLUSHED;
		return 0;
	}
	if (replica_boot_id(boot, error, error_size) < 0)
		return -1;
	*state_r = memcmp(boot, la.unflushed_boot, sizeof(boot)) == 0 ?
		REPLICA_UNFLUSHED : REPLICA_TORN;
	return 0;
}

static int replica_mark(struct migrate_store *store, const char *address,
			bool unflushed, char *error, size_t error_size)
{
	struct migrate_ledger_account la;
	uint8_t boot[MIGRATE_BOOT_ID_SIZE];

	i_zero(&boot);
	if ((unflushed && replica_boot_id(boot, error, error_size) < 0) ||
	    migrate_store_ledger_account_get(store, address, &la,
					     error, error_size) < 0)
		return -1;
	if (memcmp(la.unflushed_boot, boot, sizeof(boot)) == 0)
		return 0;
	memcpy(la.unflushed_boot, boot, sizeof(boot));
	return migrate_store_ledger_account_set(store, address, &la,
						error, error_size);
}

int replica_mark_unflushed(struct migrate_store *store, const char *address,
			   char *error, size_t error_size)
{
	return replica_mark(store, address, TRUE, error, error_size);
}

int replica_mark_flushed(struct migrate_store *store, const char *address,
			 char *error, size_t error_size)
{
	return replica_mark(store, address, FALSE, error, error_size);
}
