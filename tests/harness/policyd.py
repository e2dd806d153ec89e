"""migrate-policyd from the build tree, on a private socket."""
import os

from . import build, migrate_conf, procs
from .socketmap import SocketmapClient


class PolicyDaemon:
    def __init__(self, root, name="policyd", settings=None, domains=None,
                 binary=None):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = procs.free_port()
        self.socketmap_listen = "inet:127.0.0.1:%d" % self.port
        conf = {"store": os.path.join(self.dir, "store"),
                "socketmap_listen": self.socketmap_listen,
                "policy_listen": "inet:127.0.0.1:%d" % procs.free_port()}
        conf.update(settings or {})
        self.config = migrate_conf.write(os.path.join(self.dir, "migrate.conf"),
                                         conf, domains)
        self.log_path = os.path.join(self.dir, "policyd.log")
        self.binary = binary or build.policyd()
        self.proc = None

    def start(self):
        self.proc = procs.Proc([self.binary, "-f", "-c", self.config],
                               "migrate-policyd", log_path=self.log_path)

        def healthy():
            if not self.proc.running():
                raise procs.StartError("migrate-policyd exited: %s" % self.log_text())
            with self.client() as c:
                return c.lookup("health", "ping").startswith("OK ")
        procs.wait_for(healthy, 10, "migrate-policyd to answer health")
        return self

    def client(self):
        return SocketmapClient(("127.0.0.1", self.port))

    def log_text(self):
        return procs.read_text(self.log_path)

    def stop(self):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None:
            return None
        self.proc.stop()
        status = self.proc.popen.returncode
        self.proc = None
        return status

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
