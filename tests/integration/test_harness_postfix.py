"""The Postfix + smtp-sink harness works, against real programs.

Run: cd tests && /usr/bin/python3 -m unittest discover -s integration -t . \
        -p test_harness_postfix.py
Needs root (Postfix's master), postfix 3.7 and swaks.
"""
import os
import smtplib
import subprocess
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import procs, postfix, smtp_sink  # noqa: E402
from harness.testcase import ServerTestCase  # noqa: E402

# the directory's mtime catches files created in it (e.g. by post-install)
SYSTEM_FILES = ["/etc/postfix", "/etc/postfix/main.cf",
                "/etc/postfix/master.cf", "/etc/postfix/dynamicmaps.cf"]
SYSTEM_QUEUE = "/var/spool/postfix"


def make_message(token, sender, rcpt):
    """A complete message (Date and Message-ID included, so the only
    header Postfix adds is Received:)."""
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: harness test %s\r\n"
            "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
            "Message-ID: <%s@client.test>\r\n\r\n"
            "Body line with token %s\r\n"
            ".a line that needs dot-stuffing\r\n"
            "last line\r\n" % (sender, rcpt, token, token, token)).encode()


def strip_received(data):
    """Drop the leading Received: header(s) Postfix prepended."""
    lines = data.split(b"\n")
    i = 0
    while i < len(lines) and lines[i].startswith(b"Received:"):
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            i += 1
    return i, b"\n".join(lines[i:])


def system_postfix_pids():
    """Processes of the system Postfix: daemons run in its queue dir."""
    pids = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink("/proc/%s/cwd" % name) == SYSTEM_QUEUE:
                    pids.add(int(name))
            except OSError:
                pass
    return pids


def mtimes(paths):
    out = {}
    for p in paths:
        try:
            out[p] = os.stat(p).st_mtime_ns
        except FileNotFoundError:
            out[p] = None
    return out


class PostfixHarnessTest(ServerTestCase):
    def sink(self, **kw):
        s = smtp_sink.SmtpSink(self.root, **kw)
        self.own(s)
        return s

    def relaying_postfix(self, sink_port, **kw):
        """Postfix relaying legacy.test to the sink via an inline: map."""
        pf = postfix.PostfixServer(
            self.root, relay_domains="legacy.test",
            transport_maps="inline:{legacy.test=smtp:[127.0.0.1]:%d}"
            % sink_port, **kw)
        self.own(pf)
        return pf

    def assert_relayed(self, got, token, sender, rcpt, sent=None):
        self.assertEqual(got.sender, sender)
        self.assertEqual(got.recipients, [rcpt])
        self.assertIn(b"Subject: harness test " + token.encode(), got.data)
        self.assertIn(b"Body line with token " + token.encode(), got.data)
        if sent is not None:
            # same bytes apart from Postfix's Received: header, the sink's
            # LF line endings and the SMTP dot-stuffing undone
            n_received, rest = strip_received(got.data)
            self.assertGreaterEqual(n_received, 1)
            self.assertEqual(rest, sent.replace(b"\r\n", b"\n"))

    def test_smtplib_relay_to_sink_via_hash_map(self):
        sink = self.sink().start()
        pf = postfix.PostfixServer(self.root, relay_domains="legacy.test")
        self.own(pf)
        pf.main_cf["transport_maps"] = pf.postmap(
            "hash", "transport",
            "legacy.test smtp:[127.0.0.1]:%d\n" % sink.port)
        pf.write_config()
        pf.start()
        token = uuid.uuid4().hex
        sender, rcpt = "alice@sender.test", "bob@legacy.test"
        msg = make_message(token, sender, rcpt)
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=10) as c:
            c.sendmail(sender, [rcpt], msg)
        got = sink.wait_for_messages(1, timeout=20)
        self.assertEqual(len(got), 1)
        self.assert_relayed(got[0], token, sender, rcpt, sent=msg)
        pf.wait_log(r"to=<bob@legacy\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]"
                    r":%d.*status=sent" % sink.port)
        self.assertEqual(pf.queue(), [])

    def test_swaks_relay_to_sink(self):
        sink = self.sink().start()
        pf = self.relaying_postfix(sink.port).start()
        token = uuid.uuid4().hex
        r = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(pf.port),
             "--helo", "client.test", "--from", "carol@sender.test",
             "--to", "dave@legacy.test",
             "--header", "Subject: harness test %s" % token,
             "--body", "Body line with token %s" % token],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        got = sink.wait_for_messages(1, timeout=20)
        self.assert_relayed(got[0], token, "carol@sender.test",
                            "dave@legacy.test")

    def test_unrelayed_domain_is_rejected_at_rcpt(self):
        sink = self.sink()
        # 127.0.0.1 is in the default mynetworks, and permit_mynetworks
        # would let it relay anywhere: put the test client outside it so
        # reject_unauth_destination (with our relay_domains) decides.
        pf = self.relaying_postfix(sink.port, main_cf_extra={
            "mynetworks": "192.0.2.0/24"}).start()
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=10) as c:
            with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
                c.sendmail("a@sender.test", ["x@elsewhere.test"],
                           make_message("t", "a@sender.test",
                                        "x@elsewhere.test"))
            code, text = cm.exception.recipients["x@elsewhere.test"]
            self.assertEqual(code, 554, text)
            self.assertIn(b"5.7.1", text)
            self.assertIn(b"Relay access denied", text)
            # while our relay_domains is honoured for the same client
            c.rset()
            self.assertEqual(c.mail("a@sender.test")[0], 250)
            self.assertEqual(c.rcpt("y@legacy.test")[0], 250)
        pf.wait_log(r"NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: "
                    r"554 5\.7\.1 <x@elsewhere\.test>: Relay access denied")

    def test_sink_down_defers_then_flush_delivers(self):
        sink = self.sink()          # port reserved, nothing listening yet
        # long retry timers: only our flush can explain a quick delivery
        pf = self.relaying_postfix(sink.port, main_cf_extra={
            "queue_run_delay": "300s", "minimal_backoff_time": "300s",
            "maximal_backoff_time": "600s"}).start()
        token = uuid.uuid4().hex
        msg = make_message(token, "erin@sender.test", "frank@legacy.test")
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=10) as c:
            c.sendmail("erin@sender.test", ["frank@legacy.test"], msg)
        pf.wait_log(r"to=<frank@legacy\.test>.*status=deferred")
        queue = pf.queue()
        self.assertEqual(len(queue), 1, queue)
        self.assertEqual(queue[0]["queue_name"], "deferred")
        self.assertEqual(queue[0]["sender"], "erin@sender.test")
        rcpt = queue[0]["recipients"][0]
        self.assertEqual(rcpt["address"], "frank@legacy.test")
        self.assertIn("Connection refused", rcpt["delay_reason"])
        self.assertEqual(sink.messages(), [])

        sink.start()                # same port as before
        pf.flush()
        got = sink.wait_for_messages(1, timeout=20)
        self.assert_relayed(got[0], token, "erin@sender.test",
                            "frank@legacy.test", sent=msg)
        pf.wait_queue_empty(timeout=10)

    def test_stop_leaves_nothing_and_system_postfix_untouched(self):
        before_files = mtimes(SYSTEM_FILES)
        before_system = system_postfix_pids()
        sink = self.sink()
        pf = self.relaying_postfix(sink.port).start()
        master = pf.master_pid
        # a connection makes master spawn smtpd; qmgr/pickup start at once
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=10) as c:
            c.noop()
        names = {postfix._cmdline(p).split()[0].rsplit("/", 1)[-1]
                 for p in pf.processes()}
        self.assertTrue({"master", "qmgr", "pickup", "smtpd"} <= names, names)

        pf.stop()
        self.assertFalse(procs.pid_alive(master))
        self.assertEqual(pf.processes(master), [])
        self.assertFalse(procs.port_open(pf.port))
        self.assertEqual(mtimes(SYSTEM_FILES), before_files)
        # no new system-instance process appeared (we only used -c DIR)
        self.assertEqual(system_postfix_pids() - before_system, set())
        self.assertIn("configuration %s" % pf.config_dir, pf.log_text())
        self.assertFalse(procs.owned(), procs.owned())


    def test_stop_raises_when_an_instance_process_survives(self):
        pf = self.relaying_postfix(self.sink().port).start()
        # a stray process running in the instance's queue dir, which the
        # master does not know about and so will not stop
        stray = procs.Proc(["sleep", "60"], "stray", cwd=pf.queue_dir)
        with self.assertRaisesRegex(postfix.PostfixError,
                                    "survived stop.*sleep 60"):
            pf.stop(timeout=2)
        # stop() still killed it: nothing of the instance is left running
        self.assertFalse(procs.pid_alive(stray.pid))
        self.assertEqual(pf.processes(), [])


if __name__ == "__main__":
    unittest.main()
