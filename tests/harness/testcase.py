"""Base class for tests that start private servers."""
import os
import shutil
import tempfile
import unittest

from . import procs


class ServerTestCase(unittest.TestCase):
    """Gives each test a fresh root directory (traversable by the servers'
    unprivileged users) and, however the test ends, stops the servers it
    registered with own() -- through their own stop(), which checks that
    nothing of theirs is left -- then any other process it started, then
    removes the root."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="dm-")
        os.chmod(self.root, 0o755)
        self._servers = []
        self.addCleanup(self._cleanup)

    def own(self, server):
        self._servers.append(server)
        return server

    def start_legacy(self, *users):
        """A started legacy Dovecot whose users have random passwords
        (in .users; never printed)."""
        from .dovecot import DovecotServer
        server = DovecotServer(self.root, "legacy",
                               {u: procs.random_password() for u in users})
        return self.own(server).start()

    def _cleanup(self):
        try:
            for server in reversed(self._servers):
                server.stop()
        finally:
            procs.stop_all()
            shutil.rmtree(self.root, ignore_errors=True)
