"""doveadm migrate add (issue 6): accounts recorded by hand from a
user:password[:domain] list, the CSV account template or -u with the
password on standard input; every bad line named by its number while the
good ones are processed; no password in any output or log."""
import os
import re
import subprocess

from harness import build
from integration.test_import_worker import ImportCase, MANUAL
from integration.test_login_capture import DOMAIN


class AddCommandTest(ImportCase):

    def add(self, new, *args, input=None):
        """(exit code, rows as dicts, stdout+stderr text) of migrate add."""
        out = new.doveadm("-f", "tab", "migrate", "add", "-c", new.migrate_conf,
                          *args, input=input, check=False)
        text = out.stdout.decode() + out.stderr.decode()
        lines = out.stdout.decode().splitlines()
        rows = [dict(zip(lines[0].split("\t"), line.split("\t")))
                for line in lines[1:]] if lines else []
        return out.returncode, rows, text

    def write(self, name, text):
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def state(self, new, address):
        return self.account(new, address, settle=False).split()[0]

    def assertNoSecret(self, new, text, secrets):
        logs = text + new.log_text()
        if os.path.exists(os.path.join(new.dir, "migrate.log")):
            with open(os.path.join(new.dir, "migrate.log")) as f:
                logs += f.read()
        for secret in secrets:
            self.assertNotIn(secret, logs)

    def test_file_errors_name_their_lines(self):
        legacy = self.legacy_server(["ana@" + DOMAIN])
        new = self.new(legacy, settings=MANUAL,
                       operator_users={"own@" + DOMAIN: "Own-pass-1"})
        subprocess.run([build.store_fixture(), "-u", "dovecot", new.store, "account",
                        "known@" + DOMAIN, "queued"], capture_output=True, check=True)
        path = self.write("users.txt", "\n".join([
            "# IceWarp's format",
            "ana@%s:Secret-ana1" % DOMAIN,       # 2 good
            "bob:Secret:bob2:%s" % DOMAIN,       # 3 good, ':' in the password
            "nopassword",                        # 4 missing field
            "carl@elsewhere.test:Secret-carl3",  # 5 not a migrating domain
            "ANA@%s:Secret-ana4" % DOMAIN,       # 6 duplicate of line 2
            "known@%s:Secret-known5" % DOMAIN,   # 7 in the store already
            "own@%s:Secret-own6" % DOMAIN,       # 8 an operator account
            "dan:Secret-dan7:%s" % DOMAIN,       # 9 good
            "eve@a.test:Secret-eve8:b.test",     # 10 user and domain disagree
        ]) + "\n")
        rc, rows, text = self.add(new, "-F", path)
        self.assertEqual(rc, 65, text)
        by_line = {r["line"]: r for r in rows}
        self.assertEqual(sorted(by_line, key=int), [str(n) for n in range(2, 11)])
        for line, account in (("2", "ana"), ("3", "bob"), ("9", "dan")):
            self.assertEqual((by_line[line]["account"], by_line[line]["result"]),
                             ("%s@%s" % (account, DOMAIN), "queued"))
            self.assertEqual(self.state(new, "%s@%s" % (account, DOMAIN)), "queued")
        refused = {line: r["detail"] for line, r in by_line.items()
                   if r["result"] == "refused"}
        self.assertEqual(refused, {
            "4": "no password (expected user:password or user:password:domain)",
            "5": "not a migrating domain",
            "6": "account 'ana@%s' already listed on line 2" % DOMAIN,
            "7": "local account 'known@%s' already exists, not migrated" % DOMAIN,
            "8": "local account 'own@%s' already exists, not migrated" % DOMAIN,
            "10": "user 'eve@a.test' and domain 'b.test' disagree",
        })
        self.assertIn("line 4: no password", text)
        self.assertIn("3 account(s) recorded, 6 line(s) refused", text)
        self.assertEqual(self.account(new, "own@" + DOMAIN, settle=False), "none")
        self.assertNoSecret(new, text, ["Secret-", "Secret:bob2"])
        # the migration log: one timestamped line per event
        with open(os.path.join(new.dir, "migrate.log")) as f:
            log = f.read().splitlines()
        stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} "
        self.assertTrue(any(re.fullmatch(stamp + r"error: migrate add: line 4: no "
                                         r"password .*", line) for line in log), log)
        self.assertTrue(any(re.fullmatch(stamp + r"migrate add: bob@%s: queued" % DOMAIN,
                                         line) for line in log), log)
        self.assertTrue(any(line.endswith("migrate add: 3 account(s) recorded, 6 "
                                          "line(s) refused") for line in log), log)

    def test_csv_template_policy_and_quota(self):
        legacy = self.legacy_server(["joao@" + DOMAIN])
        new = self.new(legacy, settings=dict(MANUAL, default_quota="1G"))
        path = self.write("accounts.csv", "\n".join([
            "username,domain,password,quota_gb,type,full name,language,timezone,"
            "date format",
            "joao,%s,Good-pass1,2,0,João Silva,pt-br,America/Sao_Paulo,"
            "dd/mm/yyyy" % DOMAIN,                              # 2 good, 2 GB
            "maria,%s,weakpass,1,0,Maria,pt-br,," % DOMAIN,     # 3 policy
            "rui,%s,Good-pass2,,1,Rui,pt-br,," % DOMAIN,        # 4 good, default
            "x,%s,Good-pass3" % DOMAIN,                         # 5 fields missing
            "ze,%s,Good-pass4,lots,0,Ze,pt-br,," % DOMAIN,      # 6 bad quota
        ]) + "\n")
        rc, rows, text = self.add(new, "-F", path)
        self.assertEqual(rc, 65, text)
        by_line = {r["line"]: r for r in rows}
        self.assertEqual((by_line["2"]["result"], by_line["2"]["detail"]),
                         ("queued", "quota 2048 MB"))
        self.assertEqual(by_line["4"]["result"], "queued")
        self.assertEqual(by_line["3"]["detail"], "password does not meet the policy "
                         "(no upper-case letter, no digit, no special character)")
        self.assertTrue(by_line["5"]["detail"].startswith("3 fields, the CSV template has 9"))
        self.assertTrue(by_line["6"]["detail"].startswith("quota_gb 'lots' is not"))
        self.assertEqual(self.account(new, "maria@" + DOMAIN, settle=False), "none")
        # the quota reaches Dovecot through the userdb, with the default
        # for an account without one
        out = new.doveadm("user", "-f", "quota_rule", "joao@" + DOMAIN).stdout.decode()
        self.assertEqual(out.strip(), "*:storage=2097152k")
        out = new.doveadm("user", "-f", "quota_rule", "rui@" + DOMAIN).stdout.decode()
        self.assertEqual(out.strip(), "*:storage=1048576k")
        self.assertNoSecret(new, text, ["Good-pass", "weakpass"])

    def test_single_account_imported_with_its_password(self):
        """-u reads the password from standard input; the worker imports
        with it, exactly."""
        user = "solo@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 81)
        new = self.new(legacy, settings=MANUAL)
        rc, rows, text = self.add(new, "-u", user,
                                  input=legacy.users[user].encode() + b"\n")
        self.assertEqual((rc, [(r["account"], r["result"]) for r in rows]),
                         (0, [(user, "queued")]), text)
        self.assertNoSecret(new, text, [legacy.users[user]])
        self.assertEqual(self.worker(new), {user: ["synced", ""]})
        self.assertTrue(self.identical(legacy, new, user))
        # again: it exists now
        rc, rows, text = self.add(new, "-u", user, input=b"whatever\n")
        self.assertEqual((rc, rows[0]["detail"]), (65, "local account '%s' already "
                                                    "exists, not migrated" % user))
        rc, rows, text = self.add(new, "-u", "x@" + DOMAIN, input=b"\n")
        self.assertEqual((rc, rows[0]["detail"]), (65, "no password on standard input"))

    def test_passwords_only_then_messages_only(self):
        """--passwords-only: a local login with that password, no import,
        the legacy server never asked. --messages-only then imports into
        the account, which stays local and keeps the user's own mail; an
        operator's own account and an unknown one are refused."""
        user, own = "pw@" + DOMAIN, "own@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 83)
        new = self.new(legacy, settings=MANUAL, operator_users={own: "Own-pass-1"})
        rc, rows, text = self.add(new, "-u", user, "--passwords-only",
                                  input=legacy.users[user].encode() + b"\n")
        self.assertEqual((rc, rows[0]["result"]), (0, "passwords-only"), text)
        legacy_logins = legacy.log_text().count("Login: user=<%s>" % user)
        c = new.imap(user, legacy.users[user])
        c.select("INBOX")
        self.assertEqual(c.search(None, "ALL")[1], [b""])  # local, empty
        c.append("INBOX", None, None, b"Subject: mine\r\n\r\nwritten here\r\n")
        c.logout()
        self.assertEqual(self.worker(new), {})
        self.assertEqual(self.state(new, user), "passwords-only")

        path = self.write("msgs.txt", "%s:%s\n%s:Pw-1234567\nnobody@%s:Pw-1234567\n" % (
            user, legacy.users[user], own, DOMAIN))
        rc, rows, text = self.add(new, "-F", path, "--messages-only")
        os.unlink(path)  # a list of passwords does not stay around
        self.assertEqual(rc, 65, text)
        self.assertEqual([(r["account"], r["result"], r["detail"]) for r in rows], [
            (user, "queued", ""),
            (own, "refused", "account '%s' belongs to another userdb: --messages-only "
             "imports into accounts of the migration store" % own),
            ("nobody@" + DOMAIN, "refused",
             "no local account 'nobody@%s', not migrated" % DOMAIN)])
        self.assertEqual(self.worker(new), {user: ["synced", ""]}, self.worker_log)
        # every legacy message arrived, the user's own one stayed
        diffs = self.differences(legacy, new, user, ignore_uids=True)
        self.assertEqual(len(diffs), 1, diffs)
        self.assertRegex(str(diffs[0]), r"folder 'INBOX' .*\(new uid 1\): only in new")
        # logins stay local, on the stored hash: the legacy server is not
        # asked, and the session is not proxied
        legacy_logins = legacy.log_text().count("Login: user=<%s>" % user)
        c = new.imap(user, legacy.users[user])
        c.select("INBOX")
        self.assertEqual(len(c.search(None, 'SUBJECT "mine"')[1][0].split()), 1)
        c.logout()
        self.assertEqual(legacy.log_text().count("Login: user=<%s>" % user), legacy_logins)
        self.assertNoSecret(new, text, [legacy.users[user], "Pw-1234567"])

    def test_quota_checked_before_import(self):
        """An account whose legacy mailbox would not fit its quota is not
        imported: failed, with both sizes in status and the migration log;
        with the quota raised, retry imports it."""
        user = "big@" + DOMAIN
        legacy = self.legacy_with_corpus(user, 85)
        new = self.new(legacy, settings=dict(MANUAL, default_quota="1k"))
        rc, rows, text = self.add(new, "-u", user,
                                  input=legacy.users[user].encode() + b"\n")
        self.assertEqual(rc, 0, text)
        result, reason = self.worker(new)[user]
        self.assertEqual(result, "failed")
        self.assertRegex(reason, r"^over quota: the legacy mailbox holds [1-9]\d* MB, "
                         r"the quota is 0 MB; not imported \(raise the quota, then "
                         r"doveadm migrate retry\)$")
        row = self.status(new, "-u", user)
        self.assertEqual((row["state"], row["last_error"]), ("failed", reason))
        self.assertEqual(self.status(new)["errors"], "1")
        with open(os.path.join(new.dir, "migrate.log")) as f:
            self.assertIn(reason, f.read())
        # nothing was imported (looked at on disk: a login would create
        # the local INBOX, which the exact passes must find absent)
        home = os.path.join(new.dir, "mail", user)
        messages = [f for d, _, files in os.walk(home) for f in files
                    if os.path.basename(d) in ("cur", "new")]
        self.assertEqual(messages, [])

        with open(new.migrate_conf) as f:
            conf = f.read().replace("default_quota = 1k", "default_quota = 1G")
        with open(new.migrate_conf, "w") as f:
            f.write(conf)
        new.doveadm("migrate", "retry", "-c", new.migrate_conf, "-u", user)
        self.assertEqual(self.worker(new), {user: ["synced", ""]}, self.worker_log)
        self.assertIn("the legacy mailbox (", self.worker_log)
        self.assertTrue(self.identical(legacy, new, user))
