"""doveadm migrate check, the operator's preflight (issue 19): every line
OK on a good setup, and each broken part named with its fix."""
import json
import os
import shutil
import subprocess

from harness import procs
from integration.test_first_hour import SNIPPET_NAMESPACE
from integration.test_import_worker import ImportCase, MANUAL, DOMAIN

# doc/examples/postfix-main.cf, as an operator's main.cf would hold it
MAIN_CF = """\
relay_domains = %(domain)s
transport_maps = socketmap:unix:private/migrate-map:transport
relay_recipient_maps = socketmap:unix:private/migrate-map:relay
virtual_alias_maps = socketmap:unix:private/migrate-map:alias
smtpd_recipient_restrictions =
    reject_unauth_destination,
    check_policy_service { unix:private/migrate-policy, timeout=5s, try_limit=1,
        { default_action = DEFER_IF_PERMIT 4.3.0 Migration routing unavailable } }
"""


class CheckTest(ImportCase):

    def setUp(self):
        super().setUp()
        self.postfix_dir = os.path.join(self.root, "postfix")
        os.mkdir(self.postfix_dir)
        with open(os.path.join(self.postfix_dir, "main.cf"), "w") as f:
            f.write(MAIN_CF % dict(domain=DOMAIN))
        shutil.copy("/etc/postfix/master.cf", self.postfix_dir)

    def check(self, new, *args, password=None):
        """(exit status, {check name: (result, line)}) of a check run with
        Postfix's config in self.postfix_dir (-p)."""
        argv = new.wrapper + ["doveadm", "-c", new.conf] + list(args) + [
            "-p", self.postfix_dir]
        out = subprocess.run(argv, input=(password + "\n").encode() if password else None,
                             capture_output=True, timeout=120)
        self.output = out.stdout.decode() + out.stderr.decode()
        lines = {}
        for line in out.stdout.decode().splitlines():
            result, _, rest = line.partition(" ")
            lines[rest.strip().partition(": ")[0]] = (result, line)
        return out.returncode, lines

    def good_setup(self):
        user = "someone@" + DOMAIN
        legacy = self.legacy_server([user], separator="/")
        new = self.new(legacy, "starttls", settings=MANUAL, separator="/",
                       extra_conf=SNIPPET_NAMESPACE)
        # as `doveadm migrate init` leaves the store
        new.doveadm("migrate", "init", "-c", new.migrate_conf)
        return legacy, new, user

    def test_good_setup_all_ok(self):
        legacy, new, user = self.good_setup()
        status, lines = self.check(new, "migrate", "check", "-c", new.migrate_conf,
                                   "-u", user, password=legacy.users[user])
        self.assertEqual(status, 0, self.output)
        self.assertEqual([l for r, l in lines.values() if r != "OK"], [], self.output)
        imap = "legacy %s imap 127.0.0.1:%d" % (DOMAIN, legacy.port_imap)
        self.assertIn("STARTTLS", lines[imap][1])
        self.assertIn("certificate valid for 127.0.0.1", lines[imap][1])
        self.assertIn("%s logged in, hierarchy separator '/'" % user,
                      lines[imap + " login"][1])
        self.assertIn("legacy %s pop3 127.0.0.1:%d login" % (DOMAIN, legacy.port_pop3), lines)
        for name in ("config", "store", "vault key", "dovecot passdb",
                     "dovecot namespace", "dovecot auth vsz_limit",
                     "dovecot imapc_features", "dovecot auth_username_format",
                     "dovecot auth user", "postfix relay_domains",
                     "postfix transport_maps", "postfix relay_recipient_maps",
                     "postfix virtual_alias_maps",
                     "postfix smtpd_recipient_restrictions"):
            self.assertEqual(lines[name][0], "OK", self.output)
        # the password never shows
        self.assertNotIn(legacy.users[user], self.output)

    def test_broken_setup_each_cause_named(self):
        legacy, new, user = self.good_setup()
        # a store directory root took over, a key others can read, a closed
        # legacy POP3 port, a wrong password, a namespace without the
        # separator, and Postfix without our lines
        os.chown(new.store, 0, 0)
        os.chmod(os.path.join(os.path.dirname(new.migrate_conf), "vault.key"), 0o644)
        with open(new.migrate_conf) as f:
            conf = f.read()
        closed = procs.free_port()
        with open(new.migrate_conf, "w") as f:
            f.write(conf.replace("pop3_port = %d" % legacy.port_pop3,
                                 "pop3_port = %d" % closed))
        with open(os.path.join(self.postfix_dir, "main.cf"), "w") as f:
            f.write("relay_domains = other.test\n")
        status, lines = self.check(new, "migrate", "check", "-c", new.migrate_conf,
                                   "-u", user, password="Wrong-Password-1")
        self.assertEqual(status, 1, self.output)
        self.assertEqual(lines["store"][0], "FAIL")
        self.assertIn("is root:", lines["store"][1])
        self.assertIn("(fix: as root: doveadm migrate init)", lines["store"][1])
        self.assertEqual(lines["vault key"][0], "FAIL")
        self.assertIn("group or others can access it", lines["vault key"][1])
        pop3 = "legacy %s pop3 127.0.0.1:%d" % (DOMAIN, closed)
        self.assertEqual(lines[pop3][0], "FAIL")
        self.assertIn("Connection refused", lines[pop3][1])
        imap_login = "legacy %s imap 127.0.0.1:%d login" % (DOMAIN, legacy.port_imap)
        self.assertEqual(lines[imap_login][0], "FAIL")
        self.assertIn("mismatch as %s: legacy server answered NO [AUTHENTICATIONFAILED]"
                      % user, lines[imap_login][1])
        self.assertEqual(lines["postfix relay_domains"][0], "FAIL")
        self.assertIn("lacks the migrating domain %s" % DOMAIN,
                      lines["postfix relay_domains"][1])
        self.assertEqual(lines["postfix transport_maps"][0], "FAIL")
        self.assertEqual(lines["postfix smtpd_recipient_restrictions"][0], "FAIL")
        self.assertNotIn("Wrong-Password-1", self.output)

        # the same as JSON
        status, _ = self.check(new, "-f", "json", "migrate", "check", "-c", new.migrate_conf)
        self.assertEqual(status, 1)
        rows = json.loads(self.output[:self.output.rindex("]") + 1])
        by_name = {r["check"]: r for r in rows}
        self.assertEqual(by_name["store"]["result"], "FAIL")
        self.assertEqual(by_name["store"]["fix"], "as root: doveadm migrate init")
        self.assertEqual(by_name["config"]["result"], "OK")

    def test_stock_namespace_fails_with_the_fix(self):
        """Debian's namespace (no separator: Maildir++'s '.') cannot keep a
        '/' server's folder "a.b": check says so and what to add."""
        user = "someone@" + DOMAIN
        legacy = self.legacy_server([user], separator="/")
        new = self.new(legacy, settings=MANUAL)
        status, lines = self.check(new, "migrate", "check", "-c", new.migrate_conf,
                                   "-u", user, password=legacy.users[user])
        self.assertEqual(status, 1)
        line = lines["dovecot namespace"][1]
        self.assertTrue(line.startswith("FAIL dovecot namespace: inbox: separator '.', "
                                        "the legacy server's '/'"), line)
        self.assertIn("(fix: namespace inbox { separator = / } and mail_plugins = "
                      "$mail_plugins listescape", line)

    def test_implicit_tls_and_the_pop3_dialogue(self):
        """tls = tls: the handshake comes first, on both ports."""
        user = "someone@" + DOMAIN
        legacy = self.legacy_server([user], separator="/")
        new = self.new(legacy, "tls", settings=MANUAL, separator="/",
                       extra_conf=SNIPPET_NAMESPACE)
        status, lines = self.check(new, "migrate", "check", "-c", new.migrate_conf,
                                   "-u", user, password=legacy.users[user])
        imap = "legacy %s imap 127.0.0.1:%d" % (DOMAIN, legacy.port_imaps)
        pop3 = "legacy %s pop3 127.0.0.1:%d" % (DOMAIN, legacy.port_pop3s)
        self.assertIn("OK   %s: * OK, implicit TLSv1.3, certificate valid for 127.0.0.1"
                      % imap, lines[imap][1])
        self.assertIn("OK   %s: +OK, implicit TLSv1.3" % pop3, lines[pop3][1])
        self.assertEqual(lines[pop3 + " login"][0], "OK", self.output)
        self.assertEqual(lines[imap + " login"][0], "OK", self.output)
