"""A TCP relay on 127.0.0.1 that puts a server "far away": every chunk is
held `delay_ms` before it is passed on, in each direction, without
slowing the stream down (chunks read meanwhile queue up behind it). Two
relays' worth of delay make the round trip: delay_ms=10 is a 20 ms RTT.
This machine's kernel has no netem; this is the stand-in."""
import collections
import socket
import threading
import time

from .loopback import LoopbackListener


class DelayRelay(LoopbackListener):
    def __init__(self, target_port, delay_ms):
        self.target_port = target_port
        self.delay = delay_ms / 1000.0
        self.connections = 0
        super().__init__()

    def handle(self, client):
        try:
            server = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:
            client.close()
            return
        self.connections += 1
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        done = threading.Semaphore(0)
        for src, dst in ((client, server), (server, client)):
            threading.Thread(target=self._direction, args=(src, dst, done),
                             daemon=True).start()
        threading.Thread(target=self._closer, args=(client, server, done),
                         daemon=True).start()

    def _direction(self, src, dst, done):
        """Reads src; each chunk leaves for dst delay seconds after it came."""
        queue = collections.deque()
        ready = threading.Condition()

        def writer():
            while True:
                with ready:
                    while not queue:
                        ready.wait()
                    due, data = queue.popleft()
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                if data is None:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    done.release()
                    return
                try:
                    dst.sendall(data)
                except OSError:
                    done.release()
                    return

        threading.Thread(target=writer, daemon=True).start()
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            with ready:
                queue.append((time.monotonic() + self.delay, data or None))
                ready.notify()
            if not data:
                return

    @staticmethod
    def _closer(client, server, done):
        """Both directions over: both sockets closed (a fleet makes
        thousands of connections)."""
        done.acquire()
        done.acquire()
        client.close()
        server.close()
