"""Starting, waiting for and stopping the processes a test owns.

Every process is started in its own session (so its whole process group can
be signalled) and registered; `stop_all()` runs at interpreter exit and from
test tearDowns, so nothing survives a failed test.
"""
import atexit
import os
import secrets
import signal
import socket
import subprocess
import time

_owned = []  # Proc objects still running


class StartError(RuntimeError):
    pass


def random_password():
    """A fresh password for a test user; tests never print it."""
    return "Pw-" + secrets.token_urlsafe(12)


_handed_out = set()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now, and that
    this process has not handed out before: servers built one after the
    other pick their ports before any of them binds."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise StartError("no unused port found")


def port_open(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def read_text(path):
    """A log file's text so far ("" before it exists)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError as e:
            last_exc = e
        time.sleep(0.05)
    raise StartError("timed out after %.0fs waiting for %s%s" %
                     (timeout, what, (": %s" % last_exc) if last_exc else ""))


def wait_banner(port, prefix, timeout=20, host="127.0.0.1"):
    """Wait until a TCP service on host:port greets with a line starting
    with `prefix` (b"* OK", b"+OK", b"220")."""
    def greeted():
        with socket.create_connection((host, port), timeout=2) as s:
            return s.recv(512).startswith(prefix)
    wait_for(greeted, timeout, "%s:%d to greet with %r" % (host, port, prefix))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie still answers kill(0); treat it as gone
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def group_pids(pgid):
    """PIDs of every live process whose process group is pgid."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().split(") ", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(name))
    return pids


class Proc:
    """A process (and its process group) owned by the test."""

    def __init__(self, argv, name, log_path=None, env=None, cwd=None):
        self.name = name
        self.argv = argv
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            self.popen = subprocess.Popen(argv, stdout=out, stderr=out,
                                          stdin=subprocess.DEVNULL,
                                          env=env, cwd=cwd,
                                          start_new_session=True)
        finally:
            if log_path:
                out.close()
        self.pid = self.popen.pid
        _owned.append(self)

    def running(self):
        return self.popen.poll() is None

    def stop(self, timeout=10):
        """SIGTERM the group, wait, then SIGKILL whatever is left."""
        if self in _owned:
            _owned.remove(self)
        kill_group(self.pid, timeout)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass


def kill_group(pgid, timeout=10):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not group_pids(pgid):
                return
            time.sleep(0.05)


def adopt_pid(pid, name):
    """Register a daemon we did not fork ourselves (e.g. Postfix's master,
    read from its pid file) so stop_all() kills it too."""
    class _Adopted:
        def __init__(self):
            self.name = name
            self.pid = pid

        def running(self):
            return pid_alive(pid)

        def stop(self, timeout=10):
            if self in _owned:
                _owned.remove(self)
            stop_pid(pid, timeout)
    p = _Adopted()
    _owned.append(p)
    return p


def stop_pid(pid, timeout=10):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.05)


def stop_all():
    for p in list(reversed(_owned)):
        p.stop()


def owned():
    return list(_owned)


atexit.register(stop_all)
