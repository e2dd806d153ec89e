"""A misbehaving legacy server: accepts TCP connections on 127.0.0.1 and
then hangs (never answers), answers garbage, or closes at once."""
import threading

from .loopback import LoopbackListener


class FakeLegacy(LoopbackListener):
    MODES = ("hang", "garbage", "close")

    def __init__(self, mode):
        assert mode in self.MODES
        self.mode = mode
        self.accepted = 0
        self._count_lock = threading.Lock()
        super().__init__()

    def handle(self, conn):
        with self._count_lock:
            self.accepted += 1
        if self.mode == "garbage":
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        if self.mode == "close":
            conn.close()
        else:
            self.keep(conn)
