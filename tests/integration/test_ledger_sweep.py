"""The ledger copier (`doveadm migrate sweep`), `finish`, and the copier as
the import engine of local and refuse modes (issue 5, after cut-over)."""
import hashlib
import imaplib
import os
import random
import signal
import subprocess
import time

from harness import build, corpus, procs
from integration.test_import_worker import ImportCase, MANUAL
from integration.test_login_capture import DOMAIN

LATE = (b"From: late@example.org\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\n"
        b"\r\nArrived on the legacy server after the cut-over.\r\n")


def sweep_rows(out):
    """{folder: (copied, known)} of `sweep -f tab`."""
    rows = [line.split("\t") for line in out.stdout.decode().splitlines()[1:]]
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


class LedgerSweepTest(ImportCase):

    def sweep(self, new, user, *args):
        out = new.doveadm("-f", "tab", "migrate", "sweep", "-c", new.migrate_conf,
                          "-u", user, *args, check=False)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        return sweep_rows(out)

    def local(self, new, user):
        """An IMAP session on the new server's local mailbox (master login)."""
        c = imaplib.IMAP4("127.0.0.1", new.port_imap, timeout=60)
        c.login("%s*%s" % (user, new.master_user), new.master_password)
        return c

    def messages(self, c, folder, criterion):
        """[(uid, flags, internaldate)] of the messages matching criterion."""
        typ, _ = c.select('"%s"' % folder, readonly=True)
        self.assertEqual(typ, "OK", folder)
        uids = c.uid("SEARCH", None, criterion)[1][0].split()
        out = []
        for uid in uids:
            data = c.uid("FETCH", uid, "(FLAGS INTERNALDATE)")[1][0].decode()
            out.append((int(uid), data))
        return out

    def migrated(self, legacy, new, user, seed):
        c = legacy.imap(user)
        corpus.load_imap(c, corpus.generate(seed, "small"))
        c.logout()
        self.capture(new, legacy, user)
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        out = new.doveadm("-f", "tab", "migrate", "cutover", "-c", new.migrate_conf,
                          "-u", user)
        self.assertEqual(out.stdout.decode().splitlines()[1:], [user + "\tmigrated\t"])

    def test_sweep_copies_only_what_arrived_after_the_cutover(self):
        user = "late@" + DOMAIN
        legacy = self.legacy_server([user])
        new = self.new(legacy, settings=MANUAL)
        self.migrated(legacy, new, user, 51)

        # the user works locally: deletes a message dsync placed, flags another
        c = self.local(new, user)
        c.select("INBOX")
        gone, kept = c.uid("SEARCH", None, "NOT ANSWERED NOT DELETED")[1][0].split()[:2]
        c.uid("STORE", gone, "+FLAGS.SILENT", "(\\Deleted)")
        c.uid("EXPUNGE", gone)
        c.uid("STORE", kept, "+FLAGS.SILENT", "(\\Answered)")
        c.logout()
        # mail still reaches the legacy server, in an old and a new folder
        c = legacy.imap(user)
        c.append("INBOX", "(\\Flagged $Work)", '"01-Feb-2021 10:11:12 +0000"',
                 LATE % (b"late one", b"late1"))
        c.append("INBOX", None, None, LATE % (b"late two", b"late2"))
        c.create('"Novos&AOk-"')
        c.append('"Novos&AOk-"', "(\\Seen)", None, LATE % (b"late three", b"late3"))
        c.logout()

        rows = self.sweep(new, user)
        self.assertEqual(rows["INBOX"][0], 2)
        self.assertEqual(rows["Novos\u00e9"], (1, 0))
        self.assertEqual(sum(r[0] for r in rows.values()), 3, rows)

        c = self.local(new, user)
        late = self.messages(c, "INBOX", 'SUBJECT "late one"')
        self.assertEqual(len(late), 1)
        self.assertIn("\\Flagged", late[0][1])
        self.assertIn("$Work", late[0][1])
        self.assertIn('INTERNALDATE "01-Feb-2021 10:11:12 +0000"', late[0][1])
        self.assertEqual(len(self.messages(c, "INBOX", 'SUBJECT "late two"')), 1)
        (third,) = self.messages(c, "Novos&AOk-", "ALL")
        self.assertIn("\\Seen", third[1])
        # nothing local was undone: the deleted message stays deleted
        self.assertEqual(self.messages(c, "INBOX", "UID " + gone.decode()), [])
        self.assertIn("\\Answered", self.messages(c, "INBOX", "UID " + kept.decode())[0][1])
        c.logout()

        # a second sweep copies nothing
        rows = self.sweep(new, user)
        self.assertEqual(sum(r[0] for r in rows.values()), 0, rows)
        c = self.local(new, user)
        self.assertEqual(len(self.messages(c, "INBOX", 'SUBJECT "late one"')), 1)
        c.logout()

    def finish(self, new, *args, code=0):
        """{account: (copied, result, reason)} of `finish -f tab`."""
        out = new.doveadm("-f", "tab", "migrate", "finish", "-c", new.migrate_conf,
                          *args, check=False)
        self.assertEqual(out.returncode, code, out.stderr.decode())
        self.finish_log = out.stderr.decode()
        rows = [line.split("\t") for line in out.stdout.decode().splitlines()[1:]]
        return {r[0]: (int(r[1]), r[2], r[3]) for r in rows}

    def test_finish_once_with_maxage_then_wipes_credentials(self):
        user, other = "fin@" + DOMAIN, "waiting@" + DOMAIN
        legacy = self.legacy_server([user, other])
        new = self.new(legacy, settings=MANUAL)
        self.migrated(legacy, new, user, 61)
        # another account is still queued: finish leaves it alone
        self.assertEqual(self.imap_login(new.port_imap, other, legacy.users[other])[0],
                         "OK")
        self.account(new, other)
        c = legacy.imap(user)
        c.append("INBOX", None, '"03-Mar-2019 08:00:00 +0000"', LATE % (b"old one", b"old"))
        c.append("INBOX", None, None, LATE % (b"new one", b"new"))
        c.logout()

        # the last week only, credentials kept: the recent message
        self.assertEqual(self.finish(new, "--maxage", "7", "--keep-credentials"),
                         {user: (1, "finished", "")})
        self.assertIn("1 accounts finished, 0 failed, 0 finished earlier, "
                      "1 not migrated yet", self.finish_log)
        # everything: the older one too, and only it; then the credential goes
        self.assertEqual(self.finish(new), {user: (1, "finished", "")})
        c = self.local(new, user)
        for subject in ("old one", "new one"):
            self.assertEqual(len(self.messages(c, "INBOX", 'SUBJECT "%s"' % subject)), 1)
        c.logout()
        self.assertNotIn("imapc_", new.doveadm("user", user).stdout.decode())
        self.assertIn("imapc_user", new.doveadm("user", other).stdout.decode())
        self.assertEqual(self.account(new, other).split()[0], "queued")
        # a finished account is passed by
        self.assertEqual(self.finish(new), {})
        self.assertIn("0 accounts finished, 0 failed, 1 finished earlier", self.finish_log)
        # and it logs in locally, the legacy server never asked
        before = self.legacy_logins(legacy, user)
        res, c = self.imap_login(new.port_imap, user, legacy.users[user])
        self.assertEqual(res, "OK", c)
        c.logout()
        self.assertEqual(self.legacy_logins(legacy, user), before)

    def test_worker_sweeps_after_the_cutover(self):
        """sweep_after_secs after an automatic cut-over the worker sweeps
        the account once: mail the legacy server got in the window."""
        user = "window@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 81)
        new = self.captured(legacy, user, settings={"sweep_after_secs": "2"})
        self.assertEqual(self.worker(new), {user: ["migrated", ""]})
        # relayed to the legacy server during the window
        c = legacy.imap(user)
        c.append("INBOX", None, None, LATE % (b"in the window", b"window"))
        c.logout()
        time.sleep(2.5)
        self.assertEqual(self.worker(new), {user: ["swept", ""]})
        self.assertIn("%s: swept, 1 messages copied" % user, self.worker_log)
        self.assertIn("0 failed, 1 swept", self.worker_log)
        c = self.local(new, user)
        self.assertEqual(len(self.messages(c, "INBOX", 'SUBJECT "in the window"')), 1)
        c.logout()
        # swept once: nothing more to do
        self.assertEqual(self.worker(new), {})
        self.assertTrue(self.identical(legacy, new, user))

    def test_local_mode_imports_with_the_copier(self):
        """mode = local: the user works on the new server while the import
        runs; the passes are the ledger copier's, so what the user did
        locally stays, and every legacy message arrives once."""
        user = "here@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 91)
        settings = dict(MANUAL, mode="local")
        new = self.new(legacy, settings=settings)
        res, c = self.imap_login(new.port_imap, user, legacy.users[user])
        self.assertEqual(res, "OK", c)
        # the user's own mail, before any import
        c.append("INBOX", "(\\Seen)", None, b"Subject: mine\r\n\r\nwritten here\r\n")
        c.logout()
        self.account(new, user)
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        inbox = len(next(f for f in corpus.generate(91, "small")
                         if f.name == "INBOX").messages)
        c = self.local(new, user)
        self.assertEqual(len(self.messages(c, "INBOX", 'SUBJECT "mine"')), 1)
        c.logout()
        # every legacy message arrived once, flags and dates as they were
        diffs = self.differences(legacy, new, user, ignore_uids=True)
        only_new = [d for d in diffs if "only in new" in d]
        self.assertEqual([d for d in diffs if d not in only_new], [])
        self.assertEqual(len(only_new), 1, diffs)   # "mine"
        # the user deletes one imported message; a new one reaches legacy
        c = self.local(new, user)
        c.select("INBOX")
        gone = c.uid("SEARCH", None, 'NOT DELETED NOT SUBJECT "mine"')[1][0].split()[0]
        c.uid("STORE", gone, "+FLAGS.SILENT", "(\\Deleted)")
        c.uid("EXPUNGE", gone)
        c.logout()
        c = legacy.imap(user)
        c.append("INBOX", None, None, LATE % (b"while local", b"local"))
        c.logout()
        out = new.doveadm("-f", "tab", "migrate", "cutover", "-c", new.migrate_conf,
                          "-u", user)
        self.assertEqual(out.stdout.decode().splitlines()[1:], [user + "\tmigrated\t"])
        c = self.local(new, user)
        self.assertEqual(len(self.messages(c, "INBOX", 'SUBJECT "while local"')), 1)
        self.assertEqual(len(self.messages(c, "INBOX", 'SUBJECT "mine"')), 1)
        # legacy's, "mine", "while local", less the deleted one
        self.assertEqual(c.select("INBOX", readonly=True)[1][0], str(inbox + 1).encode())
        c.logout()

    def test_kill_9_at_20_points_of_a_copier_import(self):
        """mode = local, an 80 MB mailbox: the worker is killed with -9 at
        20 random moments of the copier's import (its sweep child dies with
        it, between any two steps: before a batch's pending records, between
        them and the local commit, between the commit and the confirmed
        records); the next worker resumes, and the result has every legacy
        message exactly once. The kills come while the import runs at any
        machine's speed: the legacy server is read at 4 MB/s until the last
        worker, so no window (at most 0.6 s) completes a batch of the huge
        messages (32 MB); on a fast machine, uncapped, the import ended
        after 5 kills."""
        user = "crash@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 101, "big")
        new = self.captured(legacy, user, settings=dict(MANUAL, mode="local",
                                                        import_kbytes_per_sec="4000"))
        argv = new.wrapper + ["doveadm", "-c", new.conf, "migrate", "worker",
                              "-c", new.migrate_conf]
        log = os.path.join(self.root, "worker.log")
        rng = random.Random(101)
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
        self.assertEqual(kills, 20, "the import ended (%s) after %d kills" % (state, kills))
        with open(new.migrate_conf) as f:
            conf = f.read()
        self.assertIn("import_kbytes_per_sec = 4000\n", conf)
        with open(new.migrate_conf, "w") as f:
            f.write(conf.replace("import_kbytes_per_sec = 4000\n", ""))
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        self.assertEqual(self.differences(legacy, new, user, ignore_uids=True), [])

    def test_pending_records_of_a_killed_sweep_resolved(self):
        """A sweep killed after its batch's pending records: one message
        whose local save had committed (found by its content from the
        recorded UIDNEXT on, and confirmed, not copied again; its flags and
        keywords set again from the legacy message, since a kill between
        Maildir's message and keywords files leaves them unnamed), one whose
        save never committed (dropped and copied)."""
        user = "pending@" + DOMAIN
        legacy = self.legacy_server([user])
        msgs = [LATE % (b"pending %d" % i, b"pending%d" % i) for i in (1, 2, 3)]
        # one date for the legacy message and the killed sweep's copy (the
        # verifier compares dates)
        date = imaplib.Time2Internaldate(time.time())
        c = legacy.imap(user)
        for m in msgs:
            c.append("INBOX", "(\\Seen $Label1)", date, m)
        uidvalidity = c.select("INBOX")[1] and c.response("UIDVALIDITY")[1][0].decode()
        c.logout()
        new = self.captured(legacy, user, settings=dict(MANUAL, mode="local"))
        # the killed sweep's committed copy of the second message, its
        # keywords lost
        c = self.local(new, user)
        c.append("INBOX", None, date, msgs[1])
        c.logout()
        for uid in (2, 3):
            digest = hashlib.sha256(msgs[uid - 1].replace(b"\r\n", b"\n")).hexdigest()
            subprocess.run([build.store_fixture(), new.store, "pending", user,
                            "INBOX %s %d 1 %s" % (uidvalidity, uid, digest)],
                           check=True, capture_output=True)
        out = new.doveadm("-f", "tab", "migrate", "sweep", "-c", new.migrate_conf,
                          "-u", user)
        self.assertEqual(sweep_rows(out)["INBOX"], (2, 1))
        self.assertIn("an interrupted sweep's 2 messages checked", out.stderr.decode())
        self.assertEqual(self.differences(legacy, new, user, ignore_uids=True), [])
        self.assertEqual(self.sweep(new, user)["INBOX"], (0, 3))

    def test_pop3_account_finished_by_content(self):
        """A POP3 account: dsync's copies carry no ledger keys (their UIDLs
        are the legacy server's, their UIDs local), so the first sweep
        matches legacy messages by content; only the one that arrived after
        the cut-over is copied, and its UIDL is remembered."""
        user = "popfin@" + DOMAIN
        legacy, new = self.pop3_captured(user)
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        out = new.doveadm("-f", "tab", "migrate", "cutover", "-c", new.migrate_conf,
                          "-u", user)
        self.assertEqual(out.stdout.decode().splitlines()[1:], [user + "\tmigrated\t"])
        # nothing new yet: every legacy message is known by its content
        # (a batch with nothing to confirm once crashed the sweep)
        self.assertEqual(self.sweep(new, user)["INBOX"], (0, 5))
        c = legacy.imap(user)
        c.append("INBOX", None, None, LATE % (b"pop late", b"poplate"))
        c.logout()
        self.assertEqual(self.finish(new, "--keep-credentials"),
                         {user: (1, "finished", "")})
        self.assertEqual(self.sweep(new, user)["INBOX"], (0, 6))
        p = new.pop3(user, master=True)
        bodies = [b"\n".join(p.retr(i)[1]) for i in range(1, len(p.list()[1]) + 1)]
        p.quit()
        self.assertEqual(len(bodies), 6)
        self.assertEqual(sum(1 for b in bodies if b"Subject: pop late" in b), 1)
