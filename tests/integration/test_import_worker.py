"""doveadm migrate worker: queued accounts imported by dsync passes, with
the legacy credential from the vault (the first slice of issue 5)."""
import base64
import glob
import imaplib
import json
import os
import random
import signal
import subprocess
import time

from harness import build, corpus, procs, verify
from harness import tls as tlsmod
from harness.cut_proxy import CutProxy
from integration.test_login_capture import CaptureCase, DOMAIN


MANUAL = {"cutover": "manual"}


class ImportCase(CaptureCase):
    """Helpers to drive the worker and read its results."""

    def new(self, legacy, *args, settings=None, **kw):
        """The harness verifier compares folder by folder under the same
        names: these tests keep the legacy special folders where they are
        (special_folders = keep) unless they say otherwise; the merge has
        its own tests (test_special_folders.py)."""
        settings = dict({"special_folders": "keep"}, **(settings or {}))
        return super().new(legacy, *args, settings=settings, **kw)

    def worker(self, new, *args):
        """{account: [result, reason]} of one `worker --once` run; its log
        (doveadm logs to stderr) in self.worker_log."""
        out = new.doveadm("-f", "tab", "migrate", "worker", "-c", new.migrate_conf,
                          "--once", *args)
        self.worker_log = out.stderr.decode()
        rows = [line.split("\t") for line in out.stdout.decode().splitlines()[1:]]
        return {row[0]: row[1:] for row in rows}

    def status(self, new, *args):
        """doveadm migrate status as a dict (-f json, one row)."""
        out = new.doveadm("-f", "json", "migrate", "status", "-c", new.migrate_conf,
                          *args)
        (row,) = json.loads(out.stdout.decode())
        return row

    def openmetrics(self, text):
        """{sample: value} of an OpenMetrics text, checked for its shape:
        TYPE and HELP before a family's samples, "# EOF" last."""
        lines = text.split("\n")
        self.assertEqual(lines[-2:], ["# EOF", ""])
        samples, families = {}, set()
        for line in lines[:-2]:
            if line.startswith("# TYPE "):
                name, kind = line.split()[2:4]
                self.assertIn(kind, ("gauge", "counter"))
                families.add(name)
            elif not line.startswith(("# HELP ", "# UNIT ")):
                sample, value = line.rsplit(" ", 1)
                family = sample.split("{")[0]
                self.assertTrue(family in families or
                                family.endswith("_total") and family[:-6] in families,
                                line)
                samples[sample] = float(value)
        return samples

    def legacy_with_corpus(self, user, seed, profile="small"):
        """A legacy server whose one user holds a generated corpus."""
        legacy = self.legacy_server([user])
        c = legacy.imap(user)
        corpus.load_imap(c, corpus.generate(seed, profile))
        c.logout()
        return legacy

    def legacy_with_corpora(self, users, first_seed):
        """A legacy server whose users each hold a small corpus, seeded
        first_seed, first_seed + 1, ..."""
        legacy = self.legacy_server(users)
        for seed, user in enumerate(users, first_seed):
            c = legacy.imap(user)
            corpus.load_imap(c, corpus.generate(seed, "small"))
            c.logout()
        return legacy

    def capture(self, new, legacy, user):
        """user's first login on the new server: recorded and queued."""
        self.assertEqual(self.imap_login(new.port_imap, user, legacy.users[user])[0], "OK")
        self.account(new, user)

    def captured(self, legacy, user, **new_kw):
        """A new server (self.new's arguments) where user has logged in."""
        new = self.new(legacy, **new_kw)
        self.capture(new, legacy, user)
        return new

    def pop3_captured(self, user, tls="none"):
        """A legacy INBOX of 5 messages and a new server without IMAP to the
        legacy one, where user has logged in over POP3 (cutover manual; dsync
        needs the separators spelled out, README). (legacy, new)"""
        legacy = self.legacy_server([user])
        c = legacy.imap(user)
        for i in range(5):
            c.append("INBOX", None, None,
                     b"Subject: pop %d\r\n\r\nbody %d\r\n" % (i, i))
        c.logout()
        new = self.new(legacy, tls, domain_keys={"imap_port": "0"}, separator="/",
                       settings=MANUAL)
        res, p = self.pop3_login(new.port_pop3, user, legacy.users[user])
        self.assertEqual(res, "OK", p)
        p.quit()
        return legacy, new

    def differences(self, legacy, new, user, ignore_uids=False):
        """The verifier's differences between user's legacy and local
        mailboxes (by content and date with ignore_uids)."""
        a = verify.Endpoint("127.0.0.1", legacy.port_imap, user, legacy.users[user],
                            label="legacy")
        b = verify.Endpoint("127.0.0.1", new.port_imap,
                            "%s*%s" % (user, new.master_user), new.master_password,
                            label="new")
        return verify.verify(a, b, ignore_uids=ignore_uids, out=lambda line: None)

    def identical(self, legacy, new, user):
        return self.differences(legacy, new, user) == []


class ImportWorkerTest(ImportCase):

    def test_queued_accounts_imported_exactly(self):
        users = ["ana@" + DOMAIN, "rui@" + DOMAIN]
        legacy = self.legacy_with_corpora(users, 11)
        metrics = os.path.join(self.root, "migrate.prom")
        new = self.new(legacy, "starttls", settings=dict(MANUAL, metrics_file=metrics))
        for user in users:
            self.assertEqual(self.imap_login(new.port_imap, user, legacy.users[user])[0], "OK")
            self.account(new, user)
        results = self.worker(new, "-j", "2")
        self.assertEqual(results, {u: ["synced", ""] for u in users}, self.worker_log)
        self.assertIn("migrate worker: started, 2 imports at once", self.worker_log)
        self.assertIn("migrate worker: stopped; 2 synced, 0 migrated, 0 failed",
                      self.worker_log)
        for seed, user in enumerate(users, 11):
            self.assertEqual(self.account(new, user), "synced imap %s 0" % DOMAIN)
            self.assertTrue(self.identical(legacy, new, user), user)
            st = corpus.stats(corpus.generate(seed, "small"))
            progress = subprocess.run(
                [build.store_fixture(), new.store, "progress", user, "-"],
                capture_output=True, text=True, check=True).stdout.split()
            # pass 1; folders, messages and bytes done = total, as on legacy
            self.assertEqual(progress[0], "1")
            for field, n in zip(progress[1:3], (st["folders"], st["messages"])):
                self.assertEqual(field, "%d/%d" % (n, n))
            done, total = progress[3].split("/")
            self.assertEqual(done, total)
            self.assertGreater(int(total), 0)
        totals = self.status(new)
        self.assertEqual((totals["queued"], totals["importing"], totals["synced"],
                          totals["failed"], totals["errors"]), ("0", "0", "2", "0", "0"))
        self.assertRegex(totals["started"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        # what the passes placed, the rate of the last minutes, nothing left
        messages = sum(corpus.stats(corpus.generate(seed, "small"))["messages"]
                       for seed in (11, 12))
        self.assertEqual(int(totals["messages_imported"]), messages)
        self.assertGreater(int(totals["bytes_imported"]), 0)
        self.assertGreater(float(totals["messages_per_sec"]), 0)
        self.assertEqual((totals["messages_left"], totals["eta_secs"]), ("0", "0"))
        # the same row in the other formats
        tab = new.doveadm("-f", "tab", "migrate", "status", "-c", new.migrate_conf)
        header, values = tab.stdout.decode().splitlines()
        self.assertEqual(dict(zip(header.split("\t"), values.split("\t")))["synced"], "2")
        flow = new.doveadm("-f", "flow", "migrate", "status", "-c", new.migrate_conf)
        self.assertIn("synced=2 ", flow.stdout.decode())
        self.assertIn("messages_imported=%d " % messages, flow.stdout.decode())
        # OpenMetrics: the worker's file and status --openmetrics
        with open(metrics) as f:
            scraped = f.read()
        out = new.doveadm("migrate", "status", "-c", new.migrate_conf, "--openmetrics")
        for text in (scraped, out.stdout.decode()):
            samples = self.openmetrics(text)
            self.assertEqual(samples['dovecot_migrate_accounts{state="synced"}'], 2)
            self.assertEqual(samples['dovecot_migrate_accounts{state="failed"}'], 0)
            self.assertEqual(samples["dovecot_migrate_imported_messages_total"], messages)
            self.assertEqual(samples["dovecot_migrate_errors_total"], 0)
            self.assertEqual(samples["dovecot_migrate_messages_left"], 0)
        # the live line returns once nothing is queued or importing
        watch = new.doveadm("migrate", "status", "-c", new.migrate_conf, "--watch")
        self.assertRegex(watch.stdout.decode(), r"^migrated 0/2 \| queued 0 importing 0 "
                         r"synced 2 failed 0 \| %d msgs [\d.]+ MB \| [\d.]+ msg/s "
                         r"[\d.]+ MB/s \| ETA 0:00:00 \| errors 0\n$" % messages)
        st = corpus.stats(corpus.generate(11, "small"))
        row = self.status(new, "-u", users[0])
        self.assertEqual((row["state"], row["passes"], row["messages"], row["last_error"]),
                         ("synced", "1", "%d/%d" % (st["messages"], st["messages"]), ""))
        # nothing left to do: a second run takes no job
        self.assertEqual(self.worker(new), {})
        self.assertIn("migrate worker: stopped; 0 synced, 0 migrated, 0 failed",
                      self.worker_log)

    def test_refused_credential_waits_for_the_next_login(self):
        user = "moved@" + DOMAIN
        legacy = self.legacy_server([user])
        new = self.captured(legacy, user, settings=MANUAL)
        newpw = self.password()
        legacy.add_user(user, newpw)
        results = self.worker(new)
        self.assertEqual(results[user][0], "failed")
        self.assertIn("AUTHENTICATIONFAILED", results[user][1])
        self.assertEqual(self.account(new, user), "failed imap %s 1" % DOMAIN)
        # not retried by the worker...
        self.assertEqual(self.worker(new), {})
        # ...but after the user logs in with the new password
        self.assertEqual(self.imap_login(new.port_imap, user, newpw)[0], "OK")
        procs.wait_for(lambda: self.account(new, user) == "queued imap %s 1" % DOMAIN,
                       10, "the account back in the queue")
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        self.assertTrue(self.identical(legacy, new, user))

    def test_legacy_down_fails_with_a_retry_time(self):
        user = "later@" + DOMAIN
        legacy = self.legacy_server([user])
        new = self.captured(legacy, user)
        legacy.stop()
        results = self.worker(new)
        self.assertEqual(results[user][0], "failed")
        self.assertIn("Connection refused", results[user][1])
        row = self.status(new, "-u", user)
        self.assertEqual((row["state"], row["attempts"]), ("failed", "1"))
        self.assertIn("Connection refused", row["last_error"])
        self.assertNotEqual(row["next_retry"], "")
        self.assertEqual(self.status(new)["errors"], "1")
        self.assertEqual(self.account(new, user), "failed imap %s 1" % DOMAIN)
        self.assertIn("%s: import failed (retry at " % user, self.worker_log)
        # the retry is a minute away: --once finds nothing to do now
        self.assertEqual(self.worker(new), {})

    def check_pop3_import(self, tls):
        """An account captured over POP3 is imported with pop3c: (through
        our TLS relay when the domain has TLS), keeps its UIDLs through
        the cut-over, and finish brings a late message once. dsync needs
        both sides' hierarchy separators spelled out (README)."""
        user = "pop@" + DOMAIN
        legacy, new = self.pop3_captured(user, tls)
        self.assertEqual(self.account(new, user), "queued pop3 %s 0" % DOMAIN)
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        p = legacy.pop3(user)
        old = (p.uidl()[1], [b"\n".join(p.retr(i)[1]) for i in range(1, 6)])
        p.quit()
        p = new.pop3(user, master=True)
        got = (p.uidl()[1], [b"\n".join(p.retr(i)[1]) for i in range(1, 6)])
        p.quit()
        self.assertEqual(got, old)
        # verify reads the legacy side over POP3 too: by content only
        out = new.doveadm("-f", "tab", "migrate", "verify", "-c", new.migrate_conf,
                          "-u", user)
        self.assertEqual(out.stdout.decode().splitlines()[1:], [])
        self.assertIn(b"1 folders, 5 legacy messages compared, 0 differences", out.stderr)
        # a later pass (the cut-over's, a second on) finds the same INBOX:
        # pop3c's UIDVALIDITY is kept in its index under the home
        self.assertTrue(os.path.isdir(os.path.join(os.path.dirname(new.maildir(user)),
                                                   ".dovecot-migrate", "pop3c")))
        time.sleep(1.1)
        out = new.doveadm("-f", "tab", "migrate", "cutover", "-c", new.migrate_conf,
                          "-u", user)
        self.assertEqual(out.stdout.decode().splitlines()[1:], [user + "\tmigrated\t"])
        p = new.pop3(user, master=True)
        self.assertEqual(p.uidl()[1], old[0])
        p.quit()
        c = legacy.imap(user)
        c.append("INBOX", None, None, b"Subject: late\r\n\r\nafter the flip\r\n")
        c.logout()
        for copied in (1, 0):
            out = new.doveadm("-f", "tab", "migrate", "finish", "-c", new.migrate_conf,
                              "--keep-credentials")
            self.assertEqual(out.stdout.decode().splitlines()[1:],
                             ["%s\t%d\tfinished\t" % (user, copied)])
        p = new.pop3(user, master=True)
        self.assertEqual(len(p.uidl()[1]), 6)
        self.assertEqual(b"\n".join(p.retr(6)[1]).split(b"\n")[-1], b"after the flip")
        p.quit()
        return legacy, new

    def test_pop3_account_imported_with_its_uidls(self):
        self.check_pop3_import("none")

    def test_pop3_account_of_a_starttls_domain_through_the_relay(self):
        """Dovecot 2.3.19's pop3c cannot STLS, and hangs over TLS: our
        relay does the TLS, and pop3c never talks to the legacy server."""
        legacy, new = self.check_pop3_import("starttls")
        # the importer's logins came over TLS (the relay's); the test's
        # own client logs in plain ("secured")
        logins = [line for line in legacy.log_text().splitlines()
                  if "pop3-login: Info: Login: user=<pop@" in line and
                  ", TLS," in line]
        self.assertGreater(len(logins), 5)

    def test_pop3_account_of_an_implicit_tls_domain_through_the_relay(self):
        self.check_pop3_import("tls")

    def test_pop3_relay_refuses_an_untrusted_certificate(self):
        """A legacy certificate the domain's ca_file does not vouch for:
        the import fails and says why; nothing is imported."""
        user = "pop@" + DOMAIN
        legacy, new = self.pop3_captured(user, "starttls")
        # captured with the right CA; then the config names another one
        foreign = tlsmod.make_ca_and_cert(os.path.join(self.root, "other-ca"))["ca"]
        with open(new.migrate_conf) as f:
            text = f.read()
        self.assertIn(legacy.tls["ca"], text)
        with open(new.migrate_conf, "w") as f:
            f.write(text.replace(legacy.tls["ca"], foreign))
        result, reason = self.worker(new)[user]
        self.assertEqual(result, "failed")
        self.assertEqual(reason, "POP3 TLS relay to 127.0.0.1:%d: TLS handshake "
                         "failed: certificate not trusted: unable to get local "
                         "issuer certificate" % legacy.port_pop3)
        cur = os.path.join(new.maildir(user), "cur")
        self.assertEqual(os.listdir(cur) if os.path.exists(cur) else [], [])

    def test_cutover_kicks_proxied_sessions_and_finishes_exactly(self):
        user = "switch@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 21)
        new = self.new(legacy, "starttls", settings=MANUAL)
        password = legacy.users[user]
        # not synced yet: refused, nothing changes
        self.assertEqual(self.imap_login(new.port_imap, user, password)[0], "OK")
        self.account(new, user)
        out = new.doveadm("migrate", "cutover", "-c", new.migrate_conf, "-u", user,
                          check=False)
        self.assertEqual(out.returncode, 65, out.stderr)
        self.assertIn(b"account %s is queued, not synced" % user.encode(), out.stderr)
        self.assertEqual(self.worker(new), {user: ["synced", ""]})

        # a session proxied to the legacy server, and mail arriving there
        res, session = self.imap_login(new.port_imap, user, password)
        self.assertEqual(res, "OK", session)
        session.select("INBOX")
        # the user works through the proxy: flags one message, deletes another
        first, second = session.uid("SEARCH", None, "NOT DELETED NOT FLAGGED")[1][0].split()[:2]
        session.uid("STORE", first, "+FLAGS.SILENT", "(\\Flagged $Urgente)")
        session.uid("STORE", second, "+FLAGS.SILENT", "(\\Deleted)")
        session.uid("EXPUNGE", second)
        c = legacy.imap(user)
        c.append("INBOX", None, None, b"Subject: late\r\n\r\narrived after the pass\r\n")
        c.logout()

        out = new.doveadm("-f", "tab", "migrate", "cutover", "-c", new.migrate_conf,
                          "-u", user.upper())
        self.assertEqual(out.stdout.decode().splitlines()[1:], [user + "\tmigrated\t"])
        self.assertNotIn(b"kicking proxied sessions failed", out.stderr)
        st = corpus.stats(corpus.generate(21, "small"))
        totals = self.status(new)
        # one late message in, one deleted
        self.assertEqual((totals["mailboxes_migrated"], totals["messages_migrated"],
                          totals["last_mailbox"], totals["migrated"], totals["synced"]),
                         ("1", str(st["messages"]), user, "1", "0"))
        self.assertEqual(self.account(new, user), "migrated imap %s 0" % DOMAIN)
        # the proxied session was kicked
        with self.assertRaises((imaplib.IMAP4.abort, OSError, EOFError)):
            session.noop()
            session.noop()
        # the local mailbox is exact: the late message, the flag, the deletion
        self.assertTrue(self.identical(legacy, new, user))
        c = new.imap(user, master=True)
        c.select("INBOX", readonly=True)
        self.assertIn(b"$Urgente", c.uid("FETCH", first, "(FLAGS)")[1][0])
        self.assertEqual(c.uid("SEARCH", None, "UID " + second.decode())[1][0], b"")
        c.logout()
        before = legacy.log_text().count("Login: user=<%s>" % user)
        res, c = self.imap_login(new.port_imap, user, password)
        self.assertEqual(res, "OK", c)
        typ, data = c.select("INBOX")
        self.assertEqual(c.search(None, 'SUBJECT "late"')[1][0], data[0])
        c.logout()
        self.assertEqual(legacy.log_text().count("Login: user=<%s>" % user), before)
        self.assertLogged(new, "account %s: local login (migrated)" % user)

    def test_manual_cutover_account_refreshed_until_cut_over(self):
        """cutover = manual: a synced account gets another pass resync_secs
        after its last one, so the operator's cut-over has little left."""
        user = "waits@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 22)
        new = self.captured(legacy, user, settings=dict(MANUAL, resync_secs="2"))
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        c = legacy.imap(user)
        c.append("INBOX", "(\\Seen)", None, b"Subject: later\r\n\r\nwhile synced\r\n")
        c.logout()
        # not due yet
        self.assertEqual(self.worker(new), {})
        time.sleep(2.2)
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        self.assertIn("%s: import pass done" % user, self.worker_log)
        self.assertEqual(self.status(new, "-u", user)["passes"], "2")
        self.assertTrue(self.identical(legacy, new, user))
        out = new.doveadm("-f", "tab", "migrate", "cutover", "-c", new.migrate_conf,
                          "-u", user)
        self.assertEqual(out.stdout.decode().splitlines()[1:], [user + "\tmigrated\t"])
        # the refresh still queued meets a migrated account: dropped
        time.sleep(2.2)
        self.assertEqual(self.worker(new), {})
        self.assertEqual(self.account(new, user), "migrated imap %s 0" % DOMAIN)

    def unflushed(self, new, user, boot="-"):
        """The account's unflushed-pass boot ("-"), or set it."""
        return subprocess.run([build.store_fixture(), new.store, "unflushed", user, boot],
                              capture_output=True, text=True, check=True).stdout.strip()

    def test_damaged_local_copy_is_copied_anew(self):
        """dsync passes write without fsync and the worker flushes after
        them. A pass that a machine crash interrupted (its unflushed mark
        from another boot) may have left damaged messages that no dsync
        pass notices; and a damage dsync does notice in INBOX makes it
        fail for good (it cannot delete INBOX to copy it again). Either
        way the local copy is moved aside and copied anew."""
        user = "torn@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 23)
        new = self.captured(legacy, user, settings=dict(MANUAL, resync_secs="1"))
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        self.assertEqual(self.unflushed(new, user), "0" * 32)
        c = new.imap(user, master=True)
        c.select("INBOX", readonly=True)
        first, second = c.uid("SEARCH", None, "ALL")[1][0].split()[:2]
        c.logout()

        # a message file that never got its bytes: Dovecot sees the size
        # is wrong, dsync wants INBOX anew
        os.truncate(new.message_file(user, first.decode()), 0)
        time.sleep(1.1)
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        self.assertIn("%s: discarding the local copy, it is copied anew: dsync cannot "
                      "repair it: Couldn't delete mailbox INBOX" % user, self.worker_log)
        self.assertIn("%s: local copy %s moved to %s.discarded-"
                      % (user, new.maildir(user), new.maildir(user)), self.worker_log)
        self.assertTrue(self.identical(legacy, new, user))
        self.assertEqual(len(glob.glob(new.maildir(user) + ".discarded-*")), 1)

        # bytes changed, size kept: a pass of this boot trusts the copy
        # (dsync compares UIDs and flags, not bytes)
        new.flip_body_byte(user, second.decode())
        time.sleep(1.1)
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        self.assertNotIn("discarding", self.worker_log)
        self.assertNotEqual(self.differences(legacy, new, user), [])
        # the same after a pass of another boot that never flushed
        self.unflushed(new, user, "0123456789abcdef" * 2)
        time.sleep(1.1)
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        self.assertIn("%s: discarding the local copy, it is copied anew: a pass of an "
                      "earlier boot never flushed it (the machine crashed)" % user,
                      self.worker_log)
        self.assertEqual(self.unflushed(new, user), "0" * 32)
        self.assertTrue(self.identical(legacy, new, user))

        # migrated: its local mail is the user's, never discarded
        time.sleep(1.1)
        out = new.doveadm("-f", "tab", "migrate", "cutover", "-c", new.migrate_conf,
                          "-u", user)
        self.assertEqual(out.stdout.decode().splitlines()[1:], [user + "\tmigrated\t"])
        out = new.doveadm("migrate", "flush", "-c", new.migrate_conf, "-D", "-u", user,
                          check=False)
        self.assertEqual(out.returncode, 75, out.stderr)
        self.assertIn(b"not discarded: account is migrated", out.stderr)
        self.assertTrue(self.identical(legacy, new, user))

    def test_auto_cutover_after_a_converged_pass(self):
        """cutover = auto (the default): a pass shorter than
        cutover_pass_secs has converged, and the account is cut over in the
        same job: proxied sessions kicked, a last pass, migrated."""
        user = "auto@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 31)
        new = self.new(legacy)
        password = legacy.users[user]
        res, session = self.imap_login(new.port_imap, user, password)
        self.assertEqual(res, "OK", session)
        session.select("INBOX")
        self.account(new, user)
        self.assertEqual(self.worker(new), {user: ["migrated", ""]})
        self.assertIn("migrate worker: stopped; 1 synced, 1 migrated, 0 failed",
                      self.worker_log)
        row = self.status(new, "-u", user)
        st = corpus.stats(corpus.generate(31, "small"))
        self.assertEqual((row["state"], row["passes"], row["messages"]),
                         ("migrated", "2", "%d/%d" % (st["messages"], st["messages"])))
        with self.assertRaises((imaplib.IMAP4.abort, OSError, EOFError)):
            session.noop()
            session.noop()
        self.assertTrue(self.identical(legacy, new, user))

    def test_auto_cutover_waits_for_a_short_pass(self):
        """cutover_pass_secs = 1 and an 80 MB mailbox read through a relay
        that holds each chunk 3 ms (the pass takes seconds, not the
        fraction of one it takes on loopback): the first pass is long, so
        another runs before the cut-over (whose last pass is one more)."""
        user = "slow@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 71, "big")
        proxy = self.own(CutProxy(legacy.port_imap, delay=0.003))
        new = self.captured(legacy, user, settings={"cutover_pass_secs": "1"},
                            domain_keys={"imap_port": proxy.port})
        self.assertEqual(self.worker(new), {user: ["migrated", ""]})
        row = self.status(new, "-u", user)
        self.assertEqual(row["state"], "migrated")
        # first pass, at least one more before the cut-over, the last one
        self.assertGreaterEqual(int(row["passes"]), 3, self.worker_log + str(proxy.from_server))
        self.assertLessEqual(int(row["passes"]), 6)
        self.assertTrue(self.identical(legacy, new, user))

    def test_kill_9_at_20_points_of_a_dsync_import(self):
        """The worker killed with -9 at 20 random moments (seeded) of a
        large import (its children die with it: the legacy count, the dsync
        pass written without fsync, the flush); the next worker resumes the
        job from its lease and the copy is exact: no gap, no duplicate, and
        nothing discarded (a killed process loses nothing of the page
        cache). The legacy server answers through a proxy that paces its
        chunks, so the import outlasts the kills."""
        user = "big@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 41, "big")
        proxy = self.own(CutProxy(legacy.port_imap, delay=0.003))
        new = self.captured(legacy, user, settings=MANUAL,
                            domain_keys={"imap_port": proxy.port})
        argv = new.wrapper + ["doveadm", "-c", new.conf, "migrate", "worker",
                              "-c", new.migrate_conf]
        log = os.path.join(self.root, "worker.log")
        rng = random.Random(41)
        kills = 0
        while kills < 20:
            worker = procs.Proc(argv, "worker", log_path=log)
            time.sleep(rng.uniform(0.1, 0.6))
            state = self.account(new, user).split()[0]
            os.kill(worker.pid, signal.SIGKILL)
            worker.popen.wait(10)
            worker.stop()
            if state not in ("queued", "importing"):
                break
            kills += 1
        self.assertEqual(kills, 20, "the import ended (%s: %s) after %d kills; worker "
                         "log:\n%s" % (state, self.status(new, "-u", user)["last_error"],
                                       kills, procs.read_text(log)[-3000:]))
        # each later worker took the dead one's job from its lease
        self.assertGreaterEqual(procs.read_text(log).count("resuming an interrupted import"),
                                15)
        results = self.worker(new)
        self.assertEqual(results, {user: ["synced", ""]})
        self.assertNotIn("discarding", procs.read_text(log) + self.worker_log)
        self.assertEqual(self.account(new, user), "synced imap %s 0" % DOMAIN)
        self.assertEqual(self.unflushed(new, user), "0" * 32)
        self.assertTrue(self.identical(legacy, new, user))

    def pool_processes(self, worker_pid):
        """The pids of a worker's import processes (`migrate pool`)."""
        pids = []
        for d in os.listdir("/proc"):
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    argv = f.read().split(b"\0")
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open("/proc/%d/stat" % ppid) as f:
                    grandparent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            # worker -> supervisor -> pool process
            if b"pool" in argv and grandparent == worker_pid:
                pids.append(int(d))
        return pids

    def test_kill_9_of_import_processes_costs_only_their_step(self):
        """The worker's import processes (its pool) killed with -9 at
        random moments (seeded) while three accounts import through a
        pacing proxy: each kill fails only the step that process ran (the
        pass is tried again, or the account waits for its retry time),
        the worker goes on with fresh processes, and once every account is
        synced each copy is exact: no gap, no duplicate."""
        users = ["k%d@%s" % (i, DOMAIN) for i in range(3)]
        legacy = self.legacy_with_corpora(users, 51)
        proxy = self.own(CutProxy(legacy.port_imap, delay=0.02))
        new = self.new(legacy, settings=MANUAL, domain_keys={"imap_port": proxy.port})
        for user in users:
            self.capture(new, legacy, user)
        argv = new.wrapper + ["doveadm", "-c", new.conf, "migrate", "worker",
                              "-c", new.migrate_conf, "-j", "3"]
        log = os.path.join(self.root, "worker.log")
        worker = procs.Proc(argv, "worker", log_path=log)
        rng = random.Random(52)
        kills = 0
        idle_since = time.monotonic()
        # until 6 kills, or no step left running to kill (every account
        # synced, or failed and waiting for its retry time)
        while kills < 6 and time.monotonic() - idle_since < 5:
            time.sleep(rng.uniform(0.05, 0.4))
            pool = self.pool_processes(worker.pid)
            if pool:
                os.kill(rng.choice(pool), signal.SIGKILL)
                kills += 1
                idle_since = time.monotonic()
        self.assertGreaterEqual(kills, 3, procs.read_text(log)[-3000:])
        self.assertTrue(worker.running(), procs.read_text(log)[-3000:])
        worker.stop()
        text = procs.read_text(log)
        self.assertIn("killed by signal 9", text)
        self.assertEqual(self.pool_processes(worker.pid), [])
        # what the kills left failed is taken up again, and finishes
        for user in users:
            new.doveadm("migrate", "retry", "-c", new.migrate_conf, "-u", user,
                        check=False)
        self.worker(new)
        for user in users:
            self.assertEqual(self.account(new, user).split()[0], "synced",
                             self.worker_log + text[-3000:])
            self.assertTrue(self.identical(legacy, new, user), user)

    def test_cutover_pass_skipped_only_while_the_legacy_mailbox_is_unchanged(self):
        """The cut-over makes no dsync pass when the legacy mailbox still
        shows what it showed when the last import pass began (folders,
        counts, UIDs, every message's flags); any change since (a flag
        set, a message delivered, through a direct legacy login) makes it
        pass, and the copy is exact either way."""
        users = ["still@" + DOMAIN, "flagged@" + DOMAIN, "grown@" + DOMAIN]
        legacy = self.legacy_with_corpora(users, 61)
        new = self.new(legacy, settings=MANUAL)
        for user in users:
            self.capture(new, legacy, user)
        self.assertEqual(self.worker(new), {u: ["synced", ""] for u in users})
        # a flag alone (no count changes), and a message
        c = legacy.imap("flagged@" + DOMAIN)
        c.select("INBOX")
        c.store("1", "+FLAGS", "(\\Flagged)")
        c.logout()
        c = legacy.imap("grown@" + DOMAIN)
        c.append("Sent", None, None, b"Subject: after the import\r\n\r\nlate\r\n")
        c.logout()
        for user, skipped in (("still@" + DOMAIN, True), ("flagged@" + DOMAIN, False),
                              ("grown@" + DOMAIN, False)):
            out = new.doveadm("-f", "tab", "migrate", "cutover", "-c", new.migrate_conf,
                              "-u", user)
            log = out.stderr.decode()
            self.assertEqual(out.stdout.decode().splitlines()[1:], [user + "\tmigrated\t"])
            self.assertEqual("no pass needed" in log, skipped, log)
            self.assertTrue(self.identical(legacy, new, user), user)

    def test_dropped_connection_retried_and_converged(self):
        """The legacy connection drops twice in the middle of the pass, and
        each time the server refuses the next connection too, so dsync's own
        reconnect fails: the worker tries the pass again and the copy is
        exact. (Without the refusal imapc reconnects by itself.)"""
        user = "flaky@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 51)
        proxy = self.own(CutProxy(legacy.port_imap, after_bytes=300000, cuts=2,
                                  refuse_after_cut=1))
        new = self.captured(legacy, user, settings=MANUAL,
                            domain_keys={"imap_port": proxy.port})
        self.assertEqual(self.worker(new), {user: ["synced", ""]}, self.worker_log)
        self.assertEqual(proxy.cut, 2)
        self.assertEqual(self.worker_log.count("pass failed, trying again"), 2)
        self.assertTrue(self.identical(legacy, new, user))

    def test_stalled_legacy_connection_stopped_and_retried(self):
        """The legacy server goes silent in the middle of the pass without
        closing the connection: after import_stall_secs with nothing read
        the worker stops the pass, says why, and the next pass converges."""
        user = "silent@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 53)
        proxy = self.own(CutProxy(legacy.port_imap, after_bytes=300000, stall=True))
        new = self.captured(legacy, user, settings=dict(MANUAL, import_stall_secs="3"),
                            domain_keys={"imap_port": proxy.port})
        started = time.monotonic()
        self.assertEqual(self.worker(new), {user: ["synced", ""]}, self.worker_log)
        self.assertEqual(proxy.cut, 1)
        self.assertGreaterEqual(time.monotonic() - started, 3)
        self.assertIn("%s: nothing read from the legacy server for 3 s: step "
                      "stopped" % user, self.worker_log)
        self.assertRegex(self.worker_log, r"pass failed, trying again: no progress "
                         r"for [34] s \(the legacy server stopped answering\?\): stopped")
        self.assertTrue(self.identical(legacy, new, user))

    def test_backs_off_a_throttling_legacy_host(self):
        """For 3 s the legacy host answers every connection NO [UNAVAILABLE]:
        the import is put back, not failed (no attempt, no error counted);
        the host gets one import at a time and no new one for 2 s, then (the
        next try still refused) 4 s. Answers of one moment (the job's legacy
        counts and its pass both refused) pause the host once. When it
        answers again the import runs and the host gets its second slot
        back."""
        user = "busy@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 57)
        proxy = self.own(CutProxy(legacy.port_imap))
        new = self.captured(legacy, user, settings=MANUAL,
                            domain_keys={"imap_port": proxy.port})
        proxy.busy_until = time.monotonic() + 3.0
        self.assertEqual(self.worker(new), {user: ["synced", ""]}, self.worker_log)
        self.assertGreaterEqual(proxy.busy_answered, 2)
        log = self.worker_log
        self.assertEqual(log.count("legacy host 127.0.0.1 is throttling"), 2, log)
        self.assertEqual(log.count("deferred, legacy host 127.0.0.1 backs off"), 2, log)
        self.assertIn("[UNAVAILABLE] Too many connections", log)
        self.assertIn("1 imports at once, none new for 2 s", log)
        self.assertIn("1 imports at once, none new for 4 s", log)
        self.assertIn("legacy host 127.0.0.1 recovering: 2 imports at once", log)
        self.assertEqual(self.account(new, user), "synced imap %s 0" % DOMAIN)
        self.assertEqual(self.status(new)["errors"], "0")
        self.assertTrue(self.identical(legacy, new, user))

    def test_bandwidth_cap_per_import(self):
        """import_kbytes_per_sec = 1000: the worker's doveadm children read
        the legacy server at most 1 MB/s each (migrate-pace.so), so a pass
        over 3 MB takes about 3 s; the copy is exact."""
        user = "capped@" + DOMAIN
        legacy = self.legacy_server([user])
        rng = random.Random(59)
        c = legacy.imap(user)
        for i in range(6):
            body = base64.encodebytes(rng.randbytes(375000)).replace(b"\n", b"\r\n")
            c.append("INBOX", None, None, b"Subject: part %d\r\n\r\n%s" % (i, body))
        c.logout()
        proxy = self.own(CutProxy(legacy.port_imap))
        new = self.captured(legacy, user, settings=dict(MANUAL, import_kbytes_per_sec="1000"),
                            domain_keys={"imap_port": proxy.port})
        started = time.monotonic()
        self.assertEqual(self.worker(new), {user: ["synced", ""]}, self.worker_log)
        elapsed = time.monotonic() - started
        self.assertNotIn("Error:", self.worker_log)
        received = proxy.from_server
        self.assertGreater(received, 3000000)
        # one quarter second of burst per process, and the pass holds most
        self.assertGreaterEqual(elapsed, 0.8 * received / 1e6,
                                "%d bytes in %.2f s" % (received, elapsed))
        self.assertTrue(self.identical(legacy, new, user))

    def test_fewer_imports_against_a_slow_legacy_host(self):
        """Counting the legacy folders takes longer than legacy_slow_secs:
        the host is slow, and gets one import at a time."""
        user = "slowhost@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 58)
        proxy = self.own(CutProxy(legacy.port_imap))
        new = self.captured(legacy, user, settings=dict(MANUAL, legacy_slow_secs="1"),
                            domain_keys={"imap_port": proxy.port})
        proxy.delay = 0.1
        self.assertEqual(self.worker(new), {user: ["synced", ""]}, self.worker_log)
        self.assertIn("legacy host 127.0.0.1 is slow (counting its folders took long): "
                      "1 imports at once", self.worker_log)
        self.assertTrue(self.identical(legacy, new, user))

    def test_imports_per_legacy_host(self):
        """imports_per_legacy_host = 1: with room for three jobs, the worker
        still runs one import at a time against the one legacy host."""
        users = ["h%d@%s" % (i, DOMAIN) for i in range(3)]
        legacy = self.legacy_with_corpora(users, 61)
        new = self.new(legacy, settings=dict(MANUAL, imports_per_legacy_host="1"))
        for user in users:
            self.assertEqual(self.imap_login(new.port_imap, user, legacy.users[user])[0], "OK")
            self.account(new, user)
        self.assertEqual(self.worker(new, "-j", "3"),
                         {u: ["synced", ""] for u in users})
        self.assertIn("deferred, legacy host 127.0.0.1 runs 1 imports", self.worker_log)
        # each import starts only after the one before it is done
        running = 0
        for line in self.worker_log.splitlines():
            if ": import started" in line:
                running += 1
                self.assertEqual(running, 1, self.worker_log)
            elif "import pass done" in line:
                running -= 1
        for user in users:
            self.assertTrue(self.identical(legacy, new, user), user)

    def test_worker_under_valgrind(self):
        """The doveadm plugin's worker and its import processes (where the
        passes, counts and the cut-over run) under valgrind, one account
        migrated and one refused: no memory errors, no leaks."""
        users = ["vg1@" + DOMAIN, "vg2@" + DOMAIN]
        legacy = self.legacy_server(users)
        c = legacy.imap(users[0])
        corpus.load_imap(c, corpus.generate(5, "small"))
        c.logout()
        new = self.new(legacy)
        for user in users:
            self.assertEqual(self.imap_login(new.port_imap, user, legacy.users[user])[0], "OK")
            self.account(new, user)
        legacy.add_user(users[1], self.password())
        out = subprocess.run(new.wrapper + [
            "valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect",
            # the import processes too (exec'd doveadm); not the
            # supervisors, forks that end with _exit() holding the
            # worker's heap
            "--trace-children=yes", "--child-silent-after-fork=yes",
            "--vgdb=no", "--suppressions=" + os.path.join(
                os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                "valgrind.supp"),
            "doveadm", "-c", new.conf,
            "-f", "tab", "migrate", "worker", "-c", new.migrate_conf, "--once"],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        rows = sorted(line.split("\t")[:2] for line in out.stdout.splitlines()[1:])
        self.assertEqual(rows, [[users[0], "migrated"], [users[1], "failed"]])
        self.assertNotIn("==", out.stderr)  # valgrind -q prints only errors
