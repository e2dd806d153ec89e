"""Base class for tests that start private servers."""
import os
import shutil
import tempfile
import unittest

from . import procs

SCAN_MAX_FILE = 64 * 1024 * 1024


class ServerTestCase(unittest.TestCase):
    """Gives each test a fresh root directory (traversable by the servers'
    unprivileged users) and, however the test ends, stops the servers it
    registered with own() -- through their own stop(), which checks that
    nothing of theirs is left -- then any other process it started, then
    checks that no password made with password() appears in any file the
    test's servers wrote (logs, stores, mail), then removes the root."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="dm-")
        os.chmod(self.root, 0o755)
        self._servers = []
        self._passwords = []
        self.addCleanup(self._cleanup)

    def own(self, server):
        self._servers.append(server)
        return server

    def password(self):
        """A fresh random password that must never be written anywhere."""
        value = procs.random_password()
        self._passwords.append(value)
        return value

    def start_legacy(self, *users, **kw):
        """A started legacy Dovecot whose users have random passwords
        (in .users; never printed)."""
        from .dovecot import DovecotServer
        server = DovecotServer(self.root, kw.pop("name", "legacy"),
                               {u: self.password() for u in users}, **kw)
        return self.own(server).start()

    def files_holding_passwords(self):
        """Files under the root that contain a password() in clear."""
        needles = [p.encode() for p in self._passwords]
        found = []
        for dirpath, _, names in os.walk(self.root):
            for name in names:
                path = os.path.join(dirpath, name)
                try:
                    if (os.path.islink(path) or not os.path.isfile(path) or
                            os.path.getsize(path) > SCAN_MAX_FILE):
                        continue
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                if any(n in data for n in needles):
                    found.append(os.path.relpath(path, self.root))
        return found

    def _cleanup(self):
        try:
            for server in reversed(self._servers):
                server.stop()
        finally:
            procs.stop_all()
        try:
            leaked = self.files_holding_passwords() if self._passwords else []
            self.assertEqual(leaked, [], "a password in clear in these files")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
