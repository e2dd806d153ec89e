"""Loading our Dovecot modules from the build tree.

Dovecot's auth and doveadm processes load modules only from directories
compiled into them (/usr/lib/dovecot/modules/{auth,doveadm}). Instead of
installing into the system, each new-server process runs in a private mount
namespace (`unshare -m`, as root) where staging copies of those directories,
holding Dovecot's own modules plus ours, are bind-mounted over the real
ones. Nothing outside the namespace sees the change.
"""
import glob
import os
import shutil

from . import build

SYSTEM_MODULE_DIR = "/usr/lib/dovecot/modules"

_MOUNT_SCRIPT = (
    'mount --bind "$1" %(dir)s/auth && '
    'mount --bind "$2" %(dir)s/doveadm && '
    'shift 2 && exec "$@"' % {"dir": SYSTEM_MODULE_DIR})


class ModuleStage:
    """A staging copy of the auth and doveadm module dirs with ours added."""

    def __init__(self, root):
        self.auth_dir = os.path.join(root, "auth")
        self.doveadm_dir = os.path.join(root, "doveadm")
        for kind, ours in (("auth", build.auth_module()),
                           ("doveadm", build.doveadm_module())):
            dest = os.path.join(root, kind)
            os.makedirs(dest, exist_ok=True)
            # copies, not symlinks: a link into the real dir would point
            # back into the bind mount that hides it
            for so in glob.glob(os.path.join(SYSTEM_MODULE_DIR, kind, "*.so")):
                shutil.copy2(so, dest)
            shutil.copy2(ours, dest)
            if kind == "doveadm":
                # where the plugin looks for it (see Makefile.am)
                os.makedirs(os.path.join(dest, "dovecot-migrate"), exist_ok=True)
                shutil.copy2(build.pace_library(), os.path.join(dest, "dovecot-migrate"))
            os.chmod(dest, 0o755)

    def wrapper(self):
        """argv prefix running a command with the staged module dirs."""
        return ["unshare", "--mount", "--propagation", "private",
                "sh", "-c", _MOUNT_SCRIPT, "with-modules",
                self.auth_dir, self.doveadm_dir]
