"""A private Postfix instance (own config, queue, data dir and log) on
127.0.0.1, for tests.  Never touches the system's /etc/postfix/main.cf or
/var/spool/postfix.

What a private instance needs, found on Debian 12 / Postfix 3.7.11 as root:
- Starting needs root: master(8) binds ports and daemons drop to mail_owner.
  As root, `postfix -c DIR` / `postqueue -c DIR` / `postsuper -c DIR` accept a
  non-default config_directory without `alternate_config_directories`
  (that check only applies to unprivileged callers of set-gid commands).
- main.cf holds only overrides; everything else is the compiled-in default
  (what `postconf -d` prints).  daemon_directory, shlib_directory (dynamic
  maps such as lmdb: are loaded from it) and meta_directory (postfix-files,
  dynamicmaps.cf) keep their package paths, so we copy them from
  `postconf -d` rather than pointing them into the test tree.
- queue_directory must exist before `postfix start` (postfix-script cd's
  into it first); `postfix check` then runs `post-install create-missing`,
  which creates the queue subdirectories and data_directory with the right
  owners (postfix, maildrop/public group postdrop) from postfix-files.
  The queue dir must be owned by root; the path down to it must be
  searchable by postfix (test roots are chmod 0755).
- Logging without syslog: maillog_file + a maillog_file_prefixes entry that
  covers it + the `postlog unix-dgram` service in master.cf (postfix-script
  refuses to start without it when maillog_file is set).
- Every service runs with chroot `n`: a chroot would need copies of
  /etc/services, resolv.conf and libs inside the queue dir.
- smtp_dns_support_level = disabled: no DNS here; [127.0.0.1]:port next
  hops need none.
- alias_maps/alias_database are emptied: the defaults point at /etc/aliases.
"""
import functools
import json
import os
import re
import shutil
import subprocess
import time

from . import procs

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
POSTQUEUE = "/usr/sbin/postqueue"
POSTMAP = "/usr/sbin/postmap"

# Services from Debian's stock master.cf (minus the pipe(8) examples and
# postscreen), all with chroot n.  The smtpd inet line is added per instance.
MASTER_SERVICES = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
        -o syslog_name=postfix/$service_name
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@functools.lru_cache(maxsize=None)
def _postconf_default(name):
    return subprocess.run([POSTCONF, "-dh", name], check=True,
                          capture_output=True, text=True).stdout.strip()


class PostfixError(RuntimeError):
    pass


class PostfixServer:
    def __init__(self, root, name="postfix", main_cf_extra=None,
                 master_cf_extra="", relay_domains="", transport_maps="",
                 port=None, myhostname="mx.test.invalid"):
        self.name = name
        self.dir = os.path.join(os.path.abspath(root), name)
        self.config_dir = os.path.join(self.dir, "etc")
        self.queue_dir = os.path.join(self.dir, "queue")
        self.data_dir = os.path.join(self.dir, "data")
        self.maillog = os.path.join(self.dir, "maillog")
        self.port = port or procs.free_port()
        self.master_pid = None
        self._master = None
        os.makedirs(self.config_dir, exist_ok=True)
        # root-owned and 0755, as postfix-files wants for queue_directory
        os.makedirs(self.queue_dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        os.chmod(self.queue_dir, 0o755)

        self.main_cf = {
            "compatibility_level": "3.6",
            "config_directory": self.config_dir,
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            # package paths, taken from the compiled-in defaults
            "command_directory": _postconf_default("command_directory"),
            "daemon_directory": _postconf_default("daemon_directory"),
            "shlib_directory": _postconf_default("shlib_directory"),
            "meta_directory": _postconf_default("meta_directory"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": self.dir,
            # a distinct tag tells our log lines from any system Postfix
            "syslog_name": "postfix-%s" % name,
            "myhostname": myhostname,
            "mydomain": "test.invalid",
            "myorigin": "$myhostname",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "",
            "relay_domains": relay_domains,
            "transport_maps": transport_maps,
            "smtpd_relay_restrictions":
                "permit_mynetworks, reject_unauth_destination",
            "smtp_dns_support_level": "disabled",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "append_dot_mydomain": "no",
            # tests want retries after a flush, not minutes later
            "queue_run_delay": "5s",
            "minimal_backoff_time": "5s",
            "maximal_backoff_time": "10s",
        }
        self.main_cf.update(main_cf_extra or {})
        self.master_cf_extra = master_cf_extra
        self.write_config()

    # -- configuration ---------------------------------------------------

    def write_config(self):
        with open(os.path.join(self.config_dir, "main.cf"), "w") as f:
            f.write("# written by tests/harness/postfix.py\n")
            for k, v in self.main_cf.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.config_dir, "master.cf"), "w") as f:
            f.write("127.0.0.1:%d inet n - n - - smtpd\n" % self.port)
            f.write(MASTER_SERVICES)
            if self.master_cf_extra:
                f.write(self.master_cf_extra.rstrip("\n") + "\n")
        # Postfix re-reads a config file until its mtime is over a second
        # old (so it never reads one mid-edit), sleeping 0.3 s at a time:
        # 1.5 s per command for a fresh main.cf.  Backdate ours.
        self._backdate_config()

    def _backdate_config(self):
        past = time.time() - 10
        for name in ("main.cf", "master.cf"):
            os.utime(os.path.join(self.config_dir, name), (past, past))

    def path(self, *parts):
        """A file in this instance's config dir (e.g. for maps)."""
        return os.path.join(self.config_dir, *parts)

    def postmap(self, map_type, filename, content):
        """Write a map source into the config dir and compile it; returns
        'type:path' for main.cf."""
        path = self.path(filename)
        with open(path, "w") as f:
            f.write(content)
        self._run([POSTMAP, "-c", self.config_dir, "%s:%s" % (map_type, path)])
        return "%s:%s" % (map_type, path)

    def postconf(self, *args):
        """Run postconf against this instance; returns its stdout.  Edits
        (-e, -X, -M ...) go to this instance's main.cf/master.cf; use
        `postfix -c DIR reload` (self.reload()) for a running instance."""
        out = self._run([POSTCONF, "-c", self.config_dir] + list(args))
        self._backdate_config()
        return out

    def reload(self):
        self._run([POSTFIX, "-c", self.config_dir, "reload"])

    def _run(self, argv, check=True):
        r = subprocess.run(argv, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        if check and r.returncode != 0:
            raise PostfixError("%s failed (%d): %s%s" % (
                " ".join(argv), r.returncode, r.stdout, r.stderr))
        return r.stdout

    # -- life cycle ------------------------------------------------------

    def start(self, timeout=20):
        self._run([POSTFIX, "-c", self.config_dir, "check"])
        self._run([POSTFIX, "-c", self.config_dir, "start"])
        try:
            self._adopt_master(timeout)
            procs.wait_banner(self.port, b"220", timeout)
        except Exception as e:
            # never leave a half-started instance behind
            self.stop(check=False)
            raise PostfixError("%s did not start: %s\n%s" % (
                self.name, e, self.log_text()[-3000:]))
        return self

    def _adopt_master(self, timeout):
        # master(8) daemonizes, so we did not fork it: read its pid file and
        # register it with procs so stop_all() reaches it after a failure.
        pid_file = os.path.join(self.queue_dir, "pid", "master.pid")

        def master_running():
            with open(pid_file) as f:
                text = f.read().strip()
            return bool(text) and procs.pid_alive(int(text))
        procs.wait_for(master_running, timeout, "%s master.pid" % self.name)
        with open(pid_file) as f:
            self.master_pid = int(f.read().strip())
        self._master = procs.adopt_pid(self.master_pid,
                                       "postfix-master:%s" % self.name)

    def stop(self, timeout=15, check=True):
        """Stop the instance and make sure none of its processes remain."""
        if self._master is None and not self.processes():
            return
        # `postfix stop` only signals the master; stop_pid waits for it and
        # SIGKILLs as a backstop.  The master SIGTERMs its children on exit.
        self._run([POSTFIX, "-c", self.config_dir, "stop"], check=False)
        if self._master is not None:
            self._master.stop(timeout)
            self._master = None
        master_pid, self.master_pid = self.master_pid, None
        deadline = time.monotonic() + timeout
        left = self.processes(master_pid)
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = self.processes(master_pid)
        if left:
            described = ["%d %s" % (p, _cmdline(p)) for p in left]
            for pid in left:       # ours: do not leave them running
                procs.stop_pid(pid, 2)
            if check:
                raise PostfixError("%s: processes survived stop: %s" %
                                   (self.name, described))

    def processes(self, master_pid=None):
        """PIDs of live processes belonging to this instance: the master,
        its children, and anything running in or referring to our dirs
        (Postfix daemons chdir to queue_directory)."""
        master_pid = master_pid or self.master_pid
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == os.getpid():
                continue
            pid = int(name)
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(") ", 1)[1].split()
                if fields[0] == "Z":
                    continue
                ppid = int(fields[1])
                cwd = os.readlink("/proc/%d/cwd" % pid)
                cmd = _cmdline(pid)
            except (OSError, IndexError):
                continue
            if (pid == master_pid or (master_pid and ppid == master_pid)
                    or cwd == self.dir or cwd.startswith(self.dir + "/")
                    or (self.dir + "/") in cmd or cmd.endswith(self.dir)):
                found.append(pid)
        return found

    def running(self):
        return self._master is not None and self._master.running()

    # -- queue and log ---------------------------------------------------

    def queue(self):
        """Queue entries as dicts (postqueue -j: queue_name, queue_id,
        sender, recipients[{address, delay_reason}], ...)."""
        out = self._run([POSTQUEUE, "-c", self.config_dir, "-j"])
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def flush(self):
        """Ask the queue manager to retry all deferred mail now."""
        self._run([POSTQUEUE, "-c", self.config_dir, "-f"])

    def wait_queue_empty(self, timeout=20):
        procs.wait_for(lambda: not self.queue(), timeout,
                       "%s queue to drain" % self.name)

    def log_text(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, regex, timeout=20):
        """Wait until the maillog matches regex; return the match."""
        pattern = re.compile(regex, re.M)
        result = []

        def found():
            m = pattern.search(self.log_text())
            if m:
                result.append(m)
            return bool(m)
        try:
            procs.wait_for(found, timeout, "log line %r" % regex)
        except procs.StartError:
            raise AssertionError("%s: no log line matching %r in %.0fs; "
                                 "log tail:\n%s" % (self.name, regex, timeout,
                                                    self.log_text()[-3000:]))
        return result[0]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def remove(self):
        """Delete the instance's files (after stop)."""
        shutil.rmtree(self.dir, ignore_errors=True)


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
