/* A resettable "tab" formatter for pool processes, see
   import-print-tab.h. The output is doveadm's: the titles joined by tabs
   on the first line (unless hidden), then one line per row. */

#include "lib.h"
#include "ostream.h"
#include "doveadm-print-private.h"

#include "import-print-tab.h"

static struct {
	/* the columns the command declared, the next one a value fills */
	unsigned int columns, column;
	/* the title line is over */
	bool titles_ended;
} tab;

static void import_print_tab_init(void)
{
	i_zero(&tab);
}

static void import_print_tab_end_titles(void)
{
	/* (doveadm's ends an empty title line too: a printer flushed
	   before any header, as a nested run's outer one is, wrote a stray
	   empty line) */
	if (!tab.titles_ended && tab.columns > 0) {
		if (!doveadm_print_hide_titles)
			o_stream_nsend(doveadm_print_ostream, "\n", 1);
		tab.titles_ended = TRUE;
	}
}

static void import_print_tab_header(const struct doveadm_print_header *hdr)
{
	tab.columns++;
	if (!doveadm_print_hide_titles) {
		if (tab.columns > 1)
			o_stream_nsend(doveadm_print_ostream, "\t", 1);
		o_stream_nsend_str(doveadm_print_ostream, hdr->title);
	}
}

static void import_print_tab_print(const char *value)
{
	import_print_tab_end_titles();
	if (tab.column > 0)
		o_stream_nsend(doveadm_print_ostream, "\t", 1);
	o_stream_nsend_str(doveadm_print_ostream, value);
	if (++tab.column == tab.columns) {
		tab.column = 0;
		o_stream_nsend(doveadm_print_ostream, "\n", 1);
	}
}

static void import_print_tab_print_stream(const unsigned char *value, size_t size)
{
	if (size == 0) {
		import_print_tab_print("");
		return;
	}
	import_print_tab_end_titles();
	if (tab.column > 0)
		o_stream_nsend(doveadm_print_ostream, "\t", 1);
	o_stream_nsend(doveadm_print_ostream, value, size);
}

void import_print_tab_install(void)
{
	doveadm_print_tab_vfuncs.init = import_print_tab_init;
	doveadm_print_tab_vfuncs.header = import_print_tab_header;
	doveadm_print_tab_vfuncs.print = import_print_tab_print;
	doveadm_print_tab_vfuncs.print_stream = import_print_tab_print_stream;
	doveadm_print_tab_vfuncs.flush = import_print_tab_end_titles;
}
