/* Matchers on a failed step's first error, see import-reasons.h. */

#include "lib.h"
#include "import-reasons.h"

static bool reason_has_any(const char *reason, const char *const *signs)
{
	for (; *signs != NULL; signs++) {
		if (strstr(reason, *signs) != NULL)
			return TRUE;
	}
	return FALSE;
}

bool import_reason_is_auth(const char *reason)
{
	static const char *const signs[] = {
		"AUTHENTICATIONFAILED", "Authentication failed", "[AUTH]", NULL
	};
	return reason_has_any(reason, signs);
}

bool import_reason_is_throttle(const char *reason)
{
	static const char *const signs[] = {
		"[LIMIT]", "[UNAVAILABLE]", "[INUSE]", "BYE ", NULL
	};
	return reason_has_any(reason, signs);
}

bool import_reason_cannot_recreate(const char *reason)
{
	/* two wordings: the first measured with a message file cut short,
	   the second seen once after a worker was killed with -9 twenty
	   times */
	static const char *const signs[] = {
		"Couldn't delete mailbox",
		"mailbox_delete failed: INBOX can't be deleted", NULL
	};
	return reason_has_any(reason, signs);
}
