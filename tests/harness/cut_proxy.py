"""A TCP proxy on 127.0.0.1 in front of a real server that cuts a
connection once `after_bytes` bytes have come from the server, `cuts`
times in all: a legacy server whose connection drops in the middle of an
import (or, with `stall`, goes silent and keeps the connection open). It can also play an IMAP server under strain: `busy` connections
answered by the proxy itself, NO [UNAVAILABLE] to every command, and
`delay` seconds before each chunk the server sends."""
import re
import socket
import threading
import time

from .loopback import LoopbackListener


class CutProxy(LoopbackListener):
    def __init__(self, target_port, after_bytes=1 << 62, cuts=1, refuse_after_cut=0,
                 busy=0, delay=0.0, stall=False):
        """refuse_after_cut: after each cut, close this many new
        connections at once (the server stays away for a moment)."""
        self.busy = busy
        # every connection before this time.monotonic() is busy too
        self.busy_until = 0.0
        self.busy_answered = 0
        self.delay = delay
        self.stall = stall
        self.target_port = target_port
        self.after_bytes = after_bytes
        self.cuts = cuts
        self.cut = 0
        self.refuse_after_cut = refuse_after_cut
        self.refusing = 0
        # bytes the server sent, over all connections
        self.from_server = 0
        self._state_lock = threading.Lock()
        super().__init__()

    def handle(self, client):
        with self._state_lock:
            refuse = self.refusing > 0
            self.refusing -= 1 if refuse else 0
        if refuse:
            client.close()
            return
        with self._state_lock:
            busy = self.busy > 0 or time.monotonic() < self.busy_until
            self.busy -= 1 if self.busy > 0 else 0
        if busy:
            self.keep(client)
            threading.Thread(target=self._answer_busy, args=(client,),
                             daemon=True).start()
            return
        server = socket.create_connection(("127.0.0.1", self.target_port))
        self.keep(client, server)
        threading.Thread(target=self._pump, args=(client, server, False),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(server, client, True),
                         daemon=True).start()

    def _answer_busy(self, client):
        """An IMAP server that refuses every command for being busy (a
        client literal gets its continuation first)."""
        f = client.makefile("rb")
        try:
            client.sendall(b"* OK [CAPABILITY IMAP4rev1] busy\r\n")
            line = b""
            while True:
                part = f.readline()
                if not part:
                    return
                line += part
                m = re.search(rb"\{(\d+)\}\r\n$", part)
                if m:
                    client.sendall(b"+ go on\r\n")
                    line += f.read(int(m.group(1)))
                    continue
                tag = line.split(b" ", 1)[0]
                client.sendall(b"%s NO [UNAVAILABLE] Too many connections, "
                               b"try again later\r\n" % tag)
                with self._state_lock:
                    self.busy_answered += 1
                line = b""
        except OSError:
            pass
        finally:
            f.close()

    def _cut_now(self, sent):
        with self._state_lock:
            if sent <= self.after_bytes or self.cut >= self.cuts:
                return False
            self.cut += 1
            self.refusing = self.refuse_after_cut
            return True

    def _pump(self, src, dst, from_server):
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_server and self._cut_now(sent + len(data)):
                    if self.stall:
                        # nothing more from the server; the client's side
                        # closes both when it gives up
                        return
                    break
                if from_server and self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
                sent += len(data)
                if from_server:
                    with self._state_lock:
                        self.from_server += len(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
