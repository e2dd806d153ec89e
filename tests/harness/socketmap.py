"""A minimal client for Postfix's socketmap protocol (netstrings)."""
import socket


def encode(payload):
    return b"%d:%s," % (len(payload), payload)


class SocketmapClient:
    def __init__(self, address, timeout=5):
        """address: ("127.0.0.1", port) or a UNIX socket path."""
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.buf = b""

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_reply(self):
        """One reply payload as bytes; b"" when the server closed."""
        while True:
            colon = self.buf.find(b":")
            if colon > 0:
                length = int(self.buf[:colon])
                end = colon + 1 + length
                if len(self.buf) > end:
                    if self.buf[end:end + 1] != b",":
                        raise ValueError("reply not terminated by ','")
                    payload = self.buf[colon + 1:end]
                    self.buf = self.buf[end + 1:]
                    return payload
            chunk = self.sock.recv(65536)
            if not chunk:
                return b""
            self.buf += chunk

    def lookup(self, name, key):
        self.send_raw(encode(("%s %s" % (name, key)).encode()))
        return self.read_reply().decode()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
