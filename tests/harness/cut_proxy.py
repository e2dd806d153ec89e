"""A TCP proxy on 127.0.0.1 in front of a real server that cuts a
connection once `after_bytes` bytes have come from the server, `cuts`
times in all: a legacy server whose connection drops in the middle of an
import."""
import socket
import threading

from .loopback import LoopbackListener


class CutProxy(LoopbackListener):
    def __init__(self, target_port, after_bytes, cuts=1, refuse_after_cut=0):
        """refuse_after_cut: after each cut, close this many new
        connections at once (the server stays away for a moment)."""
        self.target_port = target_port
        self.after_bytes = after_bytes
        self.cuts = cuts
        self.cut = 0
        self.refuse_after_cut = refuse_after_cut
        self.refusing = 0
        self._state_lock = threading.Lock()
        super().__init__()

    def handle(self, client):
        with self._state_lock:
            refuse = self.refusing > 0
            self.refusing -= 1 if refuse else 0
        if refuse:
            client.close()
            return
        server = socket.create_connection(("127.0.0.1", self.target_port))
        self.keep(client, server)
        threading.Thread(target=self._pump, args=(client, server, False),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(server, client, True),
                         daemon=True).start()

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
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
