/* Unit tests for common/migrate-special-folder.c. */

#include "lib.h"
#include "test-common.h"

#include "migrate-special-folder.h"

static void test_special_folder_names(void)
{
	static const struct {
		const char *name;
		char sep;
		const char *flags;
		enum migrate_special_use use;
	} cases[] = {
		{ "Sent", '/', NULL, MIGRATE_SPECIAL_SENT },
		{ "Sent Items", '/', NULL, MIGRATE_SPECIAL_SENT },
		{ "SENT ITEMS", '.', NULL, MIGRATE_SPECIAL_SENT },
		{ "Itens Enviados", '/', NULL, MIGRATE_SPECIAL_SENT },
		{ "[Gmail]/Sent Mail", '/', NULL, MIGRATE_SPECIAL_SENT },
		{ "[Gmail].Sent Mail", '.', NULL, MIGRATE_SPECIAL_SENT },
		{ "INBOX.Sent", '.', NULL, MIGRATE_SPECIAL_SENT },
		{ "Éléments envoyés", '/', NULL, MIGRATE_SPECIAL_SENT },
		{ "Gesendete Objekte", '/', NULL, MIGRATE_SPECIAL_SENT },
		{ "Rascunhos", '/', NULL, MIGRATE_SPECIAL_DRAFTS },
		{ "Entwürfe", '/', NULL, MIGRATE_SPECIAL_DRAFTS },
		{ "Deleted Items", '/', NULL, MIGRATE_SPECIAL_TRASH },
		{ "Lixeira", '/', NULL, MIGRATE_SPECIAL_TRASH },
		{ "Papelera", '/', NULL, MIGRATE_SPECIAL_TRASH },
		{ "[Gmail]/Spam", '/', NULL, MIGRATE_SPECIAL_JUNK },
		{ "Courrier indésirable", '/', NULL, MIGRATE_SPECIAL_JUNK },
		{ "Arquivo", '/', NULL, MIGRATE_SPECIAL_ARCHIVE },
		/* the flag wins over the name */
		{ "Outbox copies", '/', "\\HasNoChildren \\Sent", MIGRATE_SPECIAL_SENT },
		{ "Sent", '/', "\\Trash", MIGRATE_SPECIAL_TRASH },
		{ "Misc", '/', "\\Archive", MIGRATE_SPECIAL_ARCHIVE },
		/* not special */
		{ "[Gmail]/All Mail", '/', "\\All", MIGRATE_SPECIAL_NONE },
		{ "Sent/2019", '/', NULL, MIGRATE_SPECIAL_NONE },
		{ "Sentinel", '/', "\\Sentinel", MIGRATE_SPECIAL_NONE },
		{ "INBOX", '/', NULL, MIGRATE_SPECIAL_NONE },
		{ "INBOX/", '/', NULL, MIGRATE_SPECIAL_NONE },
	};
	unsigned int i;

	test_begin("special folders: by SPECIAL-USE flag, else by name");
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		test_assert_idx(migrate_special_folder_classify(cases[i].name,
			cases[i].sep, cases[i].flags) == cases[i].use, i);
	}
	test_assert_strcmp(migrate_special_use_flag(MIGRATE_SPECIAL_JUNK), "\\Junk");
	test_assert_strcmp(migrate_special_use_default_name(MIGRATE_SPECIAL_SENT), "Sent");
	test_assert(migrate_special_use_flag(MIGRATE_SPECIAL_NONE) == NULL);
	/* whole words only, any case: LIST flags and special_use settings */
	test_assert(migrate_special_use_has_flag("\\HasNoChildren \\sent", "\\Sent"));
	test_assert(!migrate_special_use_has_flag("\\Sentinel", "\\Sent"));
	test_assert(!migrate_special_use_has_flag("", "\\Sent"));
	test_end();
}

int main(void)
{
	static void (*const tests[])(void) = {
		test_special_folder_names,
		NULL
	};
	return test_run(tests);
}
