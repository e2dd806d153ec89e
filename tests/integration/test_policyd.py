"""migrate-policyd as Postfix and a hostile client see it."""
import grp
import os
import pwd
import socket
import stat
import subprocess
import unittest

from harness.testcase import ServerTestCase
from harness import build, migrate_conf, procs
from harness.policyd import PolicyDaemon
from harness.socketmap import SocketmapClient, encode

VERSION_REPLY = "OK dovecot-migrate 0.1.0"


class PolicydTest(ServerTestCase):

    def start(self, **kwargs):
        self.daemon = PolicyDaemon(self.root, **kwargs).start()
        return self.daemon

    def test_health_and_pipelining(self):
        d = self.start()
        with d.client() as c:
            self.assertEqual(c.lookup("health", "ping"), VERSION_REPLY)
            # three requests in one write: three replies, in order
            c.send_raw(encode(b"health a") + encode(b"nosuchmap b") +
                       encode(b"health c"))
            self.assertEqual(c.read_reply(), VERSION_REPLY.encode())
            self.assertEqual(c.read_reply(), b"PERM unknown map name")
            self.assertEqual(c.read_reply(), VERSION_REPLY.encode())

    def test_postfix_client_reads_health(self):
        """Postfix's own socketmap client (postmap -q) gets the answer."""
        d = self.start()
        confdir = os.path.join(self.root, "postmap-etc")
        os.makedirs(confdir)
        open(os.path.join(confdir, "main.cf"), "w").close()
        out = subprocess.run(
            ["postmap", "-c", confdir, "-q", "ping",
             "socketmap:%s:health" % d.socketmap_listen],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "dovecot-migrate 0.1.0")

    def test_malformed_and_oversize_requests_close_only_that_client(self):
        d = self.start()
        cases = [(b"xyz:health ping,", "netstring length is not a number"),
                 (b"5000:", "netstring is longer than allowed"),
                 (encode(b"health"), "request has no space between name and key"),
                 (encode(b"health a\x00b"), "control character in lookup key"),
                 (b"11:health ping;", "netstring is not terminated by ','")]
        for raw, error in cases:
            with d.client() as c:
                c.send_raw(raw)
                self.assertEqual(c.read_reply(), b"", raw)  # closed
            self.assertIn(error, d.log_text())
        with d.client() as c:
            self.assertEqual(c.lookup("health", "still-alive"), VERSION_REPLY)

    def test_policy_requests_of_every_size_up_to_the_limit(self):
        d = self.start(domains={"example.test": {"legacy_host": "127.0.0.1"}})
        base = (b"request=smtpd_access_policy\nprotocol_state=RCPT\n"
                b"recipient=x@elsewhere.test\n")
        for size in (100, 1023, 1024, 1025, 5000, 16000):
            pad = b"ccert_subject=" + b"x" * max(0, size - len(base) - 16) + b"\n"
            with socket.create_connection(("127.0.0.1", d.policy_port)) as sock:
                sock.sendall(base + pad + b"\n")
                reply = b""
                while not reply.endswith(b"\n\n"):
                    chunk = sock.recv(4096)
                    self.assertTrue(chunk, "closed at size %d" % size)
                    reply += chunk
                self.assertEqual(reply, b"action=DUNNO\n\n", size)
        # past the limit: a logged error and a closed connection
        with socket.create_connection(("127.0.0.1", d.policy_port)) as sock:
            try:
                sock.sendall(base + b"ccert_subject=" + b"x" * 17000 + b"\n")
                closed = sock.recv(100) == b""
            except ConnectionResetError:
                closed = True  # closed with our bytes unread: a reset
            self.assertTrue(closed)
        self.assertIn("policy client fd", d.log_text())
        self.assertIn("request longer than allowed", d.log_text())

    def test_many_concurrent_keepalive_clients(self):
        d = self.start()
        clients = [d.client() for _ in range(200)]
        try:
            for i, c in enumerate(clients):
                c.send_raw(encode(b"health %d" % i))
            for c in clients:
                self.assertEqual(c.read_reply(), VERSION_REPLY.encode())
        finally:
            for c in clients:
                c.close()

    def test_unix_socket_mode_and_clean_stop(self):
        path = os.path.join(self.root, "map.sock")
        d = PolicyDaemon(self.root, settings={"socketmap_listen": "unix:" + path})
        d.proc = procs.Proc([d.binary, "-f", "-c", d.config], "policyd",
                            log_path=d.log_path)
        procs.wait_for(lambda: os.path.exists(path), 10, "socket")
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.assertEqual(mode, 0o660)
        with SocketmapClient(path) as c:
            self.assertEqual(c.lookup("health", "x"), VERSION_REPLY)
            # an idle keep-alive client must not hold up SIGTERM
            self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(path))
        self.assertIn("stopped", d.log_text())

    def test_config_errors_are_reported_with_line(self):
        conf = migrate_conf.write(os.path.join(self.root, "bad.conf"),
                                  {"workers": "many"})
        out = subprocess.run([build.policyd(), "-t", "-c", conf],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 1)
        self.assertIn("bad.conf:2: workers: 'many' is not a number 1-1024",
                      out.stderr)
        good = migrate_conf.write(os.path.join(self.root, "good.conf"), {},
                                  {"example.test": {"legacy_host": "127.0.0.1"}})
        out = subprocess.run([build.policyd(), "-t", "-c", good],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("OK (1 domains)", out.stdout)

    def test_binary_holds_no_secret_handling_code(self):
        """DESIGN: the routing daemon never links the vault or hashing."""
        symbols = subprocess.run(["nm", build.policyd()], capture_output=True,
                                 text=True, check=True).stdout
        self.assertNotIn("migrate_vault_", symbols)
        self.assertNotIn("migrate_password_", symbols)
        libs = subprocess.run(["ldd", build.policyd()], capture_output=True,
                              text=True, check=True).stdout
        self.assertNotIn("libcrypt.so", libs)

    def test_drops_to_an_unprivileged_user_that_cannot_read_secrets(self):
        store = os.path.join(self.root, "store")
        sock = os.path.join(self.root, "map.sock")
        subprocess.run([build.store_fixture(), "-g", "nogroup", store, "account",
                        "done@example.test", "migrated"], check=True)
        d = PolicyDaemon(self.root, settings={
            "store": store, "policyd_user": "nobody", "store_group": "nogroup",
            "socketmap_listen": "unix:" + sock},
            domains={"example.test": {"legacy_host": "127.0.0.1"}})
        d.proc = procs.Proc([d.binary, "-f", "-c", d.config], "policyd", log_path=d.log_path)
        procs.wait_for(lambda: os.path.exists(sock), 10, "socket")
        with SocketmapClient(sock) as c:
            self.assertEqual(c.lookup("transport", "done@example.test"),
                             "OK lmtp:unix:private/dovecot-lmtp")
        with open("/proc/%d/status" % d.proc.pid) as f:
            ids = dict(line.split(":", 1) for line in f if line.startswith(("Uid", "Gid")))
        nobody = pwd.getpwnam("nobody")
        self.assertEqual(ids["Uid"].split(), [str(nobody.pw_uid)] * 4)
        self.assertEqual(ids["Gid"].split(), [str(nobody.pw_gid)] * 4)
        st = os.stat(sock)
        self.assertEqual((grp.getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode)),
                         ("nogroup", 0o660))
        # what the dropped user could read: routing yes, secrets no
        secrets = os.stat(os.path.join(store, "secrets"))
        self.assertEqual((secrets.st_uid, stat.S_IMODE(secrets.st_mode)), (0, 0o700))
        self.assertEqual(d.stop(), 0)

    def test_spawn_mode_serves_stdin(self):
        d = PolicyDaemon(self.root, settings={"unknown_recipients": "reject"},
                         domains={"example.test": {"legacy_host": "127.0.0.1"}})
        subprocess.run([build.store_fixture(), d.store, "account", "known@example.test",
                        "queued"], check=True)
        requests = (b"request=smtpd_access_policy\nprotocol_state=RCPT\n"
                    b"recipient=nobody@example.test\n\n"
                    b"request=smtpd_access_policy\nprotocol_state=RCPT\n"
                    b"recipient=Known@Example.test\n\n")
        out = subprocess.run([d.binary, "-s", "-c", d.config], input=requests,
                             capture_output=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout,
                         b"action=550 5.1.1 User unknown in a migrating domain\n\n"
                         b"action=DUNNO\n\n")

    def test_counters_are_logged_on_a_timer(self):
        d = self.start(settings={"policyd_stats_secs": "1"},
                       domains={"example.test": {"legacy_host": "127.0.0.1"}})
        with d.client() as c:
            c.lookup("transport", "x@elsewhere.test")
            c.lookup("transport", "y@elsewhere.test")
        procs.wait_for(lambda: "lookups=2 " in d.log_text(), 5, "a counters line")
        self.assertRegex(d.log_text(), r"lookups=2 local=0 legacy=0 rejected=0 "
                         r"verify=0 deferred=0 other=2 connections=\d+")

    def test_port_in_use_is_a_clear_error(self):
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        try:
            d = PolicyDaemon(self.root, settings={
                "socketmap_listen": "inet:127.0.0.1:%d" % port})
            out = subprocess.run([d.binary, "-f", "-c", d.config],
                                 capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 1)
            self.assertIn("bind(127.0.0.1:%d) failed: Address already in use" % port,
                          out.stderr)
        finally:
            blocker.close()


if __name__ == "__main__":
    unittest.main()
