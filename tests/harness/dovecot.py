"""A private Dovecot instance for tests.

Each DovecotServer lives entirely in root/name/: its own dovecot.conf (no
!include of /etc/dovecot), base_dir, state_dir, logs, passwd-files and
Maildirs, listening on fresh ports on 127.0.0.1 only.  The system Dovecot
(if any) is never touched.

    with DovecotServer(root, "legacy", {"alice": pw}) as srv:
        c = srv.imap_starttls("alice")
"""
import imaplib
import glob
import os
import poplib
import secrets
import shutil
import signal
import socket
import subprocess
import time

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
                 master_password=None, tls_files=None,
                 auth_penalty=False):
        """users: dict user -> password (hashed into a passwd-file).
        extra_conf, passdb_conf, userdb_conf may use the placeholders
            @DIR@ @BASE_DIR@ @MAIL_ROOT@ @PASSWD_FILE@ @MASTER_PASSWD_FILE@
            (this instance's paths, unknown before construction).
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
        auth_penalty: keep Dovecot's delays after failed logins (2 s
            auth_failure_delay plus the per-IP anvil penalty growing to
            15 s).  Off by default: tests fail logins on purpose, from
            127.0.0.1 every time, and would crawl.
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
        self.auth_penalty = auth_penalty
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
        self.write_conf()

    # -- ports by protocol name ---------------------------------------------
    @property
    def ports(self):
        return dict(imap=self.port_imap, imaps=self.port_imaps,
                    pop3=self.port_pop3, pop3s=self.port_pop3s,
                    lmtp=self.lmtp_port)

    # -- files -------------------------------------------------------------
    def _write_passwd_files(self):
        # The auth process re-reads a passwd-file when its mtime or size
        # changed, checking at most once per second.  Written atomically
        # (rename) so it never sees a half-written file.
        def write(path, entries):
            try:
                old_mtime = int(os.stat(path).st_mtime)
            except FileNotFoundError:
                old_mtime = 0
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                for user, pw in entries.items():
                    f.write("%s:%s\n" % (user, hash_password(pw)))
            os.chmod(tmp, 0o644)
            # a changed password has the same size (SHA512-CRYPT): make
            # sure the mtime differs even within the same second
            mtime = max(int(time.time()), old_mtime + 1)
            os.utime(tmp, (mtime, mtime))
            os.rename(tmp, path)
        write(self.passwd_file, self.users)
        write(self.master_passwd_file, {self.master_user: self.master_password})

    def add_user(self, user, password):
        """Add a user or change a password, without a reload.  Returns
        once the running auth process is bound to notice (it looks at the
        file at most once per wall-clock second)."""
        self.users[user] = password
        self._write_passwd_files()
        if self.running():
            time.sleep(1.0 - time.time() % 1.0 + 0.01)

    def maildir(self, user):
        return os.path.join(self.mail_root, user, "Maildir")

    def inbox_messages(self, user):
        """The bytes of every message in the user's INBOX, read from disk
        (new/ and cur/), e.g. to see an LMTP delivery arrive."""
        texts = []
        for sub in ("new", "cur"):
            for path in glob.glob(os.path.join(self.maildir(user), sub, "*")):
                with open(path, "rb") as f:
                    texts.append(f.read())
        return texts

    def folder_dir(self, user, folder="INBOX"):
        """Maildir++ directory of a folder ("/"-separated unicode name):
        INBOX is the Maildir itself, others are .Name.Sub (mUTF-7)."""
        from . import mutf7
        if folder.upper() == "INBOX":
            return self.maildir(user)
        return os.path.join(self.maildir(user),
                            "." + mutf7.encode(folder.replace("/", ".")))

    def message_file(self, user, uid, folder="INBOX"):
        """Path of the Maildir file holding `uid`, from dovecot-uidlist
        (lines "<uid> [<ext> ...] :<base filename>")."""
        d = self.folder_dir(user, folder)
        base = None
        with open(os.path.join(d, "dovecot-uidlist")) as f:
            next(f)  # header
            for line in f:
                fields, _, name = line.rstrip("\n").partition(":")
                if fields.split() and fields.split()[0] == str(uid):
                    base = name
                    break
        if base is None:
            raise KeyError("uid %s not in %s/dovecot-uidlist" % (uid, d))
        for sub in ("cur", "new"):
            for fn in os.listdir(os.path.join(d, sub)):
                if fn == base or fn.startswith(base + ":") or \
                        fn.startswith(base + ","):
                    return os.path.join(d, sub, fn)
        raise KeyError("no file for uid %s (%s) in %s" % (uid, base, d))

    def flip_body_byte(self, user, uid, folder="INBOX"):
        """Change one body byte of a stored message behind Dovecot's back
        (same size, same mtime = INTERNALDATE), to test that corruption is
        detected.  Returns the file's offset that changed.

        The file is rewritten under a new inode and renamed over the old
        name: dsync copies between Maildirs with hard links, so writing in
        place would change the other mailbox too."""
        path = self.message_file(user, uid, folder)
        with open(path, "rb") as f:
            data = bytearray(f.read())
        start = data.find(b"\n\n") + 2  # stored with LF line endings
        if start < 2:
            raise ValueError("%s: no header/body separator" % path)
        for off in range(start, len(data)):
            if chr(data[off]).isalpha():
                data[off] ^= 0x20  # swap letter case
                break
        else:
            raise ValueError("%s: no letter in the body" % path)
        st = os.stat(path)
        tmp = os.path.join(os.path.dirname(os.path.dirname(path)), "tmp",
                           "flip-%d" % os.getpid())
        with open(tmp, "wb") as f:
            f.write(data)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.rename(tmp, path)
        return off

    def _subst(self, text):
        for k, v in (("@DIR@", self.dir), ("@BASE_DIR@", self.base_dir),
                     ("@MAIL_ROOT@", self.mail_root),
                     ("@PASSWD_FILE@", self.passwd_file),
                     ("@MASTER_PASSWD_FILE@", self.master_passwd_file)):
            text = text.replace(k, v)
        return text

    def write_conf(self):
        """(Re)write dovecot.conf from the attributes; after changing e.g.
        .extra_conf on a running server, call this and then reload()."""
        protocols = " ".join(self.protocols)
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
        fast_failures = "" if self.auth_penalty else """\
# no delays after failed logins (see auth_penalty in dovecot.py)
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
"""
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
%(fast_failures)s
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
""" % dict(instance=self.instance_name, base_dir=self.base_dir,
           state_dir=self.state_dir, protocols=protocols, log=self.log_path,
           cert=self.tls["cert"], key=self.tls["key"],
           mail_root=self.mail_root, sep=sep, passdb=passdb, userdb=userdb,
           imap=self.port_imap, imaps=self.port_imaps, pop3=self.port_pop3,
           pop3s=self.port_pop3s, lmtp=lmtp, fast_failures=fast_failures,
           extra=self._subst(self.extra_conf))
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
                self._wait_banner(self.port_imap, b"* OK", timeout)
            if "pop3" in self.protocols:
                self._wait_banner(self.port_pop3, b"+OK", timeout)
            if "lmtp" in self.protocols:
                self._wait_banner(self.lmtp_port, b"220", timeout)
        except procs.StartError as e:
            exited = None if self.proc.running() else self.proc.popen.returncode
            self.proc.stop()
            raise DovecotError(
                "dovecot %s did not start (%s; exit status %s)\n"
                "--- %s (tail)\n%s\n--- %s (tail)\n%s" % (
                    self.name, e, exited, self.log_path, self.log_tail(),
                    self.stdout_path, _tail(self.stdout_path))) from None
        return self

    def _wait_banner(self, port, prefix, timeout):
        """procs.wait_banner, but give up at once if dovecot exited (a bad
        config makes it exit immediately)."""
        def greeted():
            if not self.proc.running():
                raise procs.StartError("dovecot exited")
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                return s.recv(512).startswith(prefix)
        procs.wait_for(greeted, timeout,
                       "127.0.0.1:%d to greet with %r" % (port, prefix))

    def stop(self):
        """Stop by PID (the whole process group), then make sure nothing of
        this instance is left anywhere (a child that changed its process
        group would escape killpg)."""
        if self.proc is not None:
            if self.proc.running():
                # SIGTERM to the master alone first: it shuts its children
                # down in order (a group-wide signal makes every child log
                # "Killed with signal 15").  Proc.stop() then kills
                # whatever is left, e.g. if a wrapper did not pass it on.
                # Session processes (imap, pop3) with clients attached
                # outlive the master by ~10 s; Proc.stop() ends them.
                try:
                    os.kill(self.proc.pid, signal.SIGTERM)
                    self.proc.popen.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
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
        return procs.read_text(self.log_path)

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
