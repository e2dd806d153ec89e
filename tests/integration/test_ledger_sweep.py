"""The ledger copier (`doveadm migrate sweep`), `finish`, and the copier as
the import engine of local and refuse modes (issue 5, after cut-over)."""
import imaplib
import subprocess

from harness import build, corpus, verify
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
        self.assertEqual(self.imap_login(new.port_imap, user, legacy.users[user])[0], "OK")
        self.account(new, user)
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
