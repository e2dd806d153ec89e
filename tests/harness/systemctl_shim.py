#!/usr/bin/python3
"""A `systemctl` for tests/package_readme.py, which runs README.md's
runbook in a chroot without systemd: put first in PATH (as "systemctl"), it
does what the runbook's lines need, from the installed unit files.

  restart UNIT...        stop (by PID) if started, then start
  start UNIT...          start unless started
  stop UNIT...           SIGTERM the main PID, then the rest of its process
                         group (systemd's KillMode=control-group, with the
                         group standing in for the cgroup); SIGKILL after 10 s
  enable [--now] UNIT... record it; with --now also start
  reload UNIT...         ExecReload; a unit not started is started instead

Starting runs ExecStartPre= lines, then ExecStart= (from
/etc/systemd/system or /lib/systemd/system) as root in its own session,
stdin /dev/null, output appended to STATE/UNIT.log, the main PID in
STATE/UNIT.pid. Type=notify: waits for READY=1 on NOTIFY_SOCKET (as
systemd does); Type=forking: waits for ExecStart to exit; Type=simple:
returns at once. Nothing else of a unit file is applied (no sandboxing, no
User=, no Restart=). "postfix" is Debian's postfix@- instance (postfix.service
is a oneshot that propagates to it). On a stock system Postfix runs from
its installation on; in the chroot nothing does, so the first `reload
postfix` starts it, as boot would have.

Every call is appended to STATE/calls.log; an unsupported call exits 1
saying so. STATE is $SYSTEMCTL_SHIM_STATE, default /run/systemctl-shim.
"""
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

# the harness's process helpers (this file's directory is sys.path[0],
# also when run through the "systemctl" symlink)
import procs

STATE = os.environ.get("SYSTEMCTL_SHIM_STATE", "/run/systemctl-shim")
UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system")
ALIASES = {"postfix": ("postfix@", "-")}


class ShimError(Exception):
    pass


def unit_name(arg):
    return arg[:-len(".service")] if arg.endswith(".service") else arg


def unit_file(name):
    """(path, instance) of the unit's file."""
    template, instance = ALIASES.get(name, (name, None))
    if "@" in name and instance is None:
        template, _, instance = name.partition("@")
        template += "@"
    for d in UNIT_DIRS:
        path = os.path.join(d, template + ".service")
        if os.path.exists(path):
            return path, instance
    raise ShimError("unit %s.service not found in %s" % (name, " ".join(UNIT_DIRS)))


def service_section(name):
    """The [Service] keys of a unit: dict key -> list of values, %i
    replaced by the instance."""
    path, instance = unit_file(name)
    keys = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
                continue
            if section != "[Service]" or "=" not in line:
                continue
            k, v = line.split("=", 1)
            if instance is not None:
                v = v.replace("%i", instance).replace("%I", instance)
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def command(line):
    """ExecStart= syntax: the prefixes -@:+! are dropped ("-": failure
    ignored)."""
    ignore = False
    while line and line[0] in "-@:+!":
        ignore = ignore or line[0] == "-"
        line = line[1:]
    return shlex.split(line), ignore


def pid_path(name):
    return os.path.join(STATE, name + ".pid")


def log_path(name):
    return os.path.join(STATE, name + ".log")


def main_pid(name):
    try:
        with open(pid_path(name)) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        return None
    return pid if procs.pid_alive(pid) else None


def started(name):
    if os.path.exists(os.path.join(STATE, name + ".forking")):
        return True
    return main_pid(name) is not None


def run_foreground(name, line):
    argv, ignore = command(line)
    with open(log_path(name), "ab") as log:
        rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, cwd="/").returncode
    if rc != 0 and not ignore:
        raise ShimError("%s: %s exited %d:\n%s" % (name, line, rc, tail(name)))


def tail(name, n=30):
    try:
        with open(log_path(name), errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def start(name):
    if started(name):
        return
    svc = service_section(name)
    for line in svc.get("ExecStartPre", []):
        run_foreground(name, line)
    kind = svc.get("Type", ["simple"])[-1]
    if not svc.get("ExecStart"):
        raise ShimError("%s: no ExecStart=" % name)
    if kind == "forking":
        run_foreground(name, svc["ExecStart"][-1])
        open(os.path.join(STATE, name + ".forking"), "w").close()
        return
    if kind not in ("simple", "exec", "notify"):
        raise ShimError("%s: Type=%s not supported" % (name, kind))
    argv, _ = command(svc["ExecStart"][-1])
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    notify = None
    if kind == "notify":
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = os.path.join(STATE, name + ".notify")
        if os.path.exists(path):
            os.unlink(path)
        notify.bind(path)
        env["NOTIFY_SOCKET"] = path
    with open(log_path(name), "ab") as log:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, cwd="/", env=env,
                             start_new_session=True)
    with open(pid_path(name), "w") as f:
        f.write("%d\n" % p.pid)
    if notify is None:
        return
    notify.settimeout(0.2)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise ShimError("%s: exited %d before READY=1:\n%s" %
                            (name, p.returncode, tail(name)))
        try:
            msg = notify.recv(4096).decode(errors="replace")
        except socket.timeout:
            continue
        if "READY=1" in msg.split("\n"):
            notify.close()
            return
    raise ShimError("%s: no READY=1 within 90 s" % name)


def stop(name):
    forking = os.path.join(STATE, name + ".forking")
    if os.path.exists(forking):
        svc = service_section(name)
        for line in svc.get("ExecStop", []):
            run_foreground(name, line)
        os.unlink(forking)
        return
    pid = main_pid(name)
    if pid is None:
        return
    # the main process first (Dovecot's master stops its children in
    # order), then whatever is left of its process group
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not procs.pid_alive(pid), 10)
    procs.kill_group(pid, 5)
    os.unlink(pid_path(name))


def wait_until(predicate, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)


def reload(name):
    if not started(name):
        start(name)
        return
    svc = service_section(name)
    if not svc.get("ExecReload"):
        raise ShimError("%s: no ExecReload=" % name)
    for line in svc["ExecReload"]:
        run_foreground(name, line)


def main(argv):
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, "calls.log"), "a") as f:
        f.write("systemctl %s\n" % " ".join(shlex.quote(a) for a in argv))
    now = "--now" in argv
    words = [a for a in argv if not a.startswith("-")]
    unknown = [a for a in argv if a.startswith("-") and a not in ("--now", "--system", "--quiet", "-q")]
    if not words or unknown:
        raise ShimError("unsupported: systemctl %s" % " ".join(argv))
    verb, units = words[0], [unit_name(u) for u in words[1:]]
    if not units:
        raise ShimError("unsupported: systemctl %s" % " ".join(argv))
    for name in units:
        if verb == "start":
            start(name)
        elif verb == "stop":
            stop(name)
        elif verb == "restart":
            stop(name)
            start(name)
        elif verb == "reload":
            reload(name)
        elif verb == "enable":
            open(os.path.join(STATE, name + ".enabled"), "w").close()
            if now:
                start(name)
        else:
            raise ShimError("unsupported: systemctl %s" % " ".join(argv))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except ShimError as e:
        sys.stderr.write("systemctl (test shim): %s\n" % e)
        sys.exit(1)
