"""doveadm migrate list, retry and forget (issue 6): the operator's view of
the accounts, and the two ways to act on one."""
import json
import subprocess

from harness import build
from integration.test_import_worker import ImportCase, MANUAL
from integration.test_login_capture import DOMAIN


class AccountCommandsTest(ImportCase):

    def run_cmd(self, new, *args, fmt="tab"):
        """(exit code, rows as dicts, stderr) of a doveadm migrate command."""
        out = new.doveadm("-f", fmt, "migrate", args[0], "-c", new.migrate_conf,
                          *args[1:], check=False)
        lines = out.stdout.decode().splitlines()
        rows = []
        if lines:
            header = lines[0].split("\t")
            rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
        return out.returncode, rows, out.stderr.decode()

    def fixture_accounts(self, new, states):
        """Accounts made directly in the store: {address: state}."""
        for address, state in states.items():
            subprocess.run([build.store_fixture(), "-u", "dovecot", new.store,
                            "account", address, "queued"], capture_output=True, check=True)
            # failed comes from importing
            for step in (["importing", "failed"] if state == "failed" else [state]):
                if step != "queued":
                    self.set_state(new, address, step)

    def test_list_and_retry(self):
        legacy = self.legacy_server(["real@" + DOMAIN])
        new = self.new(legacy, settings=MANUAL)
        states = {"a-queued@" + DOMAIN: "queued", "b-failed@" + DOMAIN: "failed",
                  "c-synced@" + DOMAIN: "synced", "d-failed@" + DOMAIN: "failed",
                  "e-migrated@" + DOMAIN: "migrated"}
        self.fixture_accounts(new, states)
        rc, rows, err = self.run_cmd(new, "list")
        self.assertEqual(rc, 0, err)
        self.assertEqual([(r["account"], r["state"]) for r in rows], sorted(states.items()))
        self.assertEqual(set(rows[0]), {"account", "state", "protocol", "created", "updated",
                                        "passes", "folders", "messages", "bytes",
                                        "attempts", "next_retry", "last_error"})
        rc, rows, err = self.run_cmd(new, "list", "-s", "failed")
        self.assertEqual([r["account"] for r in rows], ["b-failed@" + DOMAIN,
                                                        "d-failed@" + DOMAIN])
        rc, rows, err = self.run_cmd(new, "list", "-s", "bogus")
        self.assertEqual((rc, rows), (64, []))
        self.assertIn("migrate list: unknown state 'bogus'", err)

        # one failed account, by name (any case), then every failed one
        rc, rows, err = self.run_cmd(new, "retry", "-u", "B-Failed@" + DOMAIN.upper())
        self.assertEqual((rc, rows), (0, [{"account": "b-failed@" + DOMAIN,
                                           "result": "queued"}]), err)
        self.assertEqual(self.account(new, "b-failed@" + DOMAIN).split()[0], "queued")
        rc, rows, err = self.run_cmd(new, "retry", "-u", "c-synced@" + DOMAIN)
        self.assertEqual((rc, rows), (65, [{"account": "c-synced@" + DOMAIN,
                                            "result": "not queued"}]))
        self.assertIn("c-synced@%s is synced, not failed" % DOMAIN, err)
        rc, rows, err = self.run_cmd(new, "retry", "--failed")
        self.assertEqual((rc, rows), (0, [{"account": "d-failed@" + DOMAIN,
                                           "result": "queued"}]), err)
        rc, rows, err = self.run_cmd(new, "list", "-s", "failed")
        self.assertEqual(rows, [])
        rc, rows, err = self.run_cmd(new, "retry")
        self.assertEqual(rc, 64)
        self.assertIn("migrate retry: -u ACCOUNT is required", err)

    def test_retry_imports_a_failed_account_now(self):
        """The legacy server was down: the import failed with a retry time
        a minute away. Once it is back, retry has the worker import it at
        once."""
        user = "later@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 71)
        new = self.captured(legacy, user, settings=MANUAL)
        legacy.stop()
        self.assertEqual(self.worker(new)[user][0], "failed")
        legacy.start()
        self.assertEqual(self.worker(new), {})
        rc, rows, err = self.run_cmd(new, "retry", "-u", user)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        self.assertTrue(self.identical(legacy, new, user))

    def test_forget(self):
        """forget removes the account and its secrets; the next login is a
        first login again (checked on the legacy server, recorded anew).
        Not while a worker is on it."""
        user = "again@" + DOMAIN
        legacy = self.legacy_server([user])
        new = self.captured(legacy, user, settings=MANUAL)
        logins = legacy.log_text().count("Login: user=<%s>" % user)
        rc, rows, err = self.run_cmd(new, "forget", "-u", user)
        self.assertEqual((rc, rows), (0, [{"account": user, "was": "queued"}]), err)
        self.assertIn("migrate forget: %s: forgotten (was queued); its local mail is "
                      "left as it is" % user, err)
        self.assertEqual(self.account(new, user, settle=False), "none")
        rc, rows, err = self.run_cmd(new, "forget", "-u", user)
        self.assertEqual((rc, rows), (67, []))
        self.assertIn("migrate forget: no account %s" % user, err)
        # a first login again: the legacy server is asked (and the session
        # proxied there)
        self.capture(new, legacy, user)
        self.assertGreater(legacy.log_text().count("Login: user=<%s>" % user), logins)
        self.assertEqual(self.account(new, user).split()[0], "queued")

        self.fixture_accounts(new, {"busy@" + DOMAIN: "importing"})
        rc, rows, err = self.run_cmd(new, "forget", "-u", "busy@" + DOMAIN)
        self.assertEqual((rc, rows), (65, []))
        self.assertIn("busy@%s is importing: a worker or a cut-over is on it" % DOMAIN, err)
        self.assertEqual(self.account(new, "busy@" + DOMAIN).split()[0], "importing")
        rc, rows, err = self.run_cmd(new, "forget", "-u", "not-an-address")
        self.assertEqual(rc, 64)

    def test_verify(self):
        """verify: nothing to report after an exact import; then a flag set
        on the legacy side, a message that reached it late, and a message
        of the user's own on the new side, each named."""
        user = "check@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 73)
        new = self.captured(legacy, user, settings=MANUAL)
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        rc, rows, err = self.run_cmd(new, "verify", "-u", user)
        self.assertEqual((rc, rows), (0, []), err)
        self.assertRegex(err, r"migrate verify: %s: [1-9]\d* folders, [1-9]\d* legacy "
                         r"messages compared, 0 differences" % user)

        c = legacy.imap(user)
        c.select("INBOX")
        uid = c.uid("SEARCH", None, "NOT FLAGGED")[1][0].split()[0].decode()
        c.uid("STORE", uid, "+FLAGS.SILENT", "(\\Flagged)")
        c.append("INBOX", None, None, b"Subject: late\r\n\r\nafter the pass\r\n")
        late = c.uid("SEARCH", None, 'SUBJECT "late"')[1][0].decode()
        c.logout()
        c = new.imap(user, master=True)
        c.append("Sent", None, None, b"Subject: mine\r\n\r\nwritten here\r\n")
        c.select("Sent", readonly=True)
        mine = c.uid("SEARCH", None, 'SUBJECT "mine"')[1][0].decode()
        c.logout()
        rc, rows, err = self.run_cmd(new, "verify", "-u", user)
        self.assertEqual(rc, 65, err)
        by_kind = {r["difference"]: r for r in rows}
        self.assertEqual(len(rows), 3, rows)
        flags = by_kind["flags"]
        self.assertEqual((flags["folder"], flags["legacy_uid"], flags["local_uid"]),
                         ("INBOX", uid, uid))
        legacy_flags, local_flags = flags["detail"].split(") local (")
        self.assertIn("\\Flagged", legacy_flags)
        self.assertNotIn("\\Flagged", local_flags)
        self.assertEqual((by_kind["missing"]["folder"], by_kind["missing"]["legacy_uid"],
                          by_kind["missing"]["local_uid"]), ("INBOX", late, ""))
        self.assertEqual((by_kind["local-only"]["folder"], by_kind["local-only"]["local_uid"]),
                         ("Sent", mine))
        self.assertIn("3 differences", err)
        # json parses
        out = new.doveadm("-f", "json", "migrate", "verify", "-c", new.migrate_conf,
                          "-u", user, check=False)
        self.assertEqual(len(json.loads(out.stdout.decode())), 3)
        # cut over (the last pass takes the late message and the flag; the
        # local message written while proxied goes): then the user's new
        # mail and flag changes are no differences, a lost message still is
        out = new.doveadm("-f", "tab", "migrate", "cutover", "-c", new.migrate_conf,
                          "-u", user)
        self.assertEqual(out.stdout.decode().splitlines()[1:], [user + "\tmigrated\t"])
        c = new.imap(user, master=True)
        c.append("INBOX", None, None, b"Subject: new mail\r\n\r\nafter the flip\r\n")
        c.select("INBOX")
        c.uid("STORE", uid, "-FLAGS.SILENT", "(\\Flagged)")
        c.uid("STORE", late, "+FLAGS.SILENT", "(\\Deleted)")
        c.uid("EXPUNGE", late)
        c.logout()
        rc, rows, err = self.run_cmd(new, "verify", "-u", user)
        self.assertEqual(rc, 65, err)
        self.assertEqual([(r["difference"], r["legacy_uid"]) for r in rows],
                         [("missing", late)])
        self.assertIn("1 differences (migrated: flags not compared, 1 local "
                      "messages of its own)", err)
