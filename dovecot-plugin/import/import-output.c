/* Parsing a finished step's tab output, see import-output.h. */

#include "lib.h"
#include "array.h"
#include "strescape.h"
#include "strnum.h"
#include "import-output.h"

const char *const *import_output_rows(const char *text)
{
	ARRAY_TYPE(const_string) rows;
	const char *const *lines = t_strsplit(text, "\n");

	t_array_init(&rows, 8);
	if (*lines != NULL)
		lines++;	/* the titles */
	for (; *lines != NULL; lines++) {
		if (**lines != '\0')
			array_push_back(&rows, lines);
	}
	array_append_zero(&rows);
	return array_front(&rows);
}

bool import_output_sum(const char *text, const char *title,
		       unsigned int columns, unsigned int msg_col,
		       bool with_bytes, uint32_t *folders_r,
		       uint64_t *messages_r, uint64_t *bytes_r)
{
	const char *const *rows;

	if (!str_begins(text, title))
		return FALSE;
	*folders_r = 0;
	*messages_r = *bytes_r = 0;
	for (rows = import_output_rows(text); *rows != NULL; rows++) {
		const char *const *f = t_strsplit_tabescaped(*rows);
		uint64_t messages, bytes = 0;

		if (str_array_length(f) != columns ||
		    str_to_uint64(f[msg_col], &messages) < 0 ||
		    (with_bytes && str_to_uint64(f[msg_col + 1], &bytes) < 0))
			return FALSE;
		(*folders_r)++;
		*messages_r += messages;
		*bytes_r += bytes;
	}
	return TRUE;
}

bool import_output_marks_count(const char *text, uint32_t *folders_r,
			       uint64_t *messages_r, uint64_t *bytes_r)
{
	return import_output_sum(text, "folder\tuidvalidity\t", 5, 3, TRUE,
				 folders_r, messages_r, bytes_r);
}

uint64_t import_output_sweep_copied(const char *text)
{
	const char *const *rows = import_output_rows(text);
	uint64_t copied = 0, n;

	for (; *rows != NULL; rows++) {
		const char *const *f = t_strsplit_tabescaped(*rows);

		if (str_array_length(f) == 3 && str_to_uint64(f[1], &n) == 0)
			copied += n;
	}
	return copied;
}
