"""A misbehaving legacy server: accepts TCP connections on 127.0.0.1 and
then hangs (never answers), answers garbage, or closes at once. Runs in a
thread of the test process; stop() closes every socket it holds."""
import socket
import threading

from . import procs


class FakeLegacy:
    MODES = ("hang", "garbage", "close")

    def __init__(self, mode):
        assert mode in self.MODES
        self.mode = mode
        self.port = procs.free_port()
        self.accepted = 0
        self._conns = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(256)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed by stop()
            with self._lock:
                self.accepted += 1
                if self.mode == "garbage":
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                if self.mode == "close":
                    conn.close()
                else:
                    self._conns.append(conn)

    def stop(self):
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._thread.join(5)
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns = []

    def running(self):
        return self._thread.is_alive()
