#!/usr/bin/python3
"""Issue 19's acceptance test: README.md's "## Runbook", literally, on a
stock system. Run by `tests/package-test --readme SEP PACKAGE.deb` inside a
throwaway overlay of this machine's root (private mount and network
namespaces, chrooted into), as root.

It starts from Debian 12's /etc/dovecot and /etc/postfix as the packages
installed them on this machine, and applies every `sh` block of the
runbook in order, as it stands, with /bin/sh -ex in /root (where the .deb
lies), with only these test-only changes:
  - 192.0.2.10 (the legacy server) -> 127.0.0.1, and imap_port, pop3_port
    and smtp_port lines for the legacy servers' ports in the [domain
    example.com] block;
  - `systemctl` is tests/harness/systemctl_shim.py, first in PATH (there is
    no systemd in the chroot): it runs the installed units' ExecStart lines.
What the runbook leaves to the operator, the test provides: a legacy
Dovecot (tests/harness/dovecot.py) with accounts of example.com whose
folders are named with spaces, dots, the hierarchy separator and non-ASCII
letters, its test CA in the system trust store (update-ca-certificates, as
an operator would do for a private CA), an smtp-sink as the legacy MX,
/root/users.txt, the password of someone@example.com on the standard input
of the check step, and a syslog socket (/dev/log -> /var/log/syslog).

One line per check, "ok   ..." or "FAIL ...: detail" (then the failing
step's output, and the logs); each runbook step's output follows its line.
Exit 1 at the first failure. RUNBOOK_README=PATH in the environment runs
another copy of README.md's runbook (to try a change before committing it).
"""
import argparse
import imaplib
import os
import poplib
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TESTS)

from harness import corpus, mutf7, procs  # noqa: E402
from harness.dovecot import DovecotServer  # noqa: E402
from harness.smtp_sink import SmtpSink  # noqa: E402

# RUNBOOK_README: another copy of README.md, e.g. to try a proposed change
# of the runbook before committing it (default: the repository's)
README = os.environ.get("RUNBOOK_README") or \
    os.path.join(os.path.dirname(TESTS), "README.md")
SHIM = os.path.join(TESTS, "harness", "systemctl_shim.py")
SHIM_STATE = "/run/systemctl-shim"
SHIM_BIN = "/run/readme-test-bin"
SYSLOG = "/var/log/syslog"
DOMAIN = "example.com"
LEGACY_ADDRESS = "192.0.2.10"
LEGACY_HOST = "127.0.0.1"
# a root login shell's PATH on Debian, the shim first
PATH = SHIM_BIN + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# (unicode folder name, "/" = hierarchy) per legacy separator; parents
# before children
FOLDERS = {
    ".": ["INBOX", "Sent", "Work", "Work/Projects", "With Space", "Caf\u00e9"],
    "/": ["INBOX", "Sent", "Reports", "Reports/2024", "Invoices 2.0",
          "With Space", "Caf\u00e9"],
}

# someone: first IMAP login (and check -u); popper: first POP3 login;
# queued1/2: users.txt; stranger: never logs in, not in users.txt
FIRST_IMAP = "someone@" + DOMAIN
FIRST_POP3 = "popper@" + DOMAIN
LISTED = ["queued1@" + DOMAIN, "queued2@" + DOMAIN]
STRANGER = "stranger@" + DOMAIN
MIGRATING = [FIRST_IMAP, FIRST_POP3] + LISTED


class Failed(Exception):
    pass


def ok(what):
    print("ok   %s" % what, flush=True)


def fail(what, detail=""):
    raise Failed("%s%s" % (what, (":\n" + detail.rstrip()) if detail else ""))


def indent(text):
    return "".join("     | %s\n" % line for line in text.rstrip("\n").split("\n")) \
        if text.strip() else "     | (no output)\n"


def poll(predicate, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# -- the stock system -------------------------------------------------------

class Syslog(threading.Thread):
    """/dev/log (the overlay's private /dev) into /var/log/syslog, as
    rsyslog would: stock Dovecot and Postfix log to syslog."""

    def __init__(self):
        super().__init__(daemon=True)
        if os.path.exists("/dev/log"):
            os.unlink("/dev/log")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("/dev/log")
        os.chmod("/dev/log", 0o666)
        self.out = open(SYSLOG, "ab", buffering=0)

    def run(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            # "<PRI>Mon DD HH:MM:SS tag: text": the priority off
            self.out.write(re.sub(rb"^<\d+>", b"", data).rstrip(b"\n") + b"\n")


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace",
                          **kw)


def stock_postfix():
    """This machine's Postfix was installed as "No configuration" (no
    main.cf). Create main.cf the way Debian's postfix postinst does for an
    "Internet Site" with the debconf defaults it would compute here:
    main.cf.debian (+ main.cf.tls when the snakeoil key exists), its
    smtpd_relay_restrictions, then myhostname (myfqdn), the alias maps,
    mydestination, relayhost, mynetworks, mailbox_size_limit,
    recipient_delimiter, inet_interfaces = all, inet_protocols = all, and
    newaliases."""
    if os.path.exists("/etc/postfix/main.cf"):
        fail("stock Postfix", "/etc/postfix/main.cf exists already")
    shutil.copy("/usr/share/postfix/main.cf.debian", "/etc/postfix/main.cf")
    if os.path.exists("/etc/ssl/private/ssl-cert-snakeoil.key"):
        with open("/etc/postfix/main.cf", "a") as f, \
                open("/usr/share/postfix/main.cf.tls") as tls_part:
            f.write(tls_part.read())
    fqdn = sh(["hostname", "--fqdn"]).stdout.strip() or "localhost"
    myhostname = fqdn
    if "." not in myhostname:   # the postinst's myfqdn()
        dom = sh(r"sed -n 's/^search[[:space:]]*\.*\([^[:space:]]*\).*/\1/p;"
                 r"s/^domain[[:space:]]*\.*\([^[:space:]]*\).*/\1/p' "
                 r"/etc/resolv.conf | tail -1").stdout.strip().rstrip(".")
        if dom:
            myhostname += "." + dom
    mailname = "localhost"      # debconf's postfix/mailname here
    if mailname == fqdn:
        dest = "$myhostname, %s, localhost.localdomain, , localhost" % mailname
    else:
        dest = "$myhostname, %s, %s, localhost.localdomain, localhost" % (mailname, fqdn)
    settings = [
        "smtpd_relay_restrictions=permit_mynetworks permit_sasl_authenticated "
        "defer_unauth_destination",
        "myhostname=" + myhostname,
        "alias_maps=hash:/etc/aliases",
        "alias_database=hash:/etc/aliases",
        "mydestination=" + dest,
        "relayhost=",
        "mynetworks=127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128",
        "mailbox_size_limit=0",
        "recipient_delimiter=+",
        "inet_interfaces=all",
        "inet_protocols=all",
    ]
    out = sh(["postconf", "-e"] + settings)
    if out.returncode != 0:
        fail("stock Postfix: postconf -e", out.stdout)
    out = sh(["newaliases"])
    if out.returncode != 0:
        fail("stock Postfix: newaliases", out.stdout)
    ok("stock Postfix: /etc/postfix/main.cf as Debian's postinst writes it "
       "for an Internet Site (myhostname %s)" % myhostname)


def stock_dovecot():
    """Debian's /etc/dovecot as dovecot-core installed it: not touched
    before the runbook."""
    out = sh("dpkg --verify dovecot-core dovecot-imapd dovecot-pop3d "
             "dovecot-lmtpd postfix")
    changed = [line for line in out.stdout.splitlines()
               if " /etc/dovecot/" in line or " /etc/postfix/" in line]
    if changed:
        fail("stock configs", "dpkg --verify: changed conffiles:\n" + out.stdout)
    ok("stock /etc/dovecot and /etc/postfix (dpkg --verify: no conffile changed)")


def trust_ca(ca_pem):
    """The legacy server's private CA into the system trust store, as an
    operator would: /usr/local/share/ca-certificates + update-ca-certificates."""
    shutil.copy(ca_pem, "/usr/local/share/ca-certificates/legacy-test-ca.crt")
    out = sh(["update-ca-certificates"])
    with open(ca_pem) as f:
        pem = f.read().strip()
    with open("/etc/ssl/certs/ca-certificates.crt") as f:
        bundle = f.read()
    if out.returncode != 0 or pem not in bundle:
        fail("update-ca-certificates", out.stdout)
    ok("the legacy server's test CA is in the system trust store")


# -- the legacy side ----------------------------------------------------------

def load_account(srv, user, names, seed, per_folder):
    """Creates and subscribes `names` (unicode, "/" = hierarchy) and fills
    each with messages of the seeded corpus."""
    msgs = [m for f in corpus.generate(seed, "small") for m in f.messages
            if len(m.raw) < 64 * 1024]
    c = srv.imap(user)
    try:
        sep = corpus.hierarchy_separator(c)
        i = 0
        for name in names:
            wire = corpus.imap_name(name, sep)
            if wire != "INBOX":
                typ, data = c.create(corpus.quote(wire))
                if typ != "OK":
                    fail("legacy: CREATE %r" % name, repr(data))
                c.subscribe(corpus.quote(wire))
            for _ in range(per_folder):
                corpus.append_raw(c, wire, msgs[i % len(msgs)])
                i += 1
    finally:
        c.logout()


def start_legacy(root, separator):
    extra = ""
    if separator == "/":
        # fs layout: a '.' is an ordinary character of a name
        extra = "mail_location = maildir:@MAIL_ROOT@/%u/Maildir:LAYOUT=fs\n"
    users = {u: procs.random_password() for u in MIGRATING + [STRANGER]}
    legacy = DovecotServer(root, "legacy", users, separator=separator,
                           extra_conf=extra).start()
    names = FOLDERS[separator]
    load_account(legacy, FIRST_IMAP, names, 1, 4)
    load_account(legacy, FIRST_POP3, ["INBOX"], 2, 6)
    load_account(legacy, LISTED[0], names, 3, 3)
    load_account(legacy, LISTED[1], names, 4, 2)
    load_account(legacy, STRANGER, ["INBOX"], 5, 2)
    c = legacy.imap(FIRST_IMAP)
    got = corpus.hierarchy_separator(c)
    c.logout()
    if got != separator:
        fail("legacy server's separator", "%r, wanted %r" % (got, separator))
    ok("legacy Dovecot on %s:%d (IMAP), :%d (POP3), separator %r, %d accounts, "
       "folders %s" % (LEGACY_HOST, legacy.port_imap, legacy.port_pop3,
                       separator, len(users), ", ".join(names)))
    return legacy


def folders(client):
    """{unicode name with "/" as separator: message count} of a logged-in
    IMAP client, selectable folders only."""
    typ, data = client.list('""', "*")
    if typ != "OK":
        fail("LIST", repr(data))
    out = {}
    for line in data:
        if line is None:
            continue
        if isinstance(line, tuple):   # a literal name
            attrs_sep, name = line[0], line[1]
        else:
            m = re.match(rb'(\([^)]*\) (?:NIL|"(?:\\.|[^"\\])*")) (.*)$', line)
            attrs_sep, name = m.group(1), m.group(2)
            if name.startswith(b'"'):
                name = re.sub(rb"\\(.)", rb"\1", name[1:-1])
        m = re.match(rb'\(([^)]*)\) (NIL|"((?:\\.|[^"\\])*)")', attrs_sep)
        attrs = m.group(1).lower().split()
        sep = None if m.group(2) == b"NIL" else re.sub(rb"\\(.)", rb"\1", m.group(3)).decode()
        wire = name.decode()
        uni = mutf7.decode(wire)
        if sep and sep != "/":
            uni = "/".join(uni.split(sep))
        if b"\\noselect" in attrs or b"\\nonexistent" in attrs:
            out[uni] = None
            continue
        typ, st = client.status(corpus.quote(wire), "(MESSAGES)")
        if typ != "OK":
            fail("STATUS %r" % uni, repr(st))
        out[uni] = int(re.search(rb"MESSAGES (\d+)", st[0]).group(1))
    return out


# -- the runbook --------------------------------------------------------------

def runbook_blocks():
    """The `sh` blocks of README.md's "## Runbook" section, in order."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Runbook\n(.*?)(?=^## )", text, re.M | re.S)
    if not m:
        fail("README.md has no \"## Runbook\" section")
    blocks = re.findall(r"^```sh\n(.*?)^```$", m.group(1), re.M | re.S)
    if not blocks:
        fail("README.md's runbook has no sh block")
    return blocks


def substitute(blocks, legacy, sink):
    """The only test-only changes: the legacy server's address, and its
    ports in the [domain example.com] block."""
    out = []
    hosts = 0
    for block in blocks:
        hosts += block.count(LEGACY_ADDRESS)
        new = re.sub(r"^(legacy_host\s*=\s*)" + re.escape(LEGACY_ADDRESS) + r"\n",
                     lambda m: "%s%s\nimap_port = %d\npop3_port = %d\nsmtp_port = %d\n" % (
                         m.group(1), LEGACY_HOST, legacy.port_imap,
                         legacy.port_pop3, sink.port),
                     block, flags=re.M)
        out.append(new.replace(LEGACY_ADDRESS, LEGACY_HOST))
    if hosts != 1 or not any("imap_port" in b for b in out) or \
            not any("[domain %s]" % DOMAIN in b for b in out):
        fail("substitutions", "expected one 'legacy_host = %s' line in a "
             "[domain %s] block, found %d mentions of %s" %
             (LEGACY_ADDRESS, DOMAIN, hosts, LEGACY_ADDRESS))
    return out


def env():
    e = {k: v for k, v in os.environ.items()
         if k in ("LANG", "LC_ALL", "TERM", "TZ")}
    e.update(PATH=PATH, HOME="/root", USER="root", LOGNAME="root",
             SHELL="/bin/sh", SYSTEMCTL_SHIM_STATE=SHIM_STATE)
    return e


def segments(output):
    """sh -x output split per command: [(command, its output)]."""
    segs = []
    for line in output.splitlines(keepends=True):
        if line.startswith("+ "):
            segs.append([line[2:].rstrip("\n"), ""])
        elif segs:
            segs[-1][1] += line
        else:
            segs.append(["", line])
    return [tuple(s) for s in segs]


def run_step(n, block, stdin=b""):
    path = "/root/runbook-step-%d.sh" % n
    with open(path, "w") as f:
        f.write(block)
    started = time.monotonic()
    try:
        r = subprocess.run(["/bin/sh", "-ex", path], cwd="/root", env=env(),
                           input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300)
    except subprocess.TimeoutExpired as e:
        fail("runbook step %d timed out after 300 s" % n,
             indent(e.output.decode(errors="replace") if e.output else ""))
    out = r.stdout.decode(errors="replace")
    first = block.strip().split("\n")[0]
    if r.returncode != 0:
        fail("runbook step %d (%s ...) exited %d" % (n, first, r.returncode),
             "the step:\n" + indent(block) + "its output (sh -ex):\n" + indent(out))
    ok("runbook step %d: %s ... (%.1fs), its output:" %
       (n, first, time.monotonic() - started))
    print(indent(out), end="", flush=True)
    return out


def doveadm(*args, stdin=None):
    return subprocess.run(["doveadm"] + list(args), env=env(), input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, errors="replace", timeout=120)


def account_states():
    r = doveadm("-f", "tab", "migrate", "list")
    if r.returncode != 0:
        fail("doveadm migrate list exited %d" % r.returncode, r.stderr)
    lines = r.stdout.splitlines()
    if not lines:
        return {}, r.stdout
    head = lines[0].split("\t")
    rows = [dict(zip(head, line.split("\t"))) for line in lines[1:] if line]
    return {row.get("account"): row.get("state") for row in rows}, r.stdout


def adopt(name):
    with open(os.path.join(SHIM_STATE, name + ".pid")) as f:
        pid = int(f.read())
    if not procs.pid_alive(pid):
        fail("%s is not running" % name, procs.read_text(
            os.path.join(SHIM_STATE, name + ".log"))[-3000:])
    procs.adopt_pid(pid, name)
    return pid


def adopt_postfix():
    pid = int(open("/var/spool/postfix/pid/master.pid").read().split()[0])
    if not procs.pid_alive(pid):
        fail("Postfix's master is not running")
    procs.adopt_pid(pid, "postfix")
    return pid


def smtp_send(rcpt, subject):
    msg = ("From: tester@sender.invalid\r\nTo: %s\r\nSubject: %s\r\n"
           "Message-ID: <%s@readme-test.invalid>\r\n\r\nhello %s\r\n" %
           (rcpt, subject, subject.replace(" ", "-"), rcpt))
    try:
        with smtplib.SMTP("127.0.0.1", 25, timeout=30) as s:
            s.ehlo("client.readme-test.invalid")
            refused = s.sendmail("tester@sender.invalid", [rcpt], msg)
    except smtplib.SMTPException as e:
        fail("SMTP to %s through 127.0.0.1:25" % rcpt, repr(e) + "\n" + diagnostics())
    if refused:
        fail("SMTP to %s refused" % rcpt, repr(refused))


def sink_got(sink, rcpt, subject):
    for m in sink.messages():
        if rcpt in m.recipients and ("Subject: " + subject).encode() in m.data:
            return True
    return False


def diagnostics():
    parts = ["--- postqueue -p\n" + sh(["postqueue", "-p"]).stdout,
             "--- doveadm log errors\n" + doveadm("log", "errors").stdout,
             "--- %s (tail)\n" % SYSLOG + "".join(
                 procs.read_text(SYSLOG).splitlines(True)[-60:]),
             "--- /var/log/dovecot-migrate.log (tail)\n" + "".join(
                 procs.read_text("/var/log/dovecot-migrate.log").splitlines(True)[-30:])]
    for name in ("dovecot", "migrate-policyd", "dovecot-migrate-worker", "postfix"):
        text = procs.read_text(os.path.join(SHIM_STATE, name + ".log"))
        if text:
            parts.append("--- %s's output (tail)\n" % name +
                         "".join(text.splitlines(True)[-30:]))
    return "\n".join(parts)


def new_imap(user, password):
    c = imaplib.IMAP4("127.0.0.1", 143, timeout=30)
    try:
        c.login(user, password)
    except Exception as e:
        c.shutdown()
        fail("IMAP LOGIN %s on the new server (127.0.0.1:143)" % user,
             repr(e) + "\n" + diagnostics())
    return c


# -- the scenario -----------------------------------------------------------

def scenario(separator, deb):
    root = tempfile.mkdtemp(prefix="dm-readme-")
    os.chmod(root, 0o755)
    Syslog().start()
    stock_dovecot()
    stock_postfix()
    legacy = start_legacy(root, separator)
    sink = SmtpSink(root, "legacy-mx").start()
    ok("smtp-sink as the legacy MX on %s:%d" % (LEGACY_HOST, sink.port))
    trust_ca(legacy.tls["ca"])
    with open("/root/users.txt", "w") as f:
        for u in LISTED:
            f.write("%s:%s\n" % (u, legacy.users[u]))
    os.chmod("/root/users.txt", 0o600)
    shutil.copy(deb, "/root/")
    os.makedirs(SHIM_BIN, exist_ok=True)
    os.symlink(SHIM, os.path.join(SHIM_BIN, "systemctl"))

    blocks = substitute(runbook_blocks(), legacy, sink)
    steps = {}
    for n, block in enumerate(blocks, 1):
        for key, mark in (("install", "apt install ./"),
                          ("domain", "[domain " + DOMAIN + "]"),
                          ("dovecot", "systemctl restart dovecot"),
                          ("postfix", "systemctl reload postfix"),
                          ("check", "doveadm migrate check -u " + FIRST_IMAP),
                          ("golive", "doveadm migrate add -F /root/users.txt"),
                          ("watch", "doveadm migrate status"),
                          ("finish", "doveadm migrate finish")):
            if mark in block:
                steps.setdefault(key, n)
    missing = [k for k in ("install", "domain", "dovecot", "postfix", "check",
                           "golive", "watch", "finish") if k not in steps]
    if missing:
        fail("README.md's runbook lacks steps", ", ".join(missing))
    ok("README.md's runbook: %d sh blocks" % len(blocks))

    for n, block in enumerate(blocks, 1):
        stdin = b""
        if n == steps["check"]:
            stdin = legacy.users[FIRST_IMAP].encode() + b"\n"
        if n == steps["golive"]:
            go_live_before(legacy)
        out = run_step(n, block, stdin)
        if n == steps["install"]:
            after_install(out)
        if n == steps["dovecot"]:
            after_dovecot()
        if n == steps["postfix"]:
            after_postfix(sink)
        if n == steps["check"]:
            after_check(out, separator)
        if n == steps["golive"]:
            after_go_live(out, legacy, sink, separator)
        if n == steps["watch"]:
            after_watch(out)
        if n == steps["finish"]:
            finished, text = account_states()
            if any(finished.get(u) != "migrated" for u in MIGRATING):
                fail("after finish: every account still migrated", text)
            ok("finish: every account migrated and finished")

    with open(os.path.join(SHIM_STATE, "calls.log")) as f:
        calls = [line.strip() for line in f]
    ok("the runbook's systemctl calls (test shim): %s" % "; ".join(calls))
    legacy.stop()
    sink.stop()


def after_watch(out):
    segs = dict(segments(out))
    failed = segs.get("doveadm migrate list -s failed")
    if failed is None or "@" in failed:
        fail("doveadm migrate list -s failed: no failed account", indent(out))
    ok("status runs; no account failed")


def after_install(out):
    segs = segments(out)
    apt = [(cmd, text) for cmd, text in segs if cmd.startswith("apt install")]
    if len(apt) != 2:
        fail("install step: two apt lines", out)
    first = apt[0][1]
    if not re.search(r"^0 upgraded, 0 newly installed, 0 to remove", first, re.M):
        fail("the first apt line is a no-op on this machine", indent(first))
    ok("first apt line: a no-op (packages present)")
    if not os.path.exists("/usr/lib/dovecot/modules/auth/libauthdb_migrate.so"):
        fail("apt install ./dovecot-migrate_*.deb installed the package", indent(out))
    states, text = account_states()
    if states:
        fail("no account after the install", text)
    for path in ("/etc/dovecot-migrate/vault.key", "/var/lib/dovecot-migrate/routing"):
        if not os.path.exists(path):
            fail("postinst ran doveadm migrate init: %s exists" % path, indent(out))
    ok("postinst ran doveadm migrate init (vault key, store), no account yet")


def after_dovecot():
    adopt("dovecot")
    try:
        procs.wait_banner(143, b"* OK", 20)
        procs.wait_banner(110, b"+OK", 20)
    except procs.StartError as e:
        fail("the stock Dovecot listens on 143 and 110", str(e) + "\n" + diagnostics())
    ok("Dovecot (re)started by the runbook: 127.0.0.1:143 and :110 greet")


def after_postfix(sink):
    adopt("migrate-policyd")
    adopt_postfix()
    for sock in ("migrate-policy", "migrate-map"):
        path = "/var/spool/postfix/private/" + sock
        if not poll(lambda: os.path.exists(path), 10):
            fail("migrate-policyd's socket %s" % path, diagnostics())
    try:
        procs.wait_banner(25, b"220", 20)
    except procs.StartError as e:
        fail("Postfix listens on 25", str(e) + "\n" + diagnostics())
    ok("Postfix and migrate-policyd started by the runbook")
    # before any account exists: mail for the domain goes to the legacy MX
    smtp_send(FIRST_IMAP, "before any account")
    if not poll(lambda: sink_got(sink, FIRST_IMAP, "before any account"), 30):
        fail("mail for %s (no account yet) relayed to the legacy MX" % FIRST_IMAP,
             diagnostics())
    ok("before any account exists, mail for %s is relayed to the legacy MX" % FIRST_IMAP)


def after_check(out, separator):
    segs = [(cmd, text) for cmd, text in segments(out)
            if cmd.startswith("doveadm migrate check")]
    if len(segs) != 2:
        fail("check step: two doveadm migrate check lines", out)
    for cmd, text in segs:
        lines = [line for line in text.splitlines() if line.strip()]
        bad = [line for line in lines if not line.startswith("OK ")]
        if bad or not lines:
            fail("%s: only OK lines" % cmd, indent(text))
    if "hierarchy separator '%s'" % separator not in segs[1][1]:
        fail("check -u reports the legacy separator %r" % separator, indent(segs[1][1]))
    ok("doveadm migrate check: only OK lines, exit 0; check -u: legacy "
       "separator %r" % separator)


def go_live_before(legacy):
    """The first logins, before the runbook's go-live step queues the
    rest: IMAP and POP3, plaintext on 127.0.0.1, legacy passwords."""
    c = new_imap(FIRST_IMAP, legacy.users[FIRST_IMAP])
    got = folders(c)
    c.logout()
    lc = legacy.imap(FIRST_IMAP)
    want = folders(lc)
    lc.logout()
    if set(got) != set(want):
        fail("first IMAP login (proxied) sees the legacy folders",
             "new: %s\nlegacy: %s" % (sorted(got), sorted(want)))
    ok("first IMAP login of %s: proxied, %d folders" % (FIRST_IMAP, len(got)))
    try:
        p = poplib.POP3("127.0.0.1", 110, timeout=30)
        p.user(FIRST_POP3)
        p.pass_(legacy.users[FIRST_POP3])
        count, _ = p.stat()
        p.quit()
    except (poplib.error_proto, OSError) as e:
        fail("first POP3 login of %s" % FIRST_POP3, repr(e) + "\n" + diagnostics())
    ok("first POP3 login of %s: %d messages" % (FIRST_POP3, count))
    poll(lambda: all(u in account_states()[0] for u in (FIRST_IMAP, FIRST_POP3)), 10)
    states, text = account_states()
    print(indent(doveadm("migrate", "list").stdout), end="", flush=True)
    if FIRST_IMAP not in states or FIRST_POP3 not in states:
        fail("both logins captured (doveadm migrate list)", text + diagnostics())
    ok("both logins captured: %s" % ", ".join("%s %s" % (u, states[u]) for u in
                                            (FIRST_IMAP, FIRST_POP3)))


def after_go_live(out, legacy, sink, separator):
    for u in LISTED:
        if not re.search(r"^.*%s.*queued" % re.escape(u), out, re.M):
            fail("add -F queued %s" % u, indent(out))
    ok("add -F /root/users.txt queued %s" % ", ".join(LISTED))
    adopt("dovecot-migrate-worker")
    started = time.monotonic()
    last = [None]

    def all_migrated():
        states, text = account_states()
        last[0] = text
        if any(s == "failed" for s in states.values()):
            return "failed"
        return all(states.get(u) == "migrated" for u in MIGRATING)
    done = poll(all_migrated, 120, 1)
    if done is not True:
        fail("the worker brings every account to migrated",
             last[0] + "\n" + doveadm("migrate", "status").stdout + diagnostics())
    ok("the worker brought every account to migrated (%.0fs)" %
       (time.monotonic() - started))
    print(indent(last[0]), end="")

    # a migrated recipient: delivered locally, over LMTP
    target = LISTED[0]
    smtp_send(target, "after migration")

    def delivered():
        c = new_imap(target, legacy.users[target])
        try:
            c.select("INBOX", readonly=True)
            typ, data = c.search(None, '(HEADER Subject "after migration")')
            return typ == "OK" and bool(data[0].split())
        finally:
            c.logout()
    if not poll(delivered, 30, 0.5):
        fail("mail for the migrated %s lands in its new INBOX" % target, diagnostics())
    ok("mail for the migrated %s lands in its new INBOX (IMAP, its password)" % target)
    # a legacy account never captured nor listed: the legacy MX
    smtp_send(STRANGER, "not migrated")
    if not poll(lambda: sink_got(sink, STRANGER, "not migrated"), 30):
        fail("mail for %s (not migrated) relayed to the legacy MX" % STRANGER,
             diagnostics())
    if sink_got(sink, target, "after migration"):
        fail("mail for the migrated %s went to the legacy MX too" % target)
    ok("mail for %s (never logged in, not listed) is relayed to the legacy MX" % STRANGER)

    # the folders: names (separator normalised, mUTF-7 decoded) and counts
    for u in MIGRATING:
        lc = legacy.imap(u)
        want = folders(lc)
        lc.logout()
        c = new_imap(u, legacy.users[u])
        got = folders(c)
        c.logout()
        if u == target:
            want["INBOX"] += 1
        if got != want:
            fail("%s: folders and counts on the new server equal the legacy "
                 "ones (INBOX +1 delivered)" % u,
                 "new:    %r\nlegacy: %r" % (sorted(got.items()), sorted(want.items())))
        ok("%s: %d folders, names and message counts as on the legacy server "
           "(%s)" % (u, len(got), ", ".join("%s=%s" % kv for kv in sorted(got.items()))))


def no_process_left():
    """Every process of the test's network namespace, but the test and
    its ancestors, is gone."""
    mine = os.readlink("/proc/self/ns/net")
    keep = set()
    pid = os.getpid()
    while pid > 1:
        keep.add(pid)
        try:
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().split(") ", 1)[1].split()[1])
        except OSError:
            break
    left = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in keep:
            continue
        try:
            if os.readlink("/proc/%s/ns/net" % name) != mine:
                continue
            if not procs.pid_alive(int(name)):
                continue
            with open("/proc/%s/cmdline" % name, "rb") as f:
                left.append((int(name), f.read().replace(b"\0", b" ").decode(
                    errors="replace").strip()))
        except OSError:
            continue
    return left


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--separator", choices=(".", "/"), required=True)
    ap.add_argument("deb")
    args = ap.parse_args()
    started = time.monotonic()
    status = 0
    try:
        scenario(args.separator, os.path.abspath(args.deb))
    except (Failed, procs.StartError) as e:
        print("FAIL %s" % str(e).replace("\n", "\n     "), flush=True)
        status = 1
    except Exception:
        print("FAIL unexpected error:\n     %s" % traceback.format_exc().replace(
            "\n", "\n     "), flush=True)
        print(indent(diagnostics()), end="", flush=True)
        status = 1
    finally:
        procs.stop_all()
    left = no_process_left()
    for pid, _ in left:
        procs.stop_pid(pid, 5)
    if left:
        print("FAIL processes left: %s" % "; ".join("%d %s" % p for p in left))
        status = 1
    else:
        ok("every process the test started is stopped")
    print("%s the README's runbook, legacy separator %r (%.0fs)" %
          ("ok  " if status == 0 else "FAIL", args.separator,
           time.monotonic() - started), flush=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
