"""The test harness itself, against a real private Dovecot ("legacy").

Run from /work/main/tests:
    /usr/bin/python3 -m unittest discover -s integration -t . \
        -p test_harness_legacy.py
"""
import hashlib
import imaplib
import os
import poplib
import smtplib
import ssl
import subprocess
import sys
import unittest

from harness import corpus, procs, tls, verify
from harness.dovecot import DovecotServer, DovecotError
from harness.testcase import ServerTestCase
from harness.mutf7 import _Vectors as TestMutf7Vectors  # noqa: F401 (run it)
from harness import mutf7

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pids_mentioning(text):
    """Live PIDs whose command line contains `text` (independent of the
    harness's own leftover check)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    if text.encode() in f.read() and \
                            procs.pid_alive(int(entry)):
                        found.append(int(entry))
            except OSError:
                pass
    return found




class LegacyServerTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        # random per test, never printed
        self.srv = self.start_legacy("alice", "bob")
        self.pw = self.srv.users

    def append_one(self, user="alice", body=b"hello\r\n"):
        c = self.srv.imap(user)
        msg = b"From: t@example\r\nSubject: t\r\n\r\n" + body
        c.append("INBOX", None, None, msg)
        c.logout()
        return msg

    def test_imap_plain_login_and_select(self):
        c = self.srv.imap("alice")
        typ, data = c.select("INBOX")
        self.assertEqual(typ, "OK")
        self.assertEqual(data, [b"0"])
        c.logout()

    def test_imap_starttls_login(self):
        c = self.srv.imap_starttls("alice")
        self.assertIsInstance(c.sock, ssl.SSLSocket)
        self.assertIn(c.sock.version(), ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()

    def test_imaps_verified_against_test_ca(self):
        c = self.srv.imap_ssl("alice")
        cert = c.sock.getpeercert()
        self.assertIn(("DNS", "localhost"), cert["subjectAltName"])
        self.assertIn(("IP Address", "127.0.0.1"), cert["subjectAltName"])
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()

    def test_imaps_untrusted_ca_fails_verification(self):
        empty = tls.client_context(None)  # trusts nothing
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.srv.imap_ssl("alice", ssl_context=empty)
        # and a wrong name fails too, even with the right CA
        wrong_name = tls.client_context(self.srv.tls["ca"],
                                        hostname="mail.example.org")
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.srv.imap_ssl("alice", ssl_context=wrong_name)

    def test_pop3_plain_stls_pop3s(self):
        msg = self.append_one()
        for connect in (self.srv.pop3, self.srv.pop3_stls, self.srv.pop3_ssl):
            p = connect("alice")
            self.assertEqual(p.stat(), (1, len(msg)), connect.__name__)
            if connect != self.srv.pop3:
                self.assertIsInstance(p.sock, ssl.SSLSocket)
            p.quit()

    def test_wrong_password_fails(self):
        with self.assertRaises(imaplib.IMAP4.error):
            self.srv.imap("alice", password="wrong-" + self.pw["alice"])
        with self.assertRaises(imaplib.IMAP4.error):
            self.srv.imap("alice", password=self.pw["bob"])
        with self.assertRaises(poplib.error_proto):
            self.srv.pop3_stls("alice", password="wrong")
        with self.assertRaises(imaplib.IMAP4.error):
            self.srv.imap("nobody", password="x")
        self.assertIn("auth", self.srv.log_text())

    def test_master_user_login(self):
        self.append_one("alice")
        c = self.srv.imap("alice", master=True)   # "alice*master"
        self.assertEqual(c.select("INBOX"), ("OK", [b"1"]))  # alice's mail
        c.logout()
        self.assertIn("Master user logging in as alice", self.srv.log_text())
        # the master password does not work for a user who doesn't exist,
        # nor does a wrong master password
        with self.assertRaises(imaplib.IMAP4.error):
            self.srv.imap("nobody", master=True)
        with self.assertRaises(imaplib.IMAP4.error):
            self.srv.imap("alice*master", password="wrong")

    def test_add_user_without_restart(self):
        with self.assertRaises(imaplib.IMAP4.error):
            self.srv.imap("carol", password="carols-pw")
        self.srv.add_user("carol", "carols-pw")
        c = self.srv.imap("carol")
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()

    def test_doveadm(self):
        self.append_one("alice")
        r = self.srv.doveadm("mailbox", "status", "-u", "alice", "messages",
                             "INBOX")
        self.assertEqual(r.stdout.split(), [b"INBOX", b"messages=1"])
        with self.assertRaises(DovecotError):
            self.srv.doveadm("no-such-command")

    def test_stop_leaves_nothing(self):
        c = self.srv.imap("alice")   # a live session process too
        c.select("INBOX")
        ports = [self.srv.port_imap, self.srv.port_imaps,
                 self.srv.port_pop3, self.srv.port_pop3s]
        self.assertTrue(pids_mentioning(self.srv.conf))
        self.assertTrue(pids_mentioning(self.srv.instance_name + "/imap"))
        self.srv.stop()
        c.shutdown()
        self.assertEqual(pids_mentioning(self.srv.conf), [])
        self.assertEqual(pids_mentioning(self.srv.instance_name), [])
        self.assertEqual(self.srv.leftover_pids(), [])
        for port in ports:
            self.assertFalse(procs.port_open(port), port)
        # and it can start again on the same ports and data
        self.srv.start()
        self.srv.imap("alice").logout()

    def test_start_failure_reports_log(self):
        bad = DovecotServer(self.root, "broken", {"x": "y"},
                            extra_conf="no_such_setting = 1\n")
        with self.assertRaises(DovecotError) as cm:
            bad.start(timeout=5)
        self.assertIn("no_such_setting", str(cm.exception))
        self.assertEqual(bad.leftover_pids(), [])

    def test_wrapper_lmtp_separator_placeholders(self):
        # a second instance in the same root: started through a wrapper,
        # with LMTP, "/" as separator and a placeholder in extra_conf
        other = DovecotServer(
            self.root, "other", {"carol": "carols-pw"},
            wrapper=["/usr/bin/env"], protocols=("imap", "pop3", "lmtp"),
            separator="/",
            extra_conf="mail_attachment_dir = @DIR@/attachments\n")
        self.own(other)
        other.start()
        self.assertIn("mail_attachment_dir = %s/attachments" % other.dir,
                      other.doveadm("config", "-n").stdout.decode())
        msg = b"From: x@example\r\nSubject: via lmtp\r\n\r\nhi\r\n"
        for where in (("127.0.0.1", other.lmtp_port), (other.lmtp_socket,)):
            with smtplib.LMTP(*where) as lmtp:
                lmtp.sendmail("x@example", ["carol"], msg)
        c = other.imap("carol")
        self.assertEqual(c.select("INBOX"), ("OK", [b"2"]))
        corpus.load_imap(c, corpus.generate(2))
        snap = verify.snapshot(c, bodies=False)
        c.logout()
        self.assertEqual(snap.separator, "/")
        self.assertIn("Arquivo/2019/Projetos", snap.folders)
        other.stop()
        self.assertEqual(pids_mentioning(other.conf), [])

    def test_mutf7_agrees_with_dovecot(self):
        # names we encode are what Dovecot decodes to UTF-8 ...
        names = ["Itens Enviados", "Ünïcødé", "日本語", "Contas & Faturas"]
        c = self.srv.imap("alice")
        for n in names:
            self.assertEqual(c.create(corpus.quote(mutf7.encode(n)))[0], "OK")
        c.logout()
        listed = self.srv.doveadm("mailbox", "list", "-u", "alice"
                                  ).stdout.decode().split("\n")
        for n in names:
            self.assertIn(n, listed)
        # ... and what Dovecot sends for UTF-8 names is what we decode
        self.srv.doveadm("mailbox", "create", "-u", "bob", "Caixa de Saída")
        c = self.srv.imap("bob")
        typ, data = c.list('""', '"Caixa*"')
        self.assertEqual(data[0].split(b" ", 2)[2], b'"Caixa de Sa&AO0-da"')
        self.assertEqual(mutf7.decode(b"Caixa de Sa&AO0-da"), "Caixa de Saída")
        c.logout()


class CorpusGenerateTest(unittest.TestCase):
    def test_generate_is_deterministic(self):
        a, b = corpus.generate(7), corpus.generate(7)
        self.assertEqual(a, b)
        self.assertNotEqual(a, corpus.generate(8))
        s = corpus.stats(a)
        self.assertGreaterEqual(s["messages"], 50)
        self.assertLessEqual(max(len(m.raw) for f in a for m in f.messages),
                             300 * 1024)
        kinds = {m.kind for f in a for m in f.messages}
        for k in ("_bare_lf", "_latin1_raw", "_utf8_raw", "_multipart",
                  "_bad_base64", "_unclosed_multipart", "_bad_headers"):
            self.assertIn(k, kinds)
        self.assertTrue(any("\\Deleted" in m.flags
                            for f in a for m in f.messages))


class CorpusTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.srv = self.start_legacy("alice")
        self.pw = self.srv.users

    def test_load_and_read_back(self):
        cp = corpus.generate(1)
        c = self.srv.imap("alice")
        corpus.load_imap(c, cp)
        snap = verify.snapshot(c)
        c.logout()

        self.assertEqual(snap.separator, ".")
        self.assertEqual(set(snap.folders), {f.name for f in cp})
        self.assertEqual(snap.subscribed,
                         {f.name for f in cp if f.subscribed})
        normalised = 0
        for f in cp:
            got = snap.folders[f.name]
            self.assertTrue(got.selectable, f.name)
            self.assertIsNotNone(got.uidvalidity)
            self.assertEqual(len(got.messages), len(f.messages), f.name)
            # appended in order into empty folders: UIDs 1..n
            for uid, m in enumerate(f.messages, 1):
                g = got.messages[uid]
                where = "%s uid %d (%s)" % (f.name, uid, m.kind)
                self.assertEqual(g.flags, m.flags, where)
                self.assertEqual(g.keywords, m.keywords, where)
                self.assertEqual(g.when, m.internaldate, where)
                want = corpus.expected_fetch_bytes(m.raw)
                self.assertEqual(g.sha256, hashlib.sha256(want).hexdigest(),
                                 where)
                self.assertEqual(g.size, len(want), where)
                normalised += want != m.raw
        # Dovecot's one normalisation: bare LF comes back as CRLF.  The
        # corpus has such messages, so this was really exercised.
        bare = sum(m.kind == "_bare_lf" for f in cp for m in f.messages)
        self.assertGreater(bare, 0)
        self.assertEqual(normalised, bare)

    def test_cli_password_from_env_and_stdin(self):
        base = [sys.executable, "-m", "tests.harness.corpus", "--seed", "3",
                "--host", "127.0.0.1", "--port", str(self.srv.port_imap)]
        env = dict(os.environ, MIGRATE_TEST_PASSWORD=self.pw["alice"])
        r = subprocess.run(base + ["--user", "alice", "--tls", "starttls",
                                   "--ca", self.srv.tls["ca"]],
                           cwd=os.path.dirname(TESTS_DIR), env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("into alice", r.stdout)
        self.assertNotIn(self.pw["alice"], r.stdout + r.stderr)

        self.srv.add_user("bob", "bobs-pw")
        env.pop("MIGRATE_TEST_PASSWORD")
        r = subprocess.run(base + ["--user", "bob"], input="bobs-pw\n",
                           cwd=os.path.dirname(TESTS_DIR), env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        want = len(corpus.generate(3)[0].messages)
        c = self.srv.imap("bob")
        self.assertEqual(c.select("INBOX"), ("OK", [str(want).encode()]))
        c.logout()


if __name__ == "__main__":
    unittest.main()
