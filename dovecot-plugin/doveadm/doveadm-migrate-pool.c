/* doveadm migrate pool (internal)

   One of the worker's long-lived import processes: serves the steps the
   worker gives it on stdin, one at a time, in process (import-pool.h).
   Started by the worker only; by hand it waits for a request that never
   comes. */

#include "lib.h"
#include "doveadm.h"
#include "doveadm-cmd.h"

#include "doveadm-migrate.h"
#include "import-child.h"
#include "import-pool.h"
#include "import-print-tab.h"

#include <sysexits.h>
#include <unistd.h>

void cmd_migrate_pool(struct doveadm_cmd_context *cctx ATTR_UNUSED)
{
	/* a step's own children (the cut-over's) run here too */
	child_use_inline();
	import_print_tab_install();
	import_pool_serve(STDIN_FILENO);
}
