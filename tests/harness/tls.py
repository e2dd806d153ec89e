"""A throw-away test CA and a server certificate for localhost / 127.0.0.1.

Made with the `openssl` CLI (no Python crypto library needed).  EC P-256
keys, because they are generated instantly (RSA 2048 takes noticeable time
per test) and need no DH parameters on the server side.
"""
import os
import ssl
import subprocess

# The server certificate: leaf, TLS server, localhost + 127.0.0.1.  The
# key identifiers make the chain acceptable to strict verifiers
# (ssl.VERIFY_X509_STRICT, the default from Python 3.13 on).
_SERVER_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


def _openssl(*args, cwd):
    r = subprocess.run(("openssl",) + args, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed:\n%s" %
                           (args[0], r.stdout.decode(errors="replace")))


def make_ca_and_cert(dirpath):
    """Create (or reuse, if already made there) ca.pem, server.pem and
    server.key in dirpath.  Returns dict(ca=, cert=, key=) of absolute paths.

    Everything is world-readable: these are test credentials, and several
    daemons running as different users (dovecot, postfix) read them."""
    dirpath = os.path.abspath(dirpath)
    os.makedirs(dirpath, exist_ok=True)
    os.chmod(dirpath, 0o755)
    files = dict(ca=os.path.join(dirpath, "ca.pem"),
                 cert=os.path.join(dirpath, "server.pem"),
                 key=os.path.join(dirpath, "server.key"))
    if all(os.path.exists(p) for p in files.values()):
        return files

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "3650", "-subj", "/CN=dovecot-migrate test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=dirpath)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost", cwd=dirpath)
    with open(os.path.join(dirpath, "server.ext"), "w") as f:
        f.write(_SERVER_EXT)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem",
             "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
             "-days", "825", "-extfile", "server.ext", cwd=dirpath)
    for name in os.listdir(dirpath):
        os.chmod(os.path.join(dirpath, name), 0o644)
    return files


class _PinnedNameContext(ssl.SSLContext):
    """An SSLContext that always verifies against one host name.

    imaplib/poplib pass the host they connected to as server_hostname; we
    connect to 127.0.0.1 (the only address the test servers listen on) but
    want the certificate checked for the name "localhost"."""
    pinned_hostname = None

    def wrap_socket(self, sock, *args, server_hostname=None, **kw):
        return super().wrap_socket(sock, *args,
                                   server_hostname=self.pinned_hostname, **kw)


def client_context(cafile, hostname="localhost"):
    """A verifying client context trusting only cafile (None: trust
    nothing at all, for negative tests), checking `hostname`."""
    ctx = _PinnedNameContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.pinned_hostname = hostname
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafile:
        ctx.load_verify_locations(cafile=cafile)
    return ctx
