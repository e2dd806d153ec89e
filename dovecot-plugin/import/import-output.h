#ifndef IMPORT_OUTPUT_H
#define IMPORT_OUTPUT_H

/* The `-f tab` output of a finished step (a child doveadm's stdout, or a
   pool step's): a title line, then one row per line. Pure functions on
   the text, so a Dovecot upgrade that changes a column shows in
   tests/unit/test-import-engine.c first. */

/* The rows: the title line and empty lines left out (the data stack). */
const char *const *import_output_rows(const char *text);
/* Sums a listing whose title line starts with title and whose rows have
   columns fields: the message count in column msg_col and, with_bytes,
   the size in the next one. FALSE when the text is not such a listing. */
bool import_output_sum(const char *text, const char *title,
		       unsigned int columns, unsigned int msg_col,
		       bool with_bytes, uint32_t *folders_r,
		       uint64_t *messages_r, uint64_t *bytes_r);
/* The folders, messages and bytes of `migrate sweep -M`'s marks. */
bool import_output_marks_count(const char *text, uint32_t *folders_r,
			       uint64_t *messages_r, uint64_t *bytes_r);
/* Messages a sweep copied (the sum of its "copied" column). */
uint64_t import_output_sweep_copied(const char *text);

#endif
