"""migrate-policyd from the build tree, on a private socket."""
import os
import signal
import subprocess

from . import build, migrate_conf, procs
from .socketmap import SocketmapClient


class PolicyDaemon:
    def __init__(self, root, name="policyd", settings=None, domains=None,
                 binary=None, store_owner=None):
        """store_owner: the user records are written for (the new server's
        auth process, "dovecot", when both share the store)."""
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = procs.free_port()
        self.policy_port = procs.free_port()
        self.socketmap_listen = "inet:127.0.0.1:%d" % self.port
        self.policy_listen = "inet:127.0.0.1:%d" % self.policy_port
        self.settings = {"store": os.path.join(self.dir, "store"),
                         "socketmap_listen": self.socketmap_listen,
                         "policy_listen": self.policy_listen}
        self.settings.update(settings or {})
        self.domains = domains
        self.store = self.settings["store"]
        self.fixture = [build.store_fixture()] + (
            ["-u", store_owner] if store_owner else [])
        self.config = os.path.join(self.dir, "migrate.conf")
        self.write_config()
        self.log_path = os.path.join(self.dir, "policyd.log")
        self.binary = binary or build.policyd()
        self.proc = None

    def write_config(self, **changes):
        """Rewrites migrate.conf (then reload() applies it)."""
        self.settings.update(changes)
        migrate_conf.write(self.config, self.settings, self.domains)

    def reload(self):
        os.kill(self.proc.pid, signal.SIGHUP)
        procs.wait_for(lambda: "reloaded %s" % self.config in self.log_text(), 10,
                       "migrate-policyd to reload")

    def store_account(self, address, state):
        """Records an account in the store, walked legally to state."""
        subprocess.run(self.fixture + [self.store, "account", address, state],
                       check=True, capture_output=True)

    def store_corrupt(self, address, repair=False):
        """Makes the account's record unreadable (or puts it back)."""
        subprocess.run([build.store_fixture(), self.store,
                        "repair" if repair else "corrupt", address, "-"],
                       check=True, capture_output=True)

    def store_alias(self, alias, account):
        subprocess.run(self.fixture + [self.store, "alias", alias, account],
                       check=True, capture_output=True)

    def postfix_maps(self, policy=True):
        """main.cf settings routing the migrating domains through us."""
        sm = "socketmap:%s:" % self.socketmap_listen
        maps = {"transport_maps": sm + "transport",
                "relay_recipient_maps": sm + "relay",
                "virtual_alias_maps": sm + "alias"}
        if policy:
            maps["smtpd_recipient_restrictions"] = (
                "check_policy_service { %s, timeout=5s, try_limit=1, "
                "{ default_action = DEFER_IF_PERMIT 4.3.0 Migration routing unavailable } }"
                % self.policy_listen)
        return maps

    def start(self):
        self.proc = procs.Proc([self.binary, "-f", "-v", "-c", self.config],
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
