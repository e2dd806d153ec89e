/* Legacy special folders (see migrate-special-folder.h). */

/* strcasestr() */
#define _GNU_SOURCE

#include "migrate-special-folder.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* lower-case where ASCII; names with an accented capital are listed in
   both forms, strcasecmp folds ASCII only */
static const char *const sent_names[] = {
	"sent", "sent items", "sent messages", "sent mail",
	"[gmail]/sent mail", "[google mail]/sent mail",
	"itens enviados", "enviados", "mensagens enviadas", "enviadas",
	"elementos enviados", "enviado",
	"gesendet", "gesendete objekte", "gesendete elemente",
	"envoyés", "éléments envoyés", "Éléments envoyés", "messages envoyés",
	NULL
};
static const char *const drafts_names[] = {
	"drafts", "draft", "[gmail]/drafts", "[google mail]/drafts",
	"rascunhos", "rascunho", "borradores", "borrador",
	"entwürfe", "brouillons", NULL
};
static const char *const trash_names[] = {
	"trash", "deleted items", "deleted messages", "bin",
	"[gmail]/trash", "[gmail]/bin", "[google mail]/trash", "[google mail]/bin",
	"lixeira", "lixo", "itens excluídos", "itens eliminados",
	"papelera", "elementos eliminados", "eliminados",
	"papierkorb", "gelöschte objekte", "gelöschte elemente",
	"corbeille", "éléments supprimés", "Éléments supprimés", NULL
};
static const char *const junk_names[] = {
	"junk", "spam", "junk e-mail", "junk email", "bulk mail",
	"[gmail]/spam", "[google mail]/spam",
	"lixo eletrônico", "lixo eletronico", "correo no deseado",
	"junk-e-mail", "courrier indésirable", "indésirables", "pourriel", NULL
};
static const char *const archive_names[] = {
	"archive", "archives", "arquivo", "arquivos", "archivo", "archivos",
	"archiv", NULL
};

static const struct {
	const char *flag, *default_name;
	const char *const *names;
} uses[MIGRATE_SPECIAL_COUNT] = {
	[MIGRATE_SPECIAL_SENT] = { "\\Sent", "Sent", sent_names },
	[MIGRATE_SPECIAL_DRAFTS] = { "\\Drafts", "Drafts", drafts_names },
	[MIGRATE_SPECIAL_TRASH] = { "\\Trash", "Trash", trash_names },
	[MIGRATE_SPECIAL_JUNK] = { "\\Junk", "Junk", junk_names },
	[MIGRATE_SPECIAL_ARCHIVE] = { "\\Archive", "Archive", archive_names },
};

bool migrate_special_use_has_flag(const char *flags, const char *flag)
{
	size_t len = strlen(flag);
	const char *p = flags;

	while ((p = strcasestr(p, flag)) != NULL) {
		if ((p == flags || p[-1] == ' ') && (p[len] == '\0' || p[len] == ' '))
			return true;
		p += len;
	}
	return false;
}

/* Compares name (with its own separator) to a listed name ('/'). */
static bool name_matches(const char *name, char separator, const char *listed)
{
	for (; *name != '\0' && *listed != '\0'; name++, listed++) {
		char c = *name == separator ? '/' : *name;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != *listed)
			return false;
	}
	return *name == '\0' && *listed == '\0';
}

enum migrate_special_use
migrate_special_folder_classify(const char *name, char separator,
				const char *special_use)
{
	unsigned int use, i;

	for (use = MIGRATE_SPECIAL_SENT; special_use != NULL &&
	     use < MIGRATE_SPECIAL_COUNT; use++) {
		if (migrate_special_use_has_flag(special_use, uses[use].flag))
			return (enum migrate_special_use)use;
	}
	if (strncasecmp(name, "INBOX", 5) == 0 && name[5] == separator &&
	    name[6] != '\0')
		name += 6;
	for (use = MIGRATE_SPECIAL_SENT; use < MIGRATE_SPECIAL_COUNT; use++) {
		for (i = 0; uses[use].names[i] != NULL; i++) {
			if (name_matches(name, separator, uses[use].names[i]))
				return (enum migrate_special_use)use;
		}
	}
	return MIGRATE_SPECIAL_NONE;
}

const char *migrate_special_use_flag(enum migrate_special_use use)
{
	return use > MIGRATE_SPECIAL_NONE && use < MIGRATE_SPECIAL_COUNT ?
		uses[use].flag : NULL;
}

const char *migrate_special_use_default_name(enum migrate_special_use use)
{
	return use > MIGRATE_SPECIAL_NONE && use < MIGRATE_SPECIAL_COUNT ?
		uses[use].default_name : NULL;
}
