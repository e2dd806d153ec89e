#!/usr/bin/python3
"""The dovecot-migrate demo: the whole product at work, on private servers
on 127.0.0.1, driven by real clients. Run it with scripts/demo (which builds
first). It stops everything it started and removes its directory.

Usage: tests/demo.py [--keep]   (--keep leaves the directory for reading logs)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import corpus, procs, verify  # noqa: E402
from harness.dovecot import DovecotServer  # noqa: E402
from harness.new_server import new_server  # noqa: E402
from harness.policyd import PolicyDaemon  # noqa: E402
from harness.postfix import PostfixServer  # noqa: E402
from harness.smtp_sink import SmtpSink  # noqa: E402

DOMAIN = "example.test"
STARTED = time.monotonic()


def step(title):
    print("\n[%5.1fs] == %s" % (time.monotonic() - STARTED, title), flush=True)


def say(text):
    print("         " + text, flush=True)


def legacy_story(root):
    step("Legacy server: a private Dovecot with IMAP, POP3, IMAPS, POP3S, STARTTLS")
    users = {u: procs.random_password() for u in
             ("ana@" + DOMAIN, "bruno@" + DOMAIN, "carla@" + DOMAIN)}
    legacy = DovecotServer(root, "legacy", users).start()
    say("ports: imap %(imap)d  imaps %(imaps)d  pop3 %(pop3)d  pop3s %(pop3s)d"
        % legacy.ports)
    for user, seed, profile, kind in (("ana@" + DOMAIN, 1, "small", "IMAP"),
                                      ("bruno@" + DOMAIN, 2, "small", "POP3 only"),
                                      ("carla@" + DOMAIN, 3, "big", "IMAP, big")):
        mailbox = corpus.generate(seed, profile)
        if kind == "POP3 only":
            # a POP3 maildrop is one INBOX
            mailbox = [corpus.Folder("INBOX", True,
                                     [m for f in mailbox for m in f.messages])]
        c = legacy.imap(user)
        corpus.load_imap(c, mailbox)
        c.logout()
        st = corpus.stats(mailbox)
        say("%-18s %-9s %2d folders %4d messages %6.1f MB (seed %d, %s corpus)"
            % (user, kind, st["folders"], st["messages"], st["bytes"] / 1e6, seed,
               profile))

    c = legacy.imap_ssl("ana@" + DOMAIN)   # certificate verified against the test CA
    typ, data = c.list()
    say("IMAPS login as ana (certificate verified): LIST shows %d folders" % len(data))
    c.logout()
    p = legacy.pop3_stls("bruno@" + DOMAIN)
    count, size = p.stat()
    uidls = p.uidl()[1]
    say("POP3 STLS login as bruno: %d messages, %d bytes, first UIDL %s"
        % (count, size, uidls[0].decode().split()[1]))
    p.quit()
    return legacy


def account_state(new, user):
    from harness import build
    out = subprocess.run([build.store_fixture(), new.store, "show", user, "-"],
                         check=True, capture_output=True, text=True)
    return out.stdout.split()[0]


VERIFIED = {}


def migrate_verify(new, user, note="", quiet=False):
    """doveadm migrate verify -u user, which must find no difference; its
    closing line is kept for the summary."""
    out = new.doveadm("-f", "tab", "migrate", "verify", "-c", new.migrate_conf,
                      "-u", user, check=False)
    err = out.stderr.decode().strip()
    if out.returncode != 0:
        raise SystemExit("demo: migrate verify -u %s: exit %d\n%s%s"
                         % (user, out.returncode, out.stdout.decode(), err))
    VERIFIED[user] = err.splitlines()[-1].rsplit(", ", 1)[-1]
    if not quiet:
        say("doveadm migrate verify -u %s: exit 0, %s%s"
            % (user, err.splitlines()[-1].split(": ", 2)[-1], note))


def new_server_story(root, legacy):
    step("New server: a private Dovecot loading our modules from the build tree")
    operator = {"postmaster@local.test": procs.random_password()}
    new = new_server(root, operator,
                     {DOMAIN: {"legacy_host": "127.0.0.1",
                               "imap_port": legacy.port_imap,
                               "pop3_port": legacy.port_pop3,
                               "tls": "starttls", "ca_file": legacy.tls["ca"],
                               # Dovecot 2.3's login proxy trusts only the
                               # system's CA store, not this test CA
                               "proxy_tls_verify": "no"}},
                     # the demo cuts over one account by hand, to show
                     # mail split between the servers
                     settings={"cutover": "manual"},
                     legacy=legacy, protocols=("imap", "pop3", "lmtp"),
                     # POP3 imports need the separator spelled out (README)
                     separator=".").start()
    c = new.imap("postmaster@local.test")
    c.logout()
    loaded = [line for line in new.log_text().splitlines()
              if "passdb migrate:" in line and "loaded" in line]
    say("auth log: " + loaded[0].split(": ", 1)[1])
    say("the operator's own account logs in: postmaster@local.test OK")

    step("Login capture: users log in to the new server with their old passwords")
    ana, bruno, carla = ("%s@%s" % (n, DOMAIN) for n in ("ana", "bruno", "carla"))
    c = new.imap(ana, password=legacy.users[ana])
    typ, data = c.list()
    c.logout()
    say("IMAP login as ana: checked on the legacy server over STARTTLS "
        "(certificate verified), proxied there: LIST shows %d folders" % len(data))
    # bruno only ever uses POP3: his account is imported over POP3, through
    # the importer's TLS relay (Dovecot 2.3.19's pop3c cannot STLS, README)
    p = new.pop3(bruno, password=legacy.users[bruno])
    uidls = p.uidl()[1]
    p.quit()
    say("POP3 login as bruno: checked on the legacy server over POP3 STLS, proxied "
        "there: %d messages, first UIDL %s (the legacy server's own)"
        % (len(uidls), uidls[0].decode().split()[1]))
    c = new.imap(carla, password=legacy.users[carla])
    c.logout()
    procs.wait_for(lambda: all(account_state(new, u) != "none"
                               for u in (ana, bruno, carla)), 10, "the records")
    for user in (ana, bruno, carla):
        say("store: %-18s %s" % (user, account_state(new, user)))
    decisions = [line.split("): ", 1)[1] for line in new.log_text().splitlines()
                 if "migrate(" in line and "proxied to the legacy" in line]
    say("auth log: " + decisions[0])
    try:
        c = new.imap(ana, password="Wrong-Password-1")
        c.logout()
        raise SystemExit("demo: a wrong password logged in")
    except Exception as e:  # imaplib's error
        say("ana with a wrong password: refused (%s)" % str(e).strip("b'"))
    out = new.doveadm("-f", "tab", "migrate", "version", "-c", new.migrate_conf)
    say("doveadm migrate version: " + out.stdout.decode().splitlines()[1])

    step("Importer: doveadm migrate worker, one dsync pass per queued account")
    t = time.monotonic()
    # host and credential of each account come from the migrate userdb
    # (the vault), never from a command line
    worker = procs.Proc(new.wrapper + ["doveadm", "-c", new.conf, "migrate", "worker",
                                       "-c", new.migrate_conf, "-j", "3"],
                        "worker", log_path=os.path.join(root, "worker.log"))
    say("doveadm migrate worker -j 3 started (pid %d); the operator watches:" % worker.pid)
    watch = subprocess.Popen(new.wrapper + ["doveadm", "-c", new.conf, "migrate",
                                            "status", "-c", new.migrate_conf,
                                            "--watch", "-i", "1"],
                             stdout=subprocess.PIPE, text=True)
    for line in watch.stdout:
        say("  status --watch: " + line.strip())
    watch.wait()
    worker.stop()
    say("nothing queued or importing after %.1fs: worker stopped by PID"
        % (time.monotonic() - t))
    from harness import build
    for user in (ana, bruno, carla):
        progress = subprocess.run([build.store_fixture(), new.store, "progress", user, "-"],
                                  check=True, capture_output=True, text=True).stdout.split()
        say("store: %-18s %s, pass %s, folders %s, messages %s, bytes %s"
            % ((user, account_state(new, user)) + tuple(progress)))
    out = new.doveadm("-f", "flow", "migrate", "status", "-c", new.migrate_conf)
    say("doveadm migrate status: " + out.stdout.decode().strip())
    out = new.doveadm("-f", "tab", "migrate", "list", "-c", new.migrate_conf)
    for line in out.stdout.decode().splitlines()[1:]:
        f = line.split("\t")
        say("doveadm migrate list: %-18s %-7s %s messages %s" % (f[0], f[1], f[2], f[7]))
    migrate_verify(new, carla)
    a = verify.Endpoint("127.0.0.1", legacy.port_imap, carla,
                        legacy.users[carla], label="legacy")
    b = verify.Endpoint("127.0.0.1", new.port_imap,
                        "%s*%s" % (carla, new.master_user),
                        new.master_password, label="new")
    diffs = verify.verify(a, b, out=lambda line: say("verifier, carla: " + line))
    if diffs:
        raise SystemExit("demo: the copy differs from the legacy mailbox")
    out = new.doveadm("-f", "tab", "migrate", "cutover", "-c", new.migrate_conf,
                      "-u", carla)
    say("doveadm migrate cutover -u %s: %s (proxied sessions kicked, a last pass, "
        "now local)" % (carla, out.stdout.decode().splitlines()[1].split("\t")[1]))
    legacy_logins = legacy.log_text().count("Login: user=<%s>" % carla)
    c = new.imap(carla, password=legacy.users[carla])
    n = int(c.select("INBOX")[1][0])
    c.logout()
    if legacy.log_text().count("Login: user=<%s>" % carla) != legacy_logins:
        raise SystemExit("demo: a migrated login reached the legacy server")
    say("carla logs in locally now: INBOX %d messages, the legacy server not asked" % n)
    with open(new.migrate_conf) as f:
        log_path = [line.split("=", 1)[1].strip() for line in f
                    if line.startswith("log ")][0]
    with open(log_path) as f:
        for line in f:
            if "special-folders" in line and carla in line:
                say("migration log: " + line.strip().split(" ", 3)[3])

    step("The POP3-only user: imported over POP3, his UIDLs kept")
    p = legacy.pop3(bruno)
    legacy_uidls = p.uidl()[1]
    p.quit()
    migrate_verify(new, bruno, " (POP3: by content)")
    out = new.doveadm("-f", "tab", "migrate", "cutover", "-c", new.migrate_conf,
                      "-u", bruno)
    say("doveadm migrate cutover -u %s: %s" % (
        bruno, out.stdout.decode().splitlines()[1].split("\t")[1]))
    legacy_logins = legacy.log_text().count("Login: user=<%s>" % bruno)
    p = new.pop3(bruno, password=legacy.users[bruno])
    local_uidls = p.uidl()[1]
    p.quit()
    if legacy.log_text().count("Login: user=<%s>" % bruno) != legacy_logins:
        raise SystemExit("demo: bruno's migrated login reached the legacy server")
    if local_uidls != legacy_uidls:
        raise SystemExit("demo: bruno's UIDLs changed")
    say("bruno's POP3 client now talks to the new server: the same %d UIDLs as "
        "the legacy server's, so it downloads nothing twice" % len(local_uidls))
    relayed = [line for line in legacy.log_text().splitlines()
               if "pop3-login: Info: Login: user=<%s>" % bruno in line and
               ", TLS," in line]
    say("legacy log: %d POP3 logins of bruno's import, every one over TLS "
        "(the importer's relay)" % len(relayed))

    step("After the cut-over: the ledger copier and finish")
    c = legacy.imap(carla)
    c.append("INBOX", None, None, b"From: late@example.org\r\nSubject: relayed during "
             b"the cut-over\r\n\r\nThis one still went to the legacy server.\r\n")
    c.logout()
    say("a message reaches carla's legacy mailbox after the flip")
    for opts in (["--keep-credentials"], ["--maxage", "3650"]):
        out = new.doveadm("-f", "tab", "migrate", "finish", "-c", new.migrate_conf,
                          *opts)
        for line in out.stdout.decode().splitlines()[1:]:
            row = line.split("\t")
            say("doveadm migrate finish %s: %s copied %s, %s" % (
                " ".join(opts), row[0], row[1], row[2]))
    c = new.imap(carla, password=legacy.users[carla])
    n2 = int(c.select("INBOX")[1][0])
    c.logout()
    if n2 != n + 1:
        raise SystemExit("demo: finish did not copy the late message exactly once")
    say("carla's INBOX: %d messages, the late one once; carla's and bruno's legacy "
        "credentials are wiped, ana (not migrated) keeps hers" % n2)
    return new


def mail_story(root, new):
    step("Mail: a private Postfix routing each recipient through migrate-policyd")
    sink = SmtpSink(root).start()
    # the same store the logins above wrote
    daemon = PolicyDaemon(root, domains={DOMAIN: {"legacy_host": "127.0.0.1",
                                                  "smtp_port": sink.port}},
                          store_owner="dovecot",
                          settings={"lmtp_transport": "lmtp:inet:127.0.0.1:%d" % new.lmtp_port,
                                    "store": new.store})
    daemon.store_alias("vendas@" + DOMAIN, "carla@" + DOMAIN)
    daemon.start()
    say("store: carla and bruno migrated, ana synced, still served by the legacy "
        "server; vendas@ an alias of carla")
    extra = daemon.postfix_maps()
    extra.update({"mynetworks": "192.0.2.0/24",
                  "smtpd_relay_restrictions": "reject_unauth_destination"})
    postfix = PostfixServer(root, relay_domains=DOMAIN, main_cf_extra=extra).start()
    out = subprocess.run(["postmap", "-c", postfix.config_dir, "-q", "ping",
                          "socketmap:%s:health" % daemon.socketmap_listen],
                         capture_output=True, text=True, check=True)
    say("postmap -q ping socketmap:...:health -> %s" % out.stdout.strip())
    for name in ("carla", "bruno", "ana", "vendas", "Carla+news", "nobody"):
        out = subprocess.run(["postmap", "-c", postfix.config_dir, "-q",
                              "%s@%s" % (name, DOMAIN),
                              "socketmap:%s:transport" % daemon.socketmap_listen],
                             capture_output=True, text=True, check=True)
        say("transport %-24s -> %s" % ("%s@%s" % (name, DOMAIN), out.stdout.strip()))
    boxes = {u: new.imap(u + "@" + DOMAIN, master=True) for u in ("carla", "bruno")}
    before = {u: int(c.select("INBOX")[1][0]) for u, c in boxes.items()}
    sent = 0
    for what, names, local, relayed in (
            ("a migrated user", ["bruno"], {"bruno": 1}, []),
            ("an unmigrated user", ["ana"], {}, ["ana"]),
            ("a mixed pair and an alias", ["carla", "ana", "vendas"], {"carla": 1},
             ["ana"])):
        rcpts = ["%s@%s" % (n, DOMAIN) for n in names]
        subject = "demo: to %s" % what
        out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port",
                              str(postfix.port), "--from", "friend@outside.test",
                              "--to", ",".join(rcpts), "--header",
                              "Subject: " + subject, "--body", "hello"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit("demo: swaks failed:\n" + out.stdout + out.stderr)
        if relayed:
            sent += 1
            msg = sink.wait_for_messages(sent)[sent - 1]
            if sorted(msg.recipients) != sorted(r + "@" + DOMAIN for r in relayed):
                raise SystemExit("demo: the legacy MX got %r" % msg.recipients)
        for user, n in local.items():
            c = boxes[user]
            procs.wait_for(lambda: int(c.select("INBOX")[1][0]) > before[user], 30,
                           "LMTP delivery to " + user)
            got = len(c.search(None, "SUBJECT", '"%s"' % subject)[1][0].split())
            if got != n:
                raise SystemExit("demo: %s got %d copies of %r" % (user, got, subject))
            before[user] += 1
        say("swaks to %s (%s): %s" % (what, ", ".join(rcpts), "; ".join(
            ["new server (LMTP) for %s, %d copy" % (u, n) for u, n in local.items()] +
            (["legacy MX for %s" % ", ".join(relayed)] if relayed else []))))
    for c in boxes.values():
        c.logout()
    say("vendas@ expands to carla@, and Postfix delivers to carla once")
    return daemon, sink, postfix


def summary(new, started):
    step("Summary")
    out = new.doveadm("-f", "json", "migrate", "list", "-c", new.migrate_conf)
    for row in json.loads(out.stdout.decode()):
        if row["account"] not in VERIFIED:
            migrate_verify(new, row["account"], quiet=True)
        mail = "new server" if row["state"] == "migrated" else "legacy server"
        when = " before the cut-over" if row["state"] == "migrated" else ""
        say("%-18s %-4s %-8s %8s messages %5.1f MB, verify%s: %s; served by the %s"
            % (row["account"], row["protocol"], row["state"], row["messages"],
               int(row["bytes"].split("/")[-1]) / 1e6, when,
               VERIFIED[row["account"]], mail))
    (st,) = json.loads(new.doveadm("-f", "json", "migrate", "status", "-c",
                                   new.migrate_conf).stdout.decode())
    say("imported %s messages, %.1f MB, errors %s; the demo took %.0fs"
        % (st["messages_imported"], int(st["bytes_imported"]) / 1e6, st["errors"],
           time.monotonic() - started))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("demo: run as root (private Dovecot and Postfix instances need it)")
    root = tempfile.mkdtemp(prefix="dovecot-migrate-demo-")
    os.chmod(root, 0o755)
    ok = False
    try:
        legacy = legacy_story(root)
        new = new_server_story(root, legacy)
        daemon, sink, postfix = mail_story(root, new)
        summary(new, STARTED)
        step("Stopping everything, by PID")
        for name, server in (("postfix", postfix), ("smtp-sink", sink),
                             ("migrate-policyd", daemon), ("new dovecot", new),
                             ("legacy dovecot", legacy)):
            server.stop()
            say("stopped " + name)
        left = procs.owned()
        say("processes left: %d" % len(left))
        ok = not left
    finally:
        procs.stop_all()
        if args.keep:
            print("\nlogs and mail kept in " + root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    step("Demo %s in %.0fs" % ("finished" if ok else "FAILED", time.monotonic() - STARTED))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
