"""A private Dovecot instance for tests.

Each DovecotServer lives entirely in root/name/: its own dovecot.conf (no
!include of /etc/dovecot), base_dir, state_dir, logs, passwd-files and
Maildirs, listening on fresh ports on 127.0.0.1 only.  The system Dovecot
(if any) is never touched.

    with DovecotServer(root, "legacy", {"alice": pw}) as srv:
        c = srv.imap_starttls("alice")
"""
import imaplib
import os
import poplib
import secrets
import shutil
import socket
import subprocess

from . import procs, tls

MAIL_UID = 8   # Debian's "mail" user/group: owns every Maildir
MAIL_GID = 8


def _find(binary):
    return shutil.which(binary) or os.path.join("/usr/sbin", binary)


def hash_password(password):
    """SHA512-CRYPT hash, computed by `openssl passwd -6 -stdin` so the
    password travels on a pipe, never on argv (python's crypt module is
    deprecated and gone in 3.13)."""
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                       input=password.encode() + b"\n",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError("openssl passwd failed: %s" % r.stderr.decode())
    return "{SHA512-CRYPT}" + r.stdout.decode().strip()


def _makedirs(path, owner=None):
    """mkdir -p with mode 0755 on every level we create, so the unprivileged
    Dovecot processes (mail, dovecot, dovenull) can traverse it."""
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o755)
    if owner:
        os.chown(path, *owner)
    return path


class DovecotError(RuntimeError):
    pass


class DovecotServer:
    """One private Dovecot.  Attributes after construction:

    dir, conf, base_dir, state_dir, log_path, mail_root, passwd_file,
    master_passwd_file, tls (dict ca/cert/key),
    port_imap, port_imaps, port_pop3, port_pop3s (also as the dict .ports),
    lmtp_port + lmtp_socket (when "lmtp" in protocols, else None),
    users (dict user -> password), master_user, master_password.
    """

    def __init__(self, root, name, users, extra_conf="", wrapper=None,
                 passdb_conf=None, protocols=("imap", "pop3"),
                 userdb_conf=None, separator=None, master_user="master",
                 master_password=None, tls_files=None):
        """users: dict user -> password (hashed into a passwd-file).
        extra_conf: appended verbatim at the end of dovecot.conf.  Sections
            with the same name merge, so e.g. `namespace inbox { mailbox
            Sent { special_use = \\Sent } }` works there.
        passdb_conf: replaces the default passdb blocks (the master-user
            passdb and the passwd-file passdb) entirely.
        userdb_conf: replaces the default userdb, a static one giving
            uid/gid=mail and home=<mail_root>/%u (without allow_all_users,
            so user lookups go through the passdbs).
        wrapper: argv prefix put in front of both `dovecot` and `doveadm`.
        separator: the inbox namespace's hierarchy separator (Dovecot's
            default for Maildir++ is ".").
        tls_files: dict(ca, cert, key) to share a CA between servers; by
            default one CA per root (root/tls), made on first use.
        """
        self.root = os.path.abspath(root)
        self.name = name
        self.users = dict(users)
        self.extra_conf = extra_conf
        self.wrapper = list(wrapper or [])
        self.passdb_conf = passdb_conf
        self.userdb_conf = userdb_conf
        self.protocols = tuple(protocols)
        self.separator = separator
        self.master_user = master_user
        # random unless given: tests never need to know it in advance
        self.master_password = master_password or secrets.token_urlsafe(16)
        self.proc = None
        # unique, so leftover processes are recognisable by their titles
        self.instance_name = "dovecot-test-%s-%s" % (name, secrets.token_hex(3))

        self.dir = _makedirs(os.path.join(self.root, name))
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.base_dir = _makedirs(os.path.join(self.dir, "run"))
        self.state_dir = _makedirs(os.path.join(self.dir, "state"))
        self.mail_root = _makedirs(os.path.join(self.dir, "mail"),
                                   owner=(MAIL_UID, MAIL_GID))
        self.log_path = os.path.join(self.dir, "dovecot.log")
        self.stdout_path = os.path.join(self.dir, "dovecot.out")
        self.passwd_file = os.path.join(self.dir, "users.passwd")
        self.master_passwd_file = os.path.join(self.dir, "master.passwd")
        self.tls = tls_files or tls.make_ca_and_cert(
            os.path.join(self.root, "tls"))

        # Ports are attributes port_*; `imap`/`pop3` are the client methods.
        self.port_imap = procs.free_port()
        self.port_imaps = procs.free_port()
        self.port_pop3 = procs.free_port()
        self.port_pop3s = procs.free_port()
        self.lmtp_port = procs.free_port() if "lmtp" in self.protocols else None
        self.lmtp_socket = (os.path.join(self.base_dir, "lmtp")
                            if "lmtp" in self.protocols else None)
        self._write_passwd_files()
        self._write_conf()

    # -- ports, under the short names the brief uses -----------------------
    @property
    def ports(self):
        return dict(imap=self.port_imap, imaps=self.port_imaps,
                    pop3=self.port_pop3, pop3s=self.port_pop3s,
                    lmtp=self.lmtp_port)

    # -- files -------------------------------------------------------------
    def _write_passwd_files(self):
        # passwd-file is re-read by the auth process whenever it changes,
        # so add_user() needs no reload.  Written atomically (rename) so
        # the auth process never sees a half-written file.
        def write(path, entries):
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                for user, pw in entries.items():
                    f.write("%s:%s\n" % (user, hash_password(pw)))
            os.chmod(tmp, 0o644)
            os.rename(tmp, path)
        write(self.passwd_file, self.users)
        write(self.master_passwd_file, {self.master_user: self.master_password})

    def add_user(self, user, password):
        self.users[user] = password
        self._write_passwd_files()

    def maildir(self, user):
        return os.path.join(self.mail_root, user, "Maildir")

    def _write_conf(self):
        protocols = " ".join(p for p in self.protocols)
        passdb = self.passdb_conf
        if passdb is None:
            # master first: "user*master" + master password logs in as user;
            # pass = yes then still requires the user to exist below.
            passdb = """\
passdb {
  driver = passwd-file
  master = yes
  args = %(master)s
  pass = yes
}
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT %(users)s
}
""" % dict(master=self.master_passwd_file, users=self.passwd_file)
        userdb = self.userdb_conf
        if userdb is None:
            userdb = """\
userdb {
  driver = static
  args = uid=mail gid=mail home=%s/%%u
}
""" % self.mail_root
        sep = ("  separator = %s\n" % self.separator) if self.separator else ""
        lmtp = ""
        if "lmtp" in self.protocols:
            lmtp = """\
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
  inet_listener lmtp {
    address = 127.0.0.1
    port = %d
  }
}
""" % self.lmtp_port
        conf = """\
# Written by tests/harness/dovecot.py -- a private test instance.
instance_name = %(instance)s
base_dir = %(base_dir)s
state_dir = %(state_dir)s
protocols = %(protocols)s
listen = 127.0.0.1

log_path = %(log)s
info_log_path = %(log)s
debug_log_path = %(log)s
auth_verbose = yes

ssl = yes
ssl_cert = <%(cert)s
ssl_key = <%(key)s
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_master_user_separator = *

mail_location = maildir:%(mail_root)s/%%u/Maildir
mail_uid = mail
mail_gid = mail
first_valid_uid = 8
last_valid_uid = 0
first_valid_gid = 8

namespace inbox {
  inbox = yes
%(sep)s}

%(passdb)s
%(userdb)s
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %(imap)d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %(imaps)d
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = %(pop3)d
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = %(pop3s)d
    ssl = yes
  }
}
%(lmtp)s
# --- extra_conf ---
%(extra)s
""" % dict(instance=self.instance_name, base_dir=self.base_dir, state_dir=self.state_dir,
           protocols=protocols, log=self.log_path, cert=self.tls["cert"],
           key=self.tls["key"], mail_root=self.mail_root, sep=sep,
           passdb=passdb, userdb=userdb, imap=self.port_imap,
           imaps=self.port_imaps, pop3=self.port_pop3,
           pop3s=self.port_pop3s, lmtp=lmtp, extra=self.extra_conf)
        with open(self.conf, "w") as f:
            f.write(conf)
        os.chmod(self.conf, 0o644)

    # -- life cycle --------------------------------------------------------
    def start(self, timeout=20):
        if self.proc and self.proc.running():
            raise DovecotError("%s already running" % self.name)
        argv = self.wrapper + [_find("dovecot"), "-F", "-c", self.conf]
        self.proc = procs.Proc(argv, "dovecot-" + self.name,
                               log_path=self.stdout_path)
        try:
            if "imap" in self.protocols:
                procs.wait_banner(self.port_imap, b"* OK", timeout)
            if "pop3" in self.protocols:
                procs.wait_banner(self.port_pop3, b"+OK", timeout)
            if "lmtp" in self.protocols:
                procs.wait_banner(self.lmtp_port, b"220", timeout)
        except procs.StartError as e:
            exited = None if self.proc.running() else self.proc.popen.returncode
            self.proc.stop()
            raise DovecotError(
                "dovecot %s did not start (%s; exit status %s)\n"
                "--- %s (tail)\n%s\n--- %s (tail)\n%s" % (
                    self.name, e, exited, self.log_path, self.log_tail(),
                    self.stdout_path, _tail(self.stdout_path))) from None
        return self

    def stop(self):
        """Stop by PID (the whole process group), then make sure nothing of
        this instance is left anywhere (a child that changed its process
        group would escape killpg)."""
        if self.proc is not None:
            self.proc.stop()
            self.proc = None
        left = self.leftover_pids()
        if left:
            for pid in left:
                procs.stop_pid(pid, timeout=5)
            raise DovecotError("dovecot %s: processes left after stop: %s"
                               % (self.name, left))

    def leftover_pids(self):
        """PIDs of live processes belonging to this instance.  Dovecot's
        children rewrite their command line to "<instance_name>/<service>"
        (instance_name is unique per DovecotServer) and most run in (or
        chrooted to) base_dir; the master has the config path on argv."""
        marks = (self.conf.encode(), self.base_dir.encode(),
                 self.instance_name.encode() + b"/")
        me = os.getpid()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            pid = int(entry)
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    text = f.read()
                for link in ("cwd", "root"):
                    text += b"\0" + os.readlink("/proc/%d/%s" % (pid, link)
                                                ).encode()
            except OSError:
                continue
            if any(m in text for m in marks) and procs.pid_alive(pid):
                found.append(pid)
        return found

    def running(self):
        return self.proc is not None and self.proc.running()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- doveadm / logs ----------------------------------------------------
    def doveadm(self, *args, input=None, check=True, timeout=300):
        argv = self.wrapper + [_find("doveadm"), "-c", self.conf] + list(args)
        if isinstance(input, str):
            input = input.encode()
        r = subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        if check and r.returncode != 0:
            raise DovecotError("doveadm %s exited %d:\n%s%s" % (
                " ".join(args), r.returncode, r.stdout.decode(errors="replace"),
                r.stderr.decode(errors="replace")))
        return r

    def reload(self):
        self.doveadm("reload")

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        return _tail(self.log_path, lines)

    # -- clients -----------------------------------------------------------
    def _credentials(self, user, password, master):
        if master:
            return "%s*%s" % (user, self.master_user), self.master_password
        return user, (password if password is not None else self.users[user])

    def client_context(self):
        """SSL context trusting only this server's test CA, checking the
        name "localhost"."""
        return tls.client_context(self.tls["ca"])

    def imap(self, user, password=None, master=False, login=True):
        c = imaplib.IMAP4("127.0.0.1", self.port_imap, timeout=30)
        return _imap_login(c, *self._credentials(user, password, master),
                           login=login)

    def imap_starttls(self, user, password=None, master=False, login=True):
        c = imaplib.IMAP4("127.0.0.1", self.port_imap, timeout=30)
        c.starttls(self.client_context())
        return _imap_login(c, *self._credentials(user, password, master),
                           login=login)

    def imap_ssl(self, user, password=None, master=False, login=True,
                 ssl_context=None):
        c = imaplib.IMAP4_SSL("127.0.0.1", self.port_imaps, timeout=30,
                              ssl_context=ssl_context or self.client_context())
        return _imap_login(c, *self._credentials(user, password, master),
                           login=login)

    def pop3(self, user, password=None, master=False, login=True):
        c = poplib.POP3("127.0.0.1", self.port_pop3, timeout=30)
        return _pop3_login(c, *self._credentials(user, password, master),
                           login=login)

    def pop3_stls(self, user, password=None, master=False, login=True):
        c = poplib.POP3("127.0.0.1", self.port_pop3, timeout=30)
        c.stls(self.client_context())
        return _pop3_login(c, *self._credentials(user, password, master),
                           login=login)

    def pop3_ssl(self, user, password=None, master=False, login=True,
                 ssl_context=None):
        c = poplib.POP3_SSL("127.0.0.1", self.port_pop3s, timeout=30,
                            context=ssl_context or self.client_context())
        return _pop3_login(c, *self._credentials(user, password, master),
                           login=login)

    def port_open(self, port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False


def _imap_login(c, user, password, login=True):
    if login:
        try:
            c.login(user, password)
        except Exception:
            c.shutdown()
            raise
    return c


def _pop3_login(c, user, password, login=True):
    if login:
        try:
            c.user(user)
            c.pass_(password)
        except Exception:
            c.close()
            raise
    return c


def _tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except FileNotFoundError:
        return "(no %s)" % path
