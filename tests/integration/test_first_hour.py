"""The operator's first hour (issue 19): a store nobody created yet
(`doveadm migrate init`, routing before the first account), a store root
made by hand, store_user taken from Dovecot, plugin { migrate_config },
the reasons of temporary failures in Dovecot's stock log, and legacy
servers whose hierarchy separator is not the local one."""
import imaplib
import os
import re
import pwd
import stat
import subprocess

from harness import build, mutf7, procs
from harness.policyd import PolicyDaemon
from integration.test_import_worker import ImportCase, MANUAL, DOMAIN

# Dovecot's stock logging: no auth_verbose, no auth_debug (the harness
# turns both on)
STOCK_LOGGING = "auth_verbose = no\nauth_debug = no\n"
# what auth-migrate.conf.ext gives a namespace
SNIPPET_NAMESPACE = "mail_plugins = $mail_plugins listescape\n"
LAYOUT_FS = "mail_location = maildir:@MAIL_ROOT@/%u/Maildir:LAYOUT=fs\n"


def state_of(store, address):
    """The account's state in the store at path store ('none' when not
    recorded yet)."""
    out = subprocess.run([build.store_fixture(), store, "show", address, "-"],
                         capture_output=True, check=True)
    return out.stdout.decode().split()[0]


def log_line(server, text):
    """The first line of server's log holding text, or None."""
    for line in server.log_text().splitlines():
        if text in line:
            return line
    return None


class FirstHourTest(ImportCase):

    def init(self, new, conf=None):
        out = new.doveadm("-f", "tab", "migrate", "init", "-c", conf or new.migrate_conf,
                          check=False)
        self.assertEqual(out.returncode, 0, out.stderr)
        return [line.split("\t") for line in out.stdout.decode().splitlines()[1:]]

    def test_routing_from_minute_one_after_init(self):
        """Before any login the store does not exist: migrate-policyd
        answers TEMP and says what to run; after `init` an unknown
        recipient of the domain is relayed to the legacy MX, and a second
        init changes nothing."""
        legacy = self.legacy_server(["someone@" + DOMAIN])
        key = os.path.join(self.root, "fresh.key")
        new = self.new(legacy, settings=dict(MANUAL, vault_key=key))
        store = new.store
        self.assertEqual(os.listdir(store), [])
        policyd = self.own(PolicyDaemon(self.root, settings={"store": store},
                                        domains={DOMAIN: {"legacy_host": "127.0.0.1"}}))
        policyd.start()
        with policyd.client() as c:
            self.assertEqual(c.lookup("transport", "nobody@" + DOMAIN),
                             "TEMP migration routing store unavailable")
        self.assertIn("store absent (run doveadm migrate init): store: %s/routing does "
                      "not exist (create it, as root: doveadm migrate init)" % store,
                      policyd.log_text())

        rows = self.init(new)
        self.assertEqual(rows, [[store, "created"], [key, "created"]])
        st = os.stat(key)
        self.assertEqual((pwd.getpwuid(st.st_uid).pw_name, stat.S_IMODE(st.st_mode)),
                         ("dovecot", 0o600))
        st = os.stat(os.path.join(store, "secrets"))
        self.assertEqual((pwd.getpwuid(st.st_uid).pw_name, stat.S_IMODE(st.st_mode)),
                         ("dovecot", 0o700))

        def relayed():
            with policyd.client() as c:
                return c.lookup("transport", "nobody@" + DOMAIN)
        # the daemon retries a failed open after a second
        procs.wait_for(lambda: relayed().startswith("OK smtp:"), 10, "a relay answer")
        self.assertIn("[127.0.0.1]", relayed())
        self.assertEqual(self.init(new), [[store, "ok"], [key, "ok"]])

    def test_store_made_by_root_explained_then_repaired(self):
        """An operator's `mkdir` of the store as root: the first login is a
        temporary failure whose cause (path, owner, mode, the auth user,
        the fix) is in Dovecot's stock log at error level; init repairs
        it and the login goes through."""
        user = "first@" + DOMAIN
        legacy = self.legacy_server([user])
        store = os.path.join(self.root, "by-root")
        os.mkdir(store, 0o755)
        new = self.new(legacy, settings=dict(MANUAL, store=store),
                       extra_conf=STOCK_LOGGING)
        c = imaplib.IMAP4("127.0.0.1", new.port_imap)
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            c.login(user, legacy.users[user])
        self.assertIn("UNAVAILABLE", str(cm.exception))
        c.logout()
        text = "/routing: Permission denied: %s is root:root mode 0755 and this " \
               "process runs as dovecot (fix, as root: doveadm migrate init)" % store
        procs.wait_for(lambda: log_line(new, text) is not None, 10, "the cause logged")
        self.assertIn(": Error: ", log_line(new, text))

        rows = self.init(new)
        self.assertEqual(rows[0], [store, "repaired: dovecot:dovecot mode 0755, "
                                   "was root:root mode 0755"])
        c = new.imap(user, password=legacy.users[user])
        c.logout()
        procs.wait_for(lambda: state_of(store, user) == "queued", 10, "recorded")

    def test_store_user_defaults_to_the_auth_user(self):
        """Without store_user, `add` run as root creates the store for the
        user Dovecot's auth service runs as: the next login opens it."""
        user = "added@" + DOMAIN
        other = "later@" + DOMAIN
        legacy = self.legacy_server([user, other])
        store = os.path.join(self.root, "fresh-store")
        new = self.new(legacy, settings=dict(MANUAL, store=store))
        with open(new.migrate_conf) as f:
            conf = f.read()
        self.assertIn("store_user = dovecot\n", conf)
        with open(new.migrate_conf, "w") as f:
            f.write(conf.replace("store_user = dovecot\n", ""))
        new.doveadm("migrate", "add", "-c", new.migrate_conf, "-u", user,
                    input=legacy.users[user] + "\n")
        for path in (store, os.path.join(store, "routing"), os.path.join(store, "secrets")):
            self.assertEqual(pwd.getpwuid(os.stat(path).st_uid).pw_name, "dovecot", path)
        c = new.imap(other, password=legacy.users[other])
        c.logout()
        procs.wait_for(lambda: state_of(store, other) == "queued", 10, "recorded")

    def test_add_names_a_store_the_auth_process_cannot_open(self):
        """A store root created for itself (an older version's `add`, a
        copy): `add` cannot ask the userdb, and says why and the fix
        instead of "auth service unreachable"."""
        user = "rooted@" + DOMAIN
        legacy = self.legacy_server([user])
        store = os.path.join(self.root, "root-store")
        subprocess.run([build.store_fixture(), store, "account",
                        "other@" + DOMAIN, "queued"], check=True)
        new = self.new(legacy, settings=dict(MANUAL, store=store))
        out = new.doveadm("migrate", "add", "-c", new.migrate_conf, "-u", user,
                          input=legacy.users[user] + "\n", check=False)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("cannot ask Dovecot's userdb whether the account exists",
                      out.stderr.decode())
        self.assertIn("the lookup failed, and %s is root:root mode 0751, "
                      "the auth process needs dovecot:dovecot mode 0751 (fix, as "
                      "root: doveadm migrate init)" % store, out.stderr.decode())
        self.init(new)
        new.doveadm("migrate", "add", "-c", new.migrate_conf, "-u", user,
                    input=legacy.users[user] + "\n")
        self.assertEqual(state_of(store, user), "queued")

    def test_plugin_migrate_config_read_without_c(self):
        legacy = self.legacy_server(["x@" + DOMAIN])
        new = self.new(legacy, start=False)
        new.extra_conf += "plugin {\n  migrate_config = %s\n}\n" % new.migrate_conf
        new.start()
        out = new.doveadm("-f", "tab", "migrate", "version")
        self.assertEqual(out.stdout.decode().splitlines()[1].split("\t")[2:],
                         [new.migrate_conf, "1"])

    def test_temporary_failure_reason_in_the_stock_log(self):
        """With Dovecot's stock logging the client gets "temporary
        failure" and the log says why (it used to need auth_verbose)."""
        legacy = self.legacy_server(["down@" + DOMAIN])
        new = self.new(legacy, domain_keys={"imap_port": str(procs.free_port()),
                                            "pop3_port": "0"},
                       extra_conf=STOCK_LOGGING)
        c = imaplib.IMAP4("127.0.0.1", new.port_imap)
        with self.assertRaises(imaplib.IMAP4.error):
            c.login("down@" + DOMAIN, "Whatever-1")
        c.logout()
        text = "account down@%s: temporary failure (connect(127.0.0.1:" % DOMAIN
        procs.wait_for(lambda: log_line(new, text) is not None, 10, "the reason logged")
        self.assertIn(": Warning: ", log_line(new, text))
        self.assertIn("Connection refused", log_line(new, text))


class SeparatorTest(ImportCase):
    """Legacy servers use '.' (Courier, Cyrus, older Dovecot) or '/'
    (Dovecot, Exchange) as hierarchy separator; the import follows the
    local namespace as it is. With the snippet's namespace (separator '/',
    listescape) names keep their dots; on Debian's stock namespace every
    pass used to fail (dsync: "Mail locations must use the same hierarchy
    separator"), the last test here fails on that code."""

    def folders(self, server, user, **kw):
        """{folder name, '/'-separated: message count}"""
        c = server.imap(user, **kw)
        typ, lines = c.list()
        names = {}
        for line in lines:
            flags, sep, name = re.match(r'^\((.*?)\) "(.)" (.*)$', line.decode()).groups()
            name = name.strip('"')
            if "\\Noselect" in flags:
                continue
            typ, data = c.select('"%s"' % name, readonly=True)
            names[mutf7.decode(name).replace(sep, "/")] = int(data[0])
        c.logout()
        return names

    def load(self, legacy, user, names):
        c = legacy.imap(user)
        for i, name in enumerate(names):
            box = '"%s"' % mutf7.encode(name)
            c.create(box)
            for j in range(i + 1):
                c.append(box, None, None, b"Subject: %d in %s\r\n\r\nbody\r\n"
                         % (j, name.encode()))
        c.logout()

    def check_import(self, legacy_sep, legacy_extra, names, expected):
        user = "sep@" + DOMAIN
        legacy = self.legacy_server([user], separator=legacy_sep,
                                    extra_conf=legacy_extra)
        self.load(legacy, user, names)
        new = self.captured(legacy, user, settings=MANUAL, separator="/",
                            extra_conf=SNIPPET_NAMESPACE)
        self.assertEqual(self.worker(new), {user: ["synced", ""]}, self.worker_log)
        got = self.folders(new, user, master=True)
        self.assertEqual(got, dict(expected, INBOX=0))

    def test_slash_legacy_names_with_dots_kept(self):
        names = ["Invoices 2.0", "Reports/2024", "With Space", "Caf\u00e9"]
        # (a parent the legacy server lists \\Noselect is an empty
        # selectable folder here: dsync creates it)
        self.check_import("/", LAYOUT_FS, names, {
            "Invoices 2.0": 1, "Reports": 0, "Reports/2024": 2, "With Space": 3,
            "Caf\u00e9": 4})

    def test_dot_legacy_hierarchy_onto_slash(self):
        names = ["Work.Projects", "With Space", "Caf\u00e9"]
        self.check_import(".", "", names, {
            "Work": 0, "Work/Projects": 1, "With Space": 2, "Caf\u00e9": 3})

    def test_slash_legacy_onto_stock_dot_namespace(self):
        """The local namespace as Debian ships it (Maildir++, '.'): the
        import works; a '.' inside a name becomes dsync's '_'."""
        user = "stock@" + DOMAIN
        legacy = self.legacy_server([user], separator="/", extra_conf=LAYOUT_FS)
        self.load(legacy, user, ["Invoices 2.0", "Reports/2024"])
        new = self.captured(legacy, user, settings=MANUAL)
        self.assertEqual(self.worker(new), {user: ["synced", ""]}, self.worker_log)
        self.assertEqual(self.folders(new, user, master=True),
                         {"INBOX": 0, "Invoices 2_0": 1, "Reports": 0, "Reports/2024": 2})
