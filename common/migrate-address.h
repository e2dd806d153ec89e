#ifndef MIGRATE_ADDRESS_H
#define MIGRATE_ADDRESS_H

/* Address normalisation: the one function that turns whatever names an
   account - a login typed into a mail client (Dovecot), a recipient as
   Postfix passes it to the routing daemon (original case, +extension,
   quoted local part, raw UTF-8), a line of an operator's user list - into
   the key of that account in the state store. Every part uses it, so that
   the same mailbox always gets the same key.

   The key is "local@domain":

   Domain
   - ASCII letters are lower-cased; one trailing root dot is removed
     ("example.com." is "example.com").
   - Labels of 1..63 octets, letters, digits and '-' (LDH), no leading or
     trailing '-', at most 253 octets in all, the last label not all digits
     (that is an IPv4 address written without brackets). Labels such as
     "ab--cd" are accepted: DNS and Postfix accept them.
   - A UTF-8 label (NFC-normalised) becomes its A-label ("xn--...") with
     libidn2, IDNA2008 + UTS #46 non-transitional processing only: this is
     Postfix's default since 3.2 (enable_idna2003_compatibility = no), the
     browsers' and the registries' rule, and the only one that keeps
     "straße.de" (xn--strae-oqa.de) apart from "strasse.de". No fallback
     to transitional processing: it would silently map ß to "ss", i.e. to
     another domain.
   - An A-label given as such stays as it is (lower-cased) but must decode
     and round-trip; IDNA2003-era names that IDNA2008 disallows (emoji
     domains such as xn--ls8h.la) are accepted in this form, since they
     still resolve and nothing is remapped - only their UTF-8 form is
     refused, as Postfix refuses it.
   - Pure ASCII domains without an A-label never reach libidn2 (fast path
     for the routing daemon, which normalises once per lookup).
   - Address literals ("[192.0.2.1]") are refused: they never name a
     migrating domain.

   Local part
   - As written (quotes and extension included) at most 64 octets
     (RFC 5321 4.5.3.1.1). A dot-atom, or a quoted string (RFC 5321
     quoted-pairs: a backslash before an ASCII character 32-126).
   - Raw UTF-8 is allowed (RFC 6531) when it is valid: overlong forms,
     surrogates, code points past U+10FFFF, stray or missing continuation
     bytes and C1 controls are refused. It is kept byte for byte: no Unicode
     normalisation or case folding (the legacy server compares bytes too).
   - fold_local_part lower-cases ASCII letters only, and not those of the
     extension (a folder name for Sieve, say). "postmaster" is
     lower-cased in any case: RFC 5321 makes it case-insensitive everywhere.
   - A quoted local part is compared by its content: when the content is
     a valid dot-atom the quotes go ("\"john.doe\"@x" is "john.doe@x");
     otherwise it is quoted again with only '"' and '\' escaped.
   - Control characters, NUL, unbalanced quotes, text after the closing
     quote, an empty local part and leading, trailing or double dots in an
     unquoted local part are refused.

   Extension (recipient_delimiter), exactly as Postfix's split_addr():
   - The content of the local part (unquoted form, as Postfix works on its
     internal form - so "\"john doe+x\"@y" splits too) is split at the
     first character that belongs to the delimiter set.
   - Not split: when the split would leave an empty local part ("+tag@x",
     "+@x"); "postmaster", "mailer-daemon", "double-bounce" (any case); and
     with '-' in the set, "owner-*" and "*-request" (Postfix's default
     owner_request_special = yes). "user+@x" splits into "user" and "".
   - Only ASCII delimiter characters are used; others are ignored.
   - The extension is returned in that internal form, case kept.
   - If the shortened local part is no longer a dot-atom ("a.+b" gives
     "a."), it is quoted ("\"a.\"@x"), as Postfix's external form does;
     when those quotes take it past 64 octets the address is refused
     ("local part longer than 64 octets once quoted"), since the key must
     itself be a valid address.

   The whole input
   - One surrounding pair of angle brackets is accepted ("<a@b>", as pasted
     from mail headers or user lists); "<>" is an empty address; source
     routes ("<@relay:a@b>") are refused.
   - Leading or trailing white space is refused, not trimmed: a key must
     never depend on invisible characters.
   - The local part ends at the closing quote or at the first '@'; another
     unquoted '@' is refused. No '@' is refused: logins without a domain
     must be completed by the caller (local_ip / default domain) first.

   On success the result normalises to itself again (with an empty
   extension): the fuzzer checks it. On failure -1 is returned with a
   specific reason, for example "local part longer than 64 octets", in
   error; it quotes at most one printable ASCII character of the input
   ("invalid character ' ' in local part"), so it is safe to log. */

#include <stdbool.h>
#include <stddef.h>

#define MIGRATE_ADDRESS_LOCAL_MAX 64
#define MIGRATE_ADDRESS_DOMAIN_MAX 253	/* printed form, no root dot */
/* local@domain: 318. RFC 5321's 256-octet path limit (254 for the
   address) is not enforced: Postfix does not, and refusing would only
   strand an account. */
#define MIGRATE_ADDRESS_MAX \
	(MIGRATE_ADDRESS_LOCAL_MAX + 1 + MIGRATE_ADDRESS_DOMAIN_MAX)

struct migrate_address_settings {
	/* Set of delimiter characters ("+", "+-"), as Postfix's
	   recipient_delimiter; NULL or "" splits nothing. */
	const char *recipient_delimiter;
	/* The legacy server compares local parts case-insensitively:
	   lower-case their ASCII letters. */
	bool fold_local_part;
};

struct migrate_address {
	/* The key: local@domain, extension removed, domain in lower-case
	   ASCII (A-labels for IDN). */
	char address[MIGRATE_ADDRESS_MAX + 1];
	/* Local part without extension, quoted only when it must be. */
	char local[MIGRATE_ADDRESS_LOCAL_MAX + 1];
	/* Without the delimiter, unquoted; "" when none. */
	char extension[MIGRATE_ADDRESS_LOCAL_MAX + 1];
	char domain[MIGRATE_ADDRESS_DOMAIN_MAX + 1];
	/* The local part has non-ASCII characters (needs SMTPUTF8). */
	bool utf8_local;
};

/* Normalises input (input_len bytes, need not be NUL-terminated; NUL
   bytes are refused). set may be NULL: no delimiter, no folding.
   Returns 0 and fills *addr_r, or -1 with the reason in error (error_size
   bytes, may be 0); *addr_r then holds empty strings. Does not allocate
   except inside libidn2 for non-ASCII or A-label domains; thread-safe. */
int migrate_address_normalize(const char *input, size_t input_len,
			      const struct migrate_address_settings *set,
			      struct migrate_address *addr_r,
			      char *error, size_t error_size);

/* The same domain rules for a domain alone (config sections, the domain
   part of a login): writes the lower-case ASCII form to out, which needs
   MIGRATE_ADDRESS_DOMAIN_MAX + 1 bytes to hold any domain. Returns 0, or
   -1 with a reason in error. */
int migrate_domain_normalize(const char *input, char *out, size_t out_size,
			     char *error, size_t error_size);

#endif
