"""A TCP listener on 127.0.0.1, served by a thread of the test process:
the base of the test's misbehaving servers (fake_legacy.py, cut_proxy.py).
stop() closes the listener and every socket a subclass kept()."""
import socket
import threading

from . import procs


class LoopbackListener:
    def __init__(self):
        self.port = procs.free_port()
        self._lock = threading.Lock()
        self._socks = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(256)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def handle(self, conn):
        """Called in the listener's thread for each accepted connection."""
        raise NotImplementedError

    def keep(self, *socks):
        """Sockets stop() must close."""
        with self._lock:
            self._socks.extend(socks)

    def _serve(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed by stop()
            self.handle(conn)

    def stop(self):
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._thread.join(5)
        with self._lock:
            for s in self._socks:
                s.close()
            self._socks = []

    def running(self):
        return self._thread.is_alive()
