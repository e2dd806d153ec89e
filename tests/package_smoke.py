#!/usr/bin/python3
"""The smoke migration against an installed package (run by
tests/package-test inside a throwaway overlay of the machine's root, after
`dpkg -i`): the installed files are in place with their owners, and a
login is captured by the installed passdb, imported by the installed
doveadm plugin, verified, cut over and served locally. Prints one line per
check; exit 0 when every one held."""
import grp
import os
import pwd
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import corpus, procs  # noqa: E402
from harness.dovecot import DovecotServer  # noqa: E402
from harness.new_server import new_server  # noqa: E402

DOMAIN = "example.test"
INSTALLED = [
    "/usr/lib/dovecot/modules/auth/libauthdb_migrate.so",
    "/usr/lib/dovecot/modules/doveadm/lib10_doveadm_migrate_plugin.so",
    "/usr/lib/dovecot/modules/doveadm/dovecot-migrate/migrate-pace.so",
    "/usr/sbin/migrate-policyd",
    "/etc/dovecot-migrate/migrate.conf",
    "/etc/dovecot/conf.d/auth-migrate.conf.ext",
    "/lib/systemd/system/migrate-policyd.service",
    "/lib/systemd/system/dovecot-migrate-worker.service",
    "/usr/share/man/man5/migrate.conf.5.gz",
    "/usr/share/man/man1/doveadm-migrate.1.gz",
]


def check(what, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", what,
                       "" if ok else ": " + detail), flush=True)
    if not ok:
        raise SystemExit(1)


def files():
    missing = [f for f in INSTALLED if not os.path.exists(f)]
    check("installed files in place", not missing, str(missing))
    st = os.stat("/var/lib/dovecot-migrate")
    check("store dir belongs to dovecot",
          pwd.getpwuid(st.st_uid).pw_name == "dovecot")
    st = os.stat("/var/log/dovecot-migrate.log")
    check("migration log 0640 dovecot:adm",
          (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
           st.st_mode & 0o777) == ("dovecot", "adm", 0o640))
    check("migrate-policyd user", pwd.getpwnam("migrate-policyd") is not None)
    out = subprocess.run(["/usr/sbin/migrate-policyd", "-t", "-c",
                          "/etc/dovecot-migrate/migrate.conf"],
                         capture_output=True, text=True)
    check("the installed migrate.conf is valid", out.returncode == 0, out.stderr)


def migration(root):
    user = "smoke@" + DOMAIN
    legacy = DovecotServer(root, "legacy", {user: procs.random_password()}).start()
    c = legacy.imap(user)
    corpus.load_imap(c, corpus.generate(7, "small"))
    c.logout()
    new = new_server(root, {}, {DOMAIN: {
        "legacy_host": "127.0.0.1", "imap_port": legacy.port_imap,
        "pop3_port": legacy.port_pop3, "tls": "starttls",
        "ca_file": legacy.tls["ca"], "proxy_tls_verify": "no"}},
        settings={"cutover": "manual"}, legacy=legacy, installed=True).start()
    c = new.imap(user, password=legacy.users[user])
    n = len(c.list()[1])
    c.logout()
    check("login captured by the installed passdb, proxied (%d folders)" % n, n > 1)
    procs.wait_for(lambda: new.doveadm("migrate", "status", "-c", new.migrate_conf,
                                       "-u", user, check=False).returncode == 0,
                   10, "the account recorded")
    out = new.doveadm("-f", "tab", "migrate", "worker", "-c", new.migrate_conf, "--once")
    check("installed doveadm plugin imported it",
          "%s\tsynced" % user in out.stdout.decode(), out.stderr.decode()[-2000:])
    out = new.doveadm("migrate", "verify", "-c", new.migrate_conf, "-u", user,
                      check=False)
    check("verify: no difference", out.returncode == 0, out.stderr.decode()[-2000:])
    out = new.doveadm("-f", "tab", "migrate", "cutover", "-c", new.migrate_conf,
                      "-u", user, check=False)
    check("cut over", "%s\tmigrated" % user in out.stdout.decode(),
          out.stderr.decode()[-2000:])
    c = new.imap(user, password=legacy.users[user])
    typ, data = c.select("INBOX")
    c.logout()
    check("served locally after the cut-over (INBOX %s)" % data[0].decode(), typ == "OK")
    new.stop()
    legacy.stop()


def main():
    root = tempfile.mkdtemp(prefix="dm-package-smoke-")
    os.chmod(root, 0o755)
    try:
        files()
        migration(root)
    finally:
        procs.stop_all()
    check("no process left", not procs.owned())


if __name__ == "__main__":
    main()
