/* libFuzzer target: the `add -F` account list parser on arbitrary bytes,
   both as a colon list and as CSV. Every call ends (each line is consumed
   once), every entry is bounded and NUL-terminated, and an error always
   names its line. */

#include "migrate-account-list.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static void check_entry(const struct migrate_account_list_entry *e)
{
	check(memchr(e->user, '\0', sizeof(e->user)) != NULL);
	check(memchr(e->domain, '\0', sizeof(e->domain)) != NULL);
	check(memchr(e->password, '\0', sizeof(e->password)) != NULL);
	check(memchr(e->full_name, '\0', sizeof(e->full_name)) != NULL);
	check(e->user[0] != '\0' && e->password[0] != '\0');
	check(!e->csv || e->domain[0] != '\0');
}

static void run(const uint8_t *data, size_t size, bool csv)
{
	struct migrate_account_list list;
	struct migrate_account_list_entry e;
	char error[256], prefix[32];
	unsigned int calls = 0;
	int ret;

	migrate_account_list_init(&list, (const char *)data, size, csv);
	while ((ret = migrate_account_list_next(&list, &e, error, sizeof(error))) != 0) {
		check(++calls <= size + 1);
		if (ret > 0) {
			check_entry(&e);
			continue;
		}
		snprintf(prefix, sizeof(prefix), "line %u: ", e.line);
		check(strncmp(error, prefix, strlen(prefix)) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, false);
	run(data, size, true);
	return 0;
}
