"""The new server loads dovecot-migrate's modules from the build tree."""
import imaplib
import os
import pwd
import re
import stat
import socket
import unittest

from harness.testcase import ServerTestCase
from harness import procs
from harness.modules import SYSTEM_MODULE_DIR
from harness.new_server import new_server

OPERATOR_USERS = {"local@other.test": "Operator-Pass-1"}
DOMAINS = {"example.test": {"legacy_host": "127.0.0.1", "tls": "none"}}


class NewServerTest(ServerTestCase):

    def test_auth_module_loads_and_chain_goes_on(self):
        srv = new_server(self.root, OPERATOR_USERS, DOMAINS)
        with srv:
            c = srv.imap("local@other.test")
            self.assertEqual(c.select("INBOX")[0], "OK")
            c.logout()
            log = srv.log_text()
            self.assertIn("passdb migrate: dovecot-migrate 0.1.0 loaded, config %s, "
                          "1 migrating domains" % srv.migrate_conf, log)

            # an unknown account of a migrating domain goes to the legacy
            # server, here unreachable: a temporary failure
            c = imaplib.IMAP4("127.0.0.1", srv.port_imap)
            with self.assertRaises(imaplib.IMAP4.error) as cm:
                c.login("someone@example.test", "whatever-1")
            self.assertIn("UNAVAILABLE", str(cm.exception))
            c.logout()
            procs.wait_for(lambda: "account someone@example.test: temporary failure "
                           "(connect(127.0.0.1:143) failed: Connection refused)"
                           in srv.log_text(), 5, "the decision in the log")

            c = imaplib.IMAP4("127.0.0.1", srv.port_imap)
            with self.assertRaises(imaplib.IMAP4.error):
                c.login("nobody@unrelated.test", "whatever-2")
            c.logout()
            procs.wait_for(lambda: "not a migrating account: not a migrating domain"
                           in srv.log_text(),
                           5, "debug line")
        # the system's module dir never saw our module
        self.assertFalse(os.path.exists(
            os.path.join(SYSTEM_MODULE_DIR, "auth", "libauthdb_migrate.so")))

    def test_doveadm_plugin_command(self):
        srv = new_server(self.root, OPERATOR_USERS, DOMAINS)
        out = srv.doveadm("-f", "tab", "migrate", "version", "-c", srv.migrate_conf)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.decode().splitlines(), [
            "version\tabi\tconfig\tdomains",
            "0.1.0\t2.3.ABIv19(2.3.19.1)\t%s\t1" % srv.migrate_conf])
        # without -c it reads plugin { migrate_config } (the snippet's)
        out = srv.doveadm("-f", "tab", "migrate", "version", check=False)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn(srv.migrate_conf.encode(), out.stdout)

    def test_doveadm_keygen(self):
        key = os.path.join(self.root, "vault.key")
        srv = new_server(self.root, OPERATOR_USERS, DOMAINS,
                         settings={"vault_key": key, "store_user": "dovecot"})
        out = srv.doveadm("-f", "tab", "migrate", "keygen", "-c", srv.migrate_conf)
        self.assertEqual(out.returncode, 0, out.stderr)
        header, row = out.stdout.decode().splitlines()
        self.assertEqual(header, "key\tid")
        self.assertRegex(row, r"^%s\t[0-9a-f]{16}$" % re.escape(key))
        st = os.stat(key)
        self.assertEqual((st.st_size, stat.S_IMODE(st.st_mode)), (32, 0o600))
        self.assertEqual(pwd.getpwuid(st.st_uid).pw_name, "dovecot")
        with open(key, "rb") as f:
            first = f.read()
        # never overwrites a key: that would orphan every stored credential
        out = srv.doveadm("migrate", "keygen", "-c", srv.migrate_conf, check=False)
        self.assertEqual(out.returncode, 73, out.stderr)
        self.assertIn(key.encode(), out.stderr)
        with open(key, "rb") as f:
            self.assertEqual(f.read(), first)

    def test_bad_config_stops_auth_with_file_and_line(self):
        srv = new_server(self.root, OPERATOR_USERS, DOMAINS)
        with open(srv.migrate_conf, "a") as f:
            f.write("legacy_hots = typo\n")
        with open(srv.migrate_conf) as f:
            bad_line = len(f.readlines())
        # start() would wait for a greeting that never comes: imap-login
        # greets only once auth is up
        proc = procs.Proc(srv.wrapper + ["dovecot", "-F", "-c", srv.conf],
                          "dovecot-new", log_path=os.path.join(self.root, "out"))
        procs.wait_for(lambda: os.path.exists(srv.log_path), 10, "dovecot log")
        fatal = ("auth: Fatal: migrate: %s:%d: unknown key 'legacy_hots' in "
                 "[domain example.test]" % (srv.migrate_conf, bad_line))

        def auth_died():
            # a client connecting makes the master start the auth process;
            # until the listener is up, connecting again is the way
            try:
                socket.create_connection(("127.0.0.1", srv.port_imap),
                                         timeout=2).close()
            except OSError:
                pass
            return fatal in srv.log_text()
        procs.wait_for(auth_died, 15, "auth fatal in the log")
        proc.stop()


if __name__ == "__main__":
    unittest.main()
