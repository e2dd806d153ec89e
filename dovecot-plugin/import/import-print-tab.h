#ifndef IMPORT_PRINT_TAB_H
#define IMPORT_PRINT_TAB_H

/* doveadm's "tab" output, for a process that runs many commands.

   doveadm's own tab formatter keeps its state (header count, column,
   whether the header line was written) in a static that nothing resets:
   right for a process that runs one command, wrong for a pool process
   (import-inline.h), whose second command would print its rows in the
   first one's columns. This installs, in this process only, a formatter
   with the same output whose state starts anew at every
   doveadm_print_init("tab"). */

void import_print_tab_install(void);

#endif
