"""Login capture: the `migrate` passdb on a real new Dovecot in front of a
real legacy Dovecot, driven by imaplib and poplib (issue 4)."""
import glob
import imaplib
import os
import poplib
import socket
import subprocess
import threading
import time

from harness import build, procs
from harness.dovecot import DovecotServer
from harness.fake_legacy import FakeLegacy
from harness.new_server import new_server
from harness.testcase import ServerTestCase

DOMAIN = "example.test"


class CaptureCase(ServerTestCase):
    """A legacy server with users, and a new server migrating its domain."""

    def legacy_server(self, users, **kw):
        legacy = DovecotServer(self.root, kw.pop("name", "legacy"),
                               {u: self.password() for u in users}, **kw)
        return self.own(legacy).start()

    def new(self, legacy, tls="none", settings=None, domain_keys=None,
            operator_users=None, extra_domains=None, start=True, extra_conf="",
            separator=None):
        keys = {"legacy_host": "127.0.0.1",
                "imap_port": legacy.port_imaps if tls == "tls" else legacy.port_imap,
                "pop3_port": legacy.port_pop3s if tls == "tls" else legacy.port_pop3,
                "tls": tls, "ca_file": legacy.tls["ca"],
                # the login proxy trusts the system's store only (README)
                "proxy_tls_verify": "no"}
        keys.update(domain_keys or {})
        domains = {DOMAIN: keys}
        domains.update(extra_domains or {})
        srv = self.own(new_server(self.root, operator_users or {}, domains,
                                  settings=settings, legacy=legacy,
                                  extra_conf=extra_conf, separator=separator))
        return srv.start() if start else srv

    def assertLogged(self, server, text):
        if text not in server.log_text():
            self.fail("not in %s's log: %r\n--- log tail\n%s" % (
                server.name, text, server.log_tail(15)))

    def account(self, new, address, settle=True):
        """The store's record: 'STATE PROTOCOL DOMAIN ATTEMPTS' or 'none'.
        settle: a proxied login is answered before its account is
        recorded; wait a little for the record."""
        def show():
            out = subprocess.run([build.store_fixture(), new.store, "show",
                                  address, "-"], capture_output=True, check=True)
            return out.stdout.decode().strip()
        if settle:
            procs.wait_for(lambda: show() != "none", 10, "%s recorded" % address)
        return show()

    def set_state(self, new, address, state):
        self.account(new, address)
        subprocess.run([build.store_fixture(), "-u", "dovecot", new.store,
                        "state", address, state], capture_output=True, check=True)

    def imap_login(self, port, user, password):
        """('OK', imap) or ('NO', error text)."""
        c = imaplib.IMAP4("127.0.0.1", port, timeout=60)
        try:
            c.login(user, password)
        except imaplib.IMAP4.error as e:
            c.shutdown()
            return "NO", str(e)
        return "OK", c

    def pop3_login(self, port, user, password):
        c = poplib.POP3("127.0.0.1", port, timeout=60)
        try:
            c.user(user)
            c.pass_(password)
        except poplib.error_proto as e:
            c.close()
            return "NO", str(e)
        return "OK", c

    def legacy_logins(self, legacy, user):
        """Successful logins of user on the legacy server, and failed ones."""
        log = legacy.log_text()
        ok = log.count("Login: user=<%s>" % user)
        failed = sum(1 for line in log.splitlines()
                     if "user=<%s>" % user in line and "auth failed" in line)
        return ok, failed

    def put_legacy_message(self, legacy, user, subject):
        c = legacy.imap(user)
        msg = ("From: a@b.test\r\nSubject: %s\r\n\r\nbody\r\n" % subject).encode()
        c.append("INBOX", None, None, msg)
        c.logout()


class TlsModesTest(CaptureCase):
    """Each legacy TLS mode, over IMAP and over POP3."""

    def check_mode(self, tls):
        users = ["imap-%s@%s" % (tls, DOMAIN), "pop-%s@%s" % (tls, DOMAIN)]
        legacy = self.legacy_server(users, name="legacy-" + tls)
        for u in users:
            self.put_legacy_message(legacy, u, "legacy mail of " + u)
        new = self.new(legacy, tls)
        imap_user, pop_user = users

        # unknown user, right password: proxied, sees the legacy mailbox
        res, c = self.imap_login(new.port_imap, imap_user, legacy.users[imap_user])
        self.assertEqual(res, "OK", c)
        c.select("INBOX")
        typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertIn(b"legacy mail of " + imap_user.encode(), data[0][1])
        c.logout()
        self.assertEqual(self.account(new, imap_user), "queued imap %s 0" % DOMAIN)

        res, c = self.pop3_login(new.port_pop3, pop_user, legacy.users[pop_user])
        self.assertEqual(res, "OK", c)
        self.assertEqual(c.stat()[0], 1)
        self.assertIn(b"Subject: legacy mail of " + pop_user.encode(),
                      b"\n".join(c.retr(1)[1]))
        c.quit()
        self.assertEqual(self.account(new, pop_user), "queued pop3 %s 0" % DOMAIN)
        self.assertLogged(new, "account %s: proxied to the legacy server (queued; "
                          "new account)" % pop_user)
        self.assertLogged(new, "migrate: account %s: recorded, queued for import"
                          % pop_user)
        # and in the migration log, which the auth process appends to
        with open(os.path.join(new.dir, "migrate.log")) as f:
            self.assertIn(" migrate: account %s: recorded, queued for import\n"
                          % pop_user, f.read())

        # wrong password on an unknown account: refused, nothing recorded
        stranger = "stranger-%s@%s" % (tls, DOMAIN)
        res, err = self.imap_login(new.port_imap, stranger, self.password())
        self.assertEqual(res, "NO")
        self.assertIn("AUTHENTICATIONFAILED", err)
        res, err = self.pop3_login(new.port_pop3, stranger, self.password())
        self.assertEqual(res, "NO")
        self.assertEqual(self.account(new, stranger, settle=False), "none")

        # legacy down: a temporary failure, nothing recorded
        legacy.stop()
        late = "late-%s@%s" % (tls, DOMAIN)
        res, err = self.imap_login(new.port_imap, late, self.password())
        self.assertEqual(res, "NO")
        self.assertIn("UNAVAILABLE", err)
        res, err = self.pop3_login(new.port_pop3, late, self.password())
        self.assertEqual(res, "NO")
        self.assertIn("[SYS/TEMP]", err)
        self.assertEqual(self.account(new, late, settle=False), "none")

        # migrated, legacy still down: local, on the stored hash alone
        self.set_state(new, imap_user, "migrated")
        res, c = self.imap_login(new.port_imap, imap_user, legacy.users[imap_user])
        self.assertEqual(res, "OK", c)
        self.assertEqual(c.select("INBOX")[0], "OK")  # the new, local mailbox
        c.logout()
        res, err = self.imap_login(new.port_imap, imap_user, self.password())
        self.assertIn("AUTHENTICATIONFAILED", err)

    def test_tls_none(self):
        self.check_mode("none")

    def test_starttls(self):
        self.check_mode("starttls")

    def test_implicit_tls(self):
        self.check_mode("tls")

    def test_certificate_checked(self):
        """A legacy certificate the configured CA did not sign is a
        temporary failure, unless tls_verify = no."""
        user = "cert@" + DOMAIN
        legacy = self.legacy_server([user])
        other_ca = self.root + "/other-ca"
        from harness import tls as tlsmod
        foreign = tlsmod.make_ca_and_cert(other_ca)["ca"]
        new = self.new(legacy, "starttls", domain_keys={"ca_file": foreign})
        res, err = self.imap_login(new.port_imap, user, legacy.users[user])
        self.assertIn("UNAVAILABLE", err)
        self.assertEqual(self.account(new, user, settle=False), "none")
        self.assertRegex(new.log_text(), r"account %s: temporary failure \(TLS "
                         r"handshake with the legacy server failed: .*certificate" % user)


    def test_certificate_not_checked_when_turned_off(self):
        user = "lax@" + DOMAIN
        legacy = self.legacy_server([user])
        from harness import tls as tlsmod
        foreign = tlsmod.make_ca_and_cert(self.root + "/other-ca")["ca"]
        new = self.new(legacy, "tls", domain_keys={"ca_file": foreign,
                                                   "tls_verify": "no"})
        res, c = self.imap_login(new.port_imap, user, legacy.users[user])
        self.assertEqual(res, "OK", c)
        c.logout()
        self.assertEqual(self.account(new, user), "queued imap %s 0" % DOMAIN)


class KnownAccountsTest(CaptureCase):

    def test_password_changed_on_legacy_while_queued(self):
        user = "changer@" + DOMAIN
        legacy = self.legacy_server([user])
        new = self.new(legacy, settings={"mode": "local"})
        old = legacy.users[user]
        self.assertEqual(self.imap_login(new.port_imap, user, old)[0], "OK")
        newpw = self.password()
        legacy.add_user(user, newpw)
        res, c = self.imap_login(new.port_imap, user, newpw)
        self.assertEqual(res, "OK", c)
        self.assertLogged(new, "account %s: local login while importing (queued; "
                          "the legacy server accepted it)" % user)
        self.assertLogged(new, "migrate: account %s: password updated from the "
                          "legacy server" % user)
        res, err = self.imap_login(new.port_imap, user, old)
        self.assertEqual(res, "NO")
        self.assertEqual(self.account(new, user), "queued imap %s 0" % DOMAIN)

    def test_failed_import_requeued_at_next_login(self):
        user = "failing@" + DOMAIN
        legacy = self.legacy_server([user])
        new = self.new(legacy, settings={"mode": "local"})
        self.assertEqual(self.imap_login(new.port_imap, user, legacy.users[user])[0], "OK")
        self.set_state(new, user, "importing")
        self.set_state(new, user, "failed")
        self.assertTrue(self.account(new, user).startswith("failed imap"))
        self.assertEqual(self.imap_login(new.port_imap, user, legacy.users[user])[0], "OK")
        self.assertTrue(self.account(new, user).startswith("queued imap"))

    def test_cutover_refuses_with_message(self):
        user = "cutting@" + DOMAIN
        legacy = self.legacy_server([user])
        new = self.new(legacy)
        self.assertEqual(self.imap_login(new.port_imap, user, legacy.users[user])[0], "OK")
        self.set_state(new, user, "cutover")
        res, err = self.imap_login(new.port_imap, user, legacy.users[user])
        self.assertEqual(res, "NO")
        self.assertIn("being moved to a new server", err)

    def test_operator_user_never_reaches_legacy(self):
        op = "op@" + DOMAIN
        legacy = self.legacy_server([op])
        op_password = self.password()
        new = self.new(legacy, operator_users={op: op_password})
        res, c = self.imap_login(new.port_imap, op, op_password)
        self.assertEqual(res, "OK", c)
        c.logout()
        # the legacy password of the same name opens nothing here
        res, err = self.imap_login(new.port_imap, op, legacy.users[op])
        self.assertEqual(res, "NO")
        res, err = self.pop3_login(new.port_pop3, op, self.password())
        self.assertEqual(res, "NO")
        self.assertEqual(self.legacy_logins(legacy, op), (0, 0))
        self.assertNotIn("user=<%s>" % op, legacy.log_text())
        self.assertLogged(new, "account %s: not ours (an earlier passdb knows this user)" % op)
        self.assertEqual(self.account(new, op, settle=False), "none")

    def test_userdb_finds_captured_accounts(self):
        users = ["u1@" + DOMAIN, "u2@" + DOMAIN]
        legacy = self.legacy_server(users)
        op = "op@other.test"
        new = self.new(legacy, operator_users={op: self.password()})
        for u in users:
            self.assertEqual(self.imap_login(new.port_imap, u, legacy.users[u])[0], "OK")
        out = new.doveadm("user", users[0]).stdout.decode()
        self.assertIn("home\t%s/new/mail/%s" % (self.root, users[0]), out)
        out = new.doveadm("user", "-u", "*").stdout.decode().split()
        self.assertEqual(sorted(out), sorted(users + [op]))
        out = new.doveadm("user", "nobody@" + DOMAIN, check=False)
        self.assertEqual(out.returncode, 67, out.stdout)  # EX_NOUSER


    def test_userdb_gives_doveadm_the_legacy_mailbox(self):
        """For doveadm only, a captured account's userdb answer carries the
        imapc settings and credential from the vault: `doveadm backup -R
        -u USER imapc:` copies the legacy mailbox with nothing on argv."""
        from harness import corpus, verify
        user = "copied@" + DOMAIN
        legacy = self.legacy_server([user])
        c = legacy.imap(user)
        corpus.load_imap(c, corpus.generate(7, "small"))
        c.logout()
        new = self.new(legacy, "starttls")
        password = legacy.users[user]
        self.assertEqual(self.imap_login(new.port_imap, user, password)[0], "OK")
        self.account(new, user)
        fields = dict(line.split("\t", 1) for line in
                      new.doveadm("user", user).stdout.decode().splitlines()[1:])
        self.assertEqual((fields["imapc_user"], fields["imapc_ssl"],
                          fields["imapc_port"]),
                         (user, "starttls", str(legacy.port_imap)))
        # (never printed, even when the test fails)
        self.assertTrue(fields["imapc_password"] == password,
                        "imapc_password is not the legacy password")
        # other services never see them
        out = new.doveadm("user", "-x", "service=lmtp", user).stdout.decode()
        self.assertNotIn("imapc_", out)
        self.assertTrue(password not in out, "the password reached another service")
        new.doveadm("backup", "-R", "-u", user, "imapc:")
        a = verify.Endpoint("127.0.0.1", legacy.port_imap, user, password,
                            label="legacy")
        b = verify.Endpoint("127.0.0.1", new.port_imap,
                            "%s*%s" % (user, new.master_user), new.master_password,
                            label="new")
        self.assertEqual(verify.verify(a, b, out=lambda line: None), [])
        # migrated: the sweep still reads the legacy mailbox (until finish
        # wipes the credential); still no other service sees it
        self.set_state(new, user, "migrated")
        self.assertIn("imapc_user\t" + user, new.doveadm("user", user).stdout.decode())
        out = new.doveadm("user", "-x", "service=imap", user).stdout.decode()
        self.assertNotIn("imapc_", out)

    def test_userdb_pop3_account_of_a_starttls_domain(self):
        """The userdb gives a POP3 account of a tls = starttls domain its
        POP3 port with STLS (our importer reaches it through its relay:
        Dovecot 2.3.19's pop3c never logs in after STLS)."""
        user = "popper@" + DOMAIN
        legacy = self.legacy_server([user])
        new = self.new(legacy, "starttls")
        res, p = self.pop3_login(new.port_pop3, user, legacy.users[user])
        self.assertEqual(res, "OK", p)
        p.quit()
        self.account(new, user)
        fields = dict(line.split("\t", 1) for line in
                      new.doveadm("user", user).stdout.decode().splitlines()[1:])
        self.assertEqual((fields["pop3c_ssl"], fields["pop3c_port"],
                          fields["pop3c_ssl_verify"]),
                         ("starttls", str(legacy.port_pop3), "yes"))
        self.assertNotIn("imapc_host", fields)


class ModesTest(CaptureCase):

    def test_refuse_mode_message_and_notice(self):
        user = "refused@" + DOMAIN
        legacy = self.legacy_server([user])
        new = self.new(legacy, start=False, settings={
            "mode": "refuse",
            "refuse_message": "Mailbox moving, back in 5 minutes",
            "notice_from": "migration",
            "notice_subject": "Your mailbox is moving"})
        conf = procs.read_text(new.migrate_conf)
        with open(new.migrate_conf, "w") as f:
            f.write(conf.replace("[domain", "notice_lmtp = unix:%s\n\n[domain" %
                                 new.lmtp_socket, 1))
        new.start()
        res, err = self.imap_login(new.port_imap, user, legacy.users[user])
        self.assertEqual(res, "NO")
        self.assertIn("Mailbox moving, back in 5 minutes", err)
        self.assertEqual(self.account(new, user), "queued imap %s 0" % DOMAIN)
        procs.wait_for(lambda: new.inbox_messages(user), 10, "the notice")
        (notice,) = new.inbox_messages(user)
        self.assertIn(b"From: <migration@example.test>", notice)
        self.assertIn(b"Subject: Your mailbox is moving", notice)
        self.assertIn(b"Your mailbox is being moved", notice)
        # refused again, and no second notice
        res, err = self.pop3_login(new.port_pop3, user, legacy.users[user])
        self.assertIn("Mailbox moving", err)
        time.sleep(0.5)
        self.assertEqual(len(new.inbox_messages(user)), 1)

    def test_local_mode_and_domain_by_local_ip(self):
        user = "carol@" + DOMAIN
        legacy = self.legacy_server([user])
        self.put_legacy_message(legacy, user, "only on legacy")
        new = self.new(legacy, settings={"mode": "local"},
                       domain_keys={"local_ip": "127.0.0.1",
                                    "legacy_user": "%n@%d"})
        # no @domain: the local IP names the domain, %n@%d the legacy user
        res, c = self.imap_login(new.port_imap, "carol", legacy.users[user])
        self.assertEqual(res, "OK", c)
        typ, data = c.select("INBOX")
        self.assertEqual(data, [b"0"])  # the local, still empty mailbox
        c.logout()
        self.assertEqual(self.account(new, user), "queued imap %s 0" % DOMAIN)
        self.assertLogged(new, "user=<%s>" % user)

    def test_default_domain(self):
        user = "dora@" + DOMAIN
        legacy = self.legacy_server([user])
        new = self.new(legacy, settings={"mode": "local"},
                       domain_keys={"default": "yes", "legacy_user": "%n@%d"})
        res, c = self.imap_login(new.port_imap, "Dora", legacy.users[user])
        self.assertEqual(res, "OK", c)
        c.logout()
        self.assertEqual(self.account(new, user), "queued imap %s 0" % DOMAIN)
        # outside every migrating domain: the chain's "unknown user"
        res, err = self.imap_login(new.port_imap, "dora@elsewhere.test", self.password())
        self.assertIn("AUTHENTICATIONFAILED", err)
        self.assertLogged(new, "not a migrating account: not a migrating domain")

    def test_pop3_only_legacy_imap_client(self):
        """IMAP cannot be proxied to a POP3-only server: checked over POP3,
        served locally."""
        user = "popper@" + DOMAIN
        legacy = self.legacy_server([user])
        new = self.new(legacy, domain_keys={"imap_port": "0"})
        res, c = self.imap_login(new.port_imap, user, legacy.users[user])
        self.assertEqual(res, "OK", c)
        c.logout()
        self.assertEqual(self.account(new, user), "queued pop3 %s 0" % DOMAIN)
        self.assertLogged(new, "local login (the legacy server does not speak this protocol)")


class AbuseTest(CaptureCase):

    def test_concurrent_first_logins_share_one_check(self):
        user = "popular@" + DOMAIN
        legacy = self.legacy_server([user])
        new = self.new(legacy, settings={"mode": "local"},
                       extra_conf="mail_max_userip_connections = 100\n")
        results = []

        errors = []

        def login(password):
            res, c = self.imap_login(new.port_imap, user, password)
            if res == "NO":
                errors.append(c)
            results.append(res if res == "NO" else c.logout()[0] == "BYE" and res)

        wrong = self.password()
        threads = [threading.Thread(target=login, args=(wrong,)) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(results, ["NO"] * 50)
        self.assertEqual(self.legacy_logins(legacy, user), (0, 1))
        # and a right password, 50 at once: one legacy login
        results.clear()
        threads = [threading.Thread(target=login, args=(legacy.users[user],))
                   for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(results, ["OK"] * 50, errors)
        self.assertEqual(self.legacy_logins(legacy, user), (1, 1))

    def test_rate_limits_and_failure_cache(self):
        users = ["guess%d@%s" % (i, DOMAIN) for i in range(4)]
        legacy = self.legacy_server(users)
        new = self.new(legacy, settings={"legacy_checks_per_user": "3",
                                         "legacy_checks_per_ip": "6"})
        victim = users[0]
        for _ in range(3):
            self.assertEqual(self.imap_login(new.port_imap, victim, self.password())[0], "NO")
        res, err = self.imap_login(new.port_imap, victim, self.password())
        self.assertIn("UNAVAILABLE", err)
        self.assertLogged(new, "too many legacy checks for this account")
        # even the right password waits for the window to pass
        res, err = self.imap_login(new.port_imap, victim, legacy.users[victim])
        self.assertIn("UNAVAILABLE", err)
        self.assertEqual(self.legacy_logins(legacy, victim), (0, 3))

        # a repeated wrong password is answered from the failure cache
        bad = self.password()
        for _ in range(3):
            res, err = self.imap_login(new.port_imap, users[1], bad)
            self.assertIn("AUTHENTICATIONFAILED", err)
        self.assertEqual(self.legacy_logins(legacy, users[1]), (0, 1))
        self.assertLogged(new, "the legacy server refused it moments ago")

        # per client IP: 3 + 1 checks so far; two more reach the limit of 6
        self.assertEqual(self.imap_login(new.port_imap, users[2], self.password())[0], "NO")
        self.assertEqual(self.imap_login(new.port_imap, users[3], self.password())[0], "NO")
        res, err = self.imap_login(new.port_imap, users[3], legacy.users[users[3]])
        self.assertIn("UNAVAILABLE", err)
        self.assertLogged(new, "too many legacy checks for this client IP")

    def test_garbage_and_silent_legacy_servers(self):
        legacy = self.legacy_server(["x@" + DOMAIN])
        garbage = self.own(FakeLegacy("garbage"))
        closing = self.own(FakeLegacy("close"))
        new = self.new(legacy, settings={"legacy_timeout_secs": "3"}, extra_domains={
            "garbage.test": {"legacy_host": "127.0.0.1", "imap_port": garbage.port,
                             "tls": "none"},
            "closing.test": {"legacy_host": "127.0.0.1", "imap_port": closing.port,
                             "tls": "none"}})
        for user in ("a@garbage.test", "a@closing.test"):
            res, err = self.imap_login(new.port_imap, user, self.password())
            self.assertIn("UNAVAILABLE", err)
            self.assertEqual(self.account(new, user, settle=False), "none")
        log = new.log_text()
        self.assertIn("account a@garbage.test: temporary failure", log)
        self.assertIn("account a@closing.test: temporary failure", log)

    def test_hanging_legacy_does_not_block_other_logins(self):
        user = "settled@" + DOMAIN
        legacy = self.legacy_server([user])
        hang = self.own(FakeLegacy("hang"))
        new = self.new(legacy, settings={"legacy_timeout_secs": "10",
                                         "legacy_checks_per_ip": "1000"},
                       extra_domains={"slow.test": {
                           "legacy_host": "127.0.0.1", "imap_port": hang.port,
                           "tls": "none"}})
        self.assertEqual(self.imap_login(new.port_imap, user, legacy.users[user])[0], "OK")
        self.set_state(new, user, "migrated")
        finished = []

        def stuck(i):
            self.imap_login(new.port_imap, "u%d@slow.test" % i, self.password())
            finished.append("stuck")

        threads = [threading.Thread(target=stuck, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        procs.wait_for(lambda: hang.accepted == 50, 20, "50 hanging legacy checks")
        res, c = self.imap_login(new.port_imap, user, legacy.users[user])
        finished.append("migrated")
        self.assertEqual(res, "OK", c)
        c.logout()
        for t in threads:
            t.join(60)
        self.assertEqual(finished[0], "migrated")
        self.assertEqual(finished.count("stuck"), 50)
        self.assertEqual(new.log_text().count("did not answer in time"), 50)


class AuthUnderValgrindTest(CaptureCase):
    """The auth process, with our module loaded, under valgrind: first
    logins over STARTTLS, a name resolved through dns-client, wrong
    passwords, hanging checks that time out, a userdb lookup, then a clean
    shutdown."""

    def test_no_memory_errors_or_leaks(self):
        users = ["vg%d@%s" % (i, DOMAIN) for i in range(2)]
        legacy = self.legacy_server(users)
        hang = self.own(FakeLegacy("hang"))
        vg_log = os.path.join(self.root, "valgrind-%p.log")
        new = self.new(legacy, "starttls", start=False,
                       settings={"legacy_timeout_secs": "5"},
                       extra_domains={"slow.test": {
                           "legacy_host": "localhost", "imap_port": hang.port,
                           "tls": "none"}},
                       extra_conf="service auth {\n  executable = /usr/bin/valgrind "
                       "--log-file=%s --leak-check=full --errors-for-leak-kinds="
                       "definite,indirect /usr/lib/dovecot/auth\n}\n" % vg_log)
        new.start(timeout=120)
        for u in users:
            res, c = self.imap_login(new.port_imap, u, legacy.users[u])
            self.assertEqual(res, "OK", c)
            c.logout()
            self.assertEqual(self.imap_login(new.port_imap, u, self.password())[0], "NO")
        res, c = self.pop3_login(new.port_pop3, users[0], legacy.users[users[0]])
        self.assertEqual(res, "OK", c)
        c.quit()
        threads = [threading.Thread(target=self.imap_login,
                                    args=(new.port_imap, "x%d@slow.test" % i,
                                          self.password())) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(new.log_text().count("did not answer in time"), 3)
        self.assertEqual(new.doveadm("user", users[1]).returncode, 0)
        new.stop()
        reports = [procs.read_text(p) for p in glob.glob(vg_log.replace("%p", "*"))]
        reports = [r for r in reports if "/usr/lib/dovecot/auth" in r]
        self.assertEqual(len(reports), 1)
        self.assertIn("ERROR SUMMARY: 0 errors", reports[0], reports[0][-4000:])
        self.assertRegex(reports[0], r"definitely lost: 0 bytes|All heap blocks were freed")


if __name__ == "__main__":
    import unittest
    unittest.main()
