"""Postfix's smtp-sink as a stand-in for the legacy MX (or, with lmtp=True,
for Dovecot's LMTP): it accepts every message and dumps it to a file.

Dump format (smtp-sink(1) "DUMP FILE FORMAT", checked on Postfix 3.7): one file
per transaction (`-d`), LF line endings, dot-stuffing already removed:

    X-Client-Addr: 127.0.0.1
    X-Client-Proto: ESMTP
    X-Helo-Args: mx.test.invalid          (only if HELO/EHLO was sent)
    X-Mail-Args: <sender> SIZE=... BODY=...
    X-Rcpt-Args: <rcpt> [ORCPT=...]       (one per RCPT, in order)
    Received: from ...                    (3 lines, ends the sink's headers)
    <the message as received>
    <one empty line appended by smtp-sink>
"""
import glob
import os
import pwd
import re
import time

from . import procs

SMTP_SINK = "/usr/sbin/smtp-sink"


class SinkMessage:
    def __init__(self, path, sender, recipients, data, client_addr, helo):
        self.path = path
        self.sender = sender          # "" for the null sender <>
        self.recipients = recipients  # list of addresses, in RCPT order
        self.data = data              # raw message bytes (LF line endings)
        self.client_addr = client_addr
        self.helo = helo

    def __repr__(self):
        return "SinkMessage(%r -> %r, %d bytes)" % (
            self.sender, self.recipients, len(self.data))


def _address(args):
    """'<a@b> SIZE=1 BODY=8BITMIME' -> 'a@b'."""
    m = re.match(r"\s*<([^>]*)>", args)
    return m.group(1) if m else args.split()[0] if args.split() else ""


def parse_dump(path):
    with open(path, "rb") as f:
        raw = f.read()
    lines = raw.split(b"\n")
    sender, rcpts, addr, helo = None, [], None, None
    i = 0
    while i < len(lines):
        line = lines[i].decode("utf-8", "surrogateescape")
        i += 1
        name, _, value = line.partition(": ")
        if name == "X-Client-Addr":
            addr = value
        elif name == "X-Helo-Args":
            helo = value
        elif name == "X-Mail-Args":
            sender = _address(value)
        elif name == "X-Rcpt-Args":
            rcpts.append(_address(value))
        elif name == "Received":
            # the sink's own Received: header is 3 lines (2 continuations)
            while i < len(lines) and lines[i][:1] in (b"\t", b" "):
                i += 1
            break
        elif name != "X-Client-Proto":
            raise ValueError("%s: unexpected sink header %r" % (path, line))
    body = b"\n".join(lines[i:])
    # smtp-sink appends one empty line after the message
    if body.endswith(b"\n\n"):
        body = body[:-1]
    return SinkMessage(path, sender, rcpts, body, addr, helo)


class SmtpSink:
    def __init__(self, root, name="legacy-mx", port=None, lmtp=False, reject=None,
                 hostname="legacy.test.invalid"):
        self.dir = os.path.join(os.path.abspath(root), name)
        self.mail_dir = os.path.join(self.dir, "mail")
        self.log_path = os.path.join(self.dir, "smtp-sink.log")
        self.port = port or procs.free_port()
        self.lmtp = lmtp
        # smtp-sink -f: commands it answers with a hard error, e.g. "RCPT"
        # for a legacy MX that knows nobody
        self.reject = reject
        self.hostname = hostname
        self.proc = None
        os.makedirs(self.mail_dir, exist_ok=True)
        # smtp-sink refuses to run as root (-u is mandatory then) and writes
        # its dumps after dropping to that user: the dump dir must be its own.
        pw = pwd.getpwnam("postfix")
        os.chown(self.mail_dir, pw.pw_uid, pw.pw_gid)
        # root/name must be traversable by postfix as well
        os.chmod(self.dir, 0o755)

    def argv(self):
        argv = [SMTP_SINK, "-u", "postfix", "-h", self.hostname,
                # one file per transaction; smtp-sink appends a random hex
                "-d", os.path.join(self.mail_dir, "%Y%m%d%H%M%S.")]
        if self.lmtp:
            argv.append("-L")
        if self.reject:
            argv += ["-f", self.reject]
        return argv + ["127.0.0.1:%d" % self.port, "64"]

    def start(self, timeout=10):
        if self.proc and self.proc.running():
            return self
        self.proc = procs.Proc(self.argv(), "smtp-sink:%s" % self.port,
                               log_path=self.log_path)
        greeting = b"220"
        try:
            procs.wait_banner(self.port, greeting, timeout)
        except procs.StartError:
            self.stop()
            raise procs.StartError("smtp-sink did not start: %s" %
                                   self._log_tail())
        return self

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    def _log_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def _open_files(self):
        """Dump files the running sink still has open (being written)."""
        if not self.proc:
            return set()
        fd_dir = "/proc/%d/fd" % self.proc.pid
        open_files = set()
        try:
            for fd in os.listdir(fd_dir):
                try:
                    open_files.add(os.readlink(os.path.join(fd_dir, fd)))
                except OSError:
                    pass
        except OSError:
            pass
        return open_files

    def messages(self):
        """Completely received messages, oldest first.  A dump the sink still
        holds open is a transaction in progress and is skipped."""
        # list first, then look at what is open: a dump created after the
        # look at the sink's fds would otherwise be read half-written
        paths = glob.glob(os.path.join(self.mail_dir, "*"))
        busy = self._open_files()
        paths = [p for p in paths if os.path.isfile(p) and p not in busy]
        paths.sort(key=lambda p: (os.stat(p).st_mtime_ns, p))
        return [parse_dump(p) for p in paths]

    def wait_for_messages(self, n, timeout=20):
        """Wait until at least n messages arrived; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages()
            if len(msgs) >= n or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if len(msgs) < n:
            raise AssertionError("sink %s got %d message(s), expected %d "
                                 "within %.0fs" % (self.port, len(msgs), n,
                                                   timeout))
        return msgs

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
