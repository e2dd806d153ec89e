"""The verifier (tests/harness/verify.py) finds exactly what differs.

alice gets the small corpus; bob becomes an exact copy of her with
`doveadm backup -R -u bob maildir:<alice's Maildir>` (dsync copies UIDs,
UIDVALIDITY, flags, keywords, dates and subscriptions), then we break bob
in known ways and check the verifier's report line by line.
"""
import os
import subprocess
import sys
import unittest

from harness import corpus, procs, verify
from harness.testcase import ServerTestCase

VERIFY_PY = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "harness", "verify.py")


class VerifierTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.srv = self.start_legacy("alice", "bob")
        self.pw = self.srv.users
        c = self.srv.imap("alice")
        corpus.load_imap(c, corpus.generate(1))
        c.logout()
        self.srv.doveadm("backup", "-R", "-u", "bob",
                         "maildir:" + self.srv.maildir("alice"))

    def endpoint(self, user, **kw):
        kw.setdefault("pop3_port", self.srv.port_pop3)
        return verify.Endpoint("127.0.0.1", self.srv.port_imap, user,
                               self.pw[user], label=user, **kw)

    def run_verify(self, pop3=False, ignore_uids=False):
        lines = []
        diffs = verify.verify(self.endpoint("alice"), self.endpoint("bob"),
                              pop3=pop3, ignore_uids=ignore_uids,
                              out=lines.append)
        return diffs, lines

    def run_cli(self, *extra, a_pw=None, b_pw=None):
        env = dict(os.environ,
                   VERIFY_A_PASSWORD=a_pw or self.pw["alice"],
                   VERIFY_B_PASSWORD=b_pw or self.pw["bob"])
        argv = [sys.executable, VERIFY_PY,
                "--a", "imap://alice@127.0.0.1:%d" % self.srv.port_imap,
                "--b", "imap://bob@127.0.0.1:%d" % self.srv.port_imap,
                "--a-name", "alice", "--b-name", "bob"] + list(extra)
        r = subprocess.run(argv, env=env, capture_output=True, text=True,
                           timeout=120)
        for pw in self.pw.values():  # nothing secret in the output
            self.assertNotIn(pw, r.stdout + r.stderr)
        return r

    def inbox_uids(self, user):
        snap = self.snapshot(user)
        return snap, sorted(snap.folders["INBOX"].messages)

    def snapshot(self, user):
        c = self.srv.imap(user)
        try:
            return verify.snapshot(c)
        finally:
            c.logout()

    # -- tests ---------------------------------------------------------------

    def test_backup_copy_is_identical(self):
        a, b = self.snapshot("alice"), self.snapshot("bob")
        # dsync kept every UIDVALIDITY (not just "the verifier agrees")
        for name, f in a.folders.items():
            self.assertIsNotNone(f.uidvalidity, name)
            self.assertEqual(f.uidvalidity, b.folders[name].uidvalidity, name)
        self.assertEqual(a.subscribed, b.subscribed)

        diffs, lines = self.run_verify(pop3=True)
        self.assertEqual(diffs, [])
        n = sum(len(f.messages) for f in corpus.generate(1))
        self.assertEqual(lines, ["identical: 15 folders, %d messages" % n])

        r = self.run_cli("--pop3-a", str(self.srv.port_pop3),
                         "--pop3-b", str(self.srv.port_pop3))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.splitlines()[-1],
                         "identical: 15 folders, %d messages" % n)

    def test_cli_over_tls(self):
        # alice over STARTTLS, bob over IMAPS, both checked against the CA
        env_ca = ["--ca", self.srv.tls["ca"], "--a-tls", "starttls"]
        r = self.run_cli(*env_ca)
        self.assertEqual(r.returncode, 0, r.stdout)
        env = dict(os.environ, VERIFY_A_PASSWORD=self.pw["alice"],
                   VERIFY_B_PASSWORD=self.pw["bob"])
        r = subprocess.run(
            [sys.executable, VERIFY_PY,
             "--a", "imap://alice@127.0.0.1:%d" % self.srv.port_imap,
             "--a-tls", "starttls",
             "--b", "imaps://bob@127.0.0.1:%d" % self.srv.port_imaps,
             "--ca", self.srv.tls["ca"], "--b-servername", "localhost"],
            env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout)
        # without the test CA the certificate is rejected: exit 2
        r = subprocess.run(
            [sys.executable, VERIFY_PY,
             "--a", "imap://alice@127.0.0.1:%d" % self.srv.port_imap,
             "--b", "imaps://bob@127.0.0.1:%d" % self.srv.port_imaps],
            env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("CERTIFICATE_VERIFY_FAILED", r.stdout)

    def test_three_changes_three_differences(self):
        snap, uids = self.inbox_uids("bob")
        msgs = snap.folders["INBOX"].messages
        # three distinct messages: one not yet \Flagged, the next two after
        flag_uid = next(u for u in uids if "\\Flagged" not in msgs[u].flags)
        expunge_uid, corrupt_uid = [u for u in uids if u != flag_uid][:2]

        c = self.srv.imap("bob")
        c.select("INBOX")
        self.assertEqual(c.uid("STORE", str(flag_uid), "+FLAGS",
                               "(\\Flagged)")[0], "OK")
        self.assertEqual(c.uid("STORE", str(expunge_uid), "+FLAGS",
                               "(\\Deleted)")[0], "OK")
        self.assertEqual(c.uid("EXPUNGE", str(expunge_uid))[0], "OK")
        c.logout()
        self.srv.flip_body_byte("bob", corrupt_uid)

        # alice must not have changed (dsync hard-linked the files)
        a_after = self.snapshot("alice").folders["INBOX"].messages
        self.assertEqual(len(a_after), len(uids))

        old = msgs[flag_uid]
        new_flags = [f for f in verify.SYSTEM_FLAGS
                     if f in old.flags or f == "\\Flagged"]
        b_after = self.snapshot("bob").folders["INBOX"].messages
        want = [
            "folder 'INBOX' uid %d: flags differ: alice (%s) vs bob (%s)" % (
                flag_uid, " ".join(old.flags), " ".join(new_flags)),
            "folder 'INBOX' uid %d: missing in bob" % expunge_uid,
            "folder 'INBOX' uid %d: body differs: alice sha256 %s (%d bytes)"
            " vs bob sha256 %s (%d bytes)" % (
                corrupt_uid, msgs[corrupt_uid].sha256[:16],
                msgs[corrupt_uid].size, b_after[corrupt_uid].sha256[:16],
                msgs[corrupt_uid].size),
        ]
        want.sort(key=lambda line: int(line.split()[3].rstrip(":")))
        diffs, lines = self.run_verify()
        self.assertEqual(diffs, want)
        self.assertEqual(lines, want + ["3 differences"])

        r = self.run_cli()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stdout.splitlines(), want + ["3 differences"])

        # matched by content instead of UID: the corrupted message no
        # longer pairs up, so it shows as missing + extra
        diffs, _ = self.run_verify(ignore_uids=True)
        self.assertEqual(len(diffs), 4, diffs)
        self.assertEqual(sum("missing in bob" in d for d in diffs), 2)
        self.assertEqual(sum("only in bob" in d for d in diffs), 1)
        self.assertEqual(sum("flags differ" in d for d in diffs), 1)

    def test_pop3_uidls(self):
        a_uidls = verify.pop3_uidls(self.endpoint("alice"))
        self.assertEqual(verify.compare_pop3(
            a_uidls, verify.pop3_uidls(self.endpoint("bob"))), [])

        snap, uids = self.inbox_uids("bob")
        victim = uids[1]
        c = self.srv.imap("bob")
        c.select("INBOX")
        c.uid("STORE", str(victim), "+FLAGS", "(\\Deleted)")
        c.uid("EXPUNGE", str(victim))
        c.logout()

        # Dovecot's default pop3_uidl_format %08Xu%08Xv: UID, UIDVALIDITY
        # (measured: Dovecot prints the hex in lower case)
        uidl = "%08x%08x" % (victim, snap.folders["INBOX"].uidvalidity)
        self.assertIn(uidl, [u for u, _ in a_uidls])
        diffs, lines = self.run_verify(pop3=True)
        self.assertEqual(diffs, [
            "folder 'INBOX' uid %d: missing in bob" % victim,
            "pop3 UIDL '%s': missing in bob" % uidl])

        r = self.run_cli("--pop3-a", str(self.srv.port_pop3),
                         "--pop3-b", str(self.srv.port_pop3))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.splitlines()[-3:], diffs + ["2 differences"])

    def test_folder_and_subscription_differences(self):
        c = self.srv.imap("bob")
        c.create(corpus.quote("Extra"))
        c.unsubscribe(corpus.quote("Sent"))
        c.delete(corpus.quote("Vazia"))
        c.logout()
        diffs, _ = self.run_verify()
        self.assertEqual(diffs, [
            "folder 'Extra': only in bob",
            "folder 'Vazia': missing in bob",
            "folder 'Sent': subscription differs: alice subscribed vs bob "
            "not subscribed"])

    def test_wrong_password_exits_2(self):
        r = self.run_cli(b_pw="not-" + self.pw["bob"])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        last = r.stdout.splitlines()[-1]
        self.assertTrue(last.startswith(
            "error: bob (imap://bob@127.0.0.1:%d): login failed:"
            % self.srv.port_imap), last)
        self.assertIn("AUTHENTICATIONFAILED", last)
        self.assertNotIn("not-" + self.pw["bob"], r.stdout + r.stderr)

        # missing password variable, and nothing listening: also exit 2
        env = dict(os.environ, VERIFY_A_PASSWORD="x")
        env.pop("VERIFY_B_PASSWORD", None)
        r = subprocess.run([sys.executable, VERIFY_PY, "--a", "imap://a@h",
                            "--b", "imap://b@h"], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout.strip()),
                         (2, "error: $VERIFY_B_PASSWORD is not set"))
        dead = procs.free_port()
        r = self.run_cli("--b", "imap://bob@127.0.0.1:%d" % dead)
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot connect", r.stdout.splitlines()[-1])


if __name__ == "__main__":
    unittest.main()
