#!/usr/bin/python3
"""Compare two IMAP accounts (and optionally their POP3 UIDL lists).

    VERIFY_A_PASSWORD=... VERIFY_B_PASSWORD=... \\
    python3 tests/harness/verify.py --a imap://alice@127.0.0.1:1143 \\
        --b imaps://alice@127.0.0.1:2993 --a-tls starttls --ca ca.pem

Compared: the folder list (LIST "" "*", names decoded from modified UTF-7
and shown "/"-separated whatever the server's separator), subscriptions
(LSUB), per folder UIDVALIDITY and the messages: matched by UID (or, with
--ignore-uids, by sha256 of the bytes + INTERNALDATE), then sha256 of
BODY.PEEK[], system flags (\\Recent ignored), keywords and INTERNALDATE
(compared as instants: servers may render another time zone).  A message
count difference shows up as one "missing in"/"only in" line per message,
not as a separate line.

Every difference is one line, e.g.
    folder 'INBOX' uid 7: flags differ: legacy (\\Seen) vs new (\\Seen \\Flagged)
The last line is "N differences" or "identical: F folders, M messages".
Exit status: 0 identical, 1 differences, 2 error (connection, TLS, login).
Passwords come from $VERIFY_A_PASSWORD / $VERIFY_B_PASSWORD, never argv.
Mailboxes are opened with EXAMINE (read-only) and bodies fetched with
BODY.PEEK[], so verifying changes nothing, not even \\Seen or \\Recent.
"""
import argparse
import collections
import dataclasses
import datetime
import hashlib
import imaplib
import os
import poplib
import re
import ssl
import sys
import urllib.parse

if __package__:
    from . import mutf7
else:  # run as a script: tests/harness/verify.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    from harness import mutf7

BATCH_MESSAGES = 200              # UIDs per FETCH
BATCH_BYTES = 64 * 1024 * 1024    # and at most this much body per FETCH
SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")


class VerifyError(Exception):
    """Could not get the data to compare (connection, TLS, login...)."""


@dataclasses.dataclass
class Endpoint:
    host: str
    port: int
    user: str
    password: str = dataclasses.field(repr=False, default=None)
    tls: str = "none"             # none | starttls | tls
    cafile: str = None            # None: the system trust store
    servername: str = None        # name to check the certificate for
    pop3_port: int = None         # POP3 (same TLS mode) for --pop3
    label: str = "a"

    def url(self):
        return "%s://%s@%s:%d" % ("imaps" if self.tls == "tls" else "imap",
                                  self.user, self.host, self.port)

    def ssl_context(self):
        ctx = _Context(ssl.PROTOCOL_TLS_CLIENT)  # verifies cert + name
        ctx.servername = self.servername
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cafile:
            ctx.load_verify_locations(cafile=self.cafile)
        else:
            ctx.load_default_certs()
        return ctx


class _Context(ssl.SSLContext):
    """Checks the certificate for `servername` when set, instead of the
    host we connected to (e.g. connect to 127.0.0.1, check "localhost")."""
    servername = None

    def wrap_socket(self, sock, *a, server_hostname=None, **kw):
        return super().wrap_socket(
            sock, *a, server_hostname=self.servername or server_hostname, **kw)


@dataclasses.dataclass
class MsgInfo:
    uid: int
    flags: tuple
    keywords: tuple
    internaldate: str      # as the server sent it
    when: datetime.datetime  # the same, parsed (aware)
    size: int
    sha256: str = None


@dataclasses.dataclass
class FolderInfo:
    name: str              # decoded, "/"-separated
    attrs: tuple
    selectable: bool
    uidvalidity: int = None
    messages: dict = dataclasses.field(default_factory=dict)  # uid -> MsgInfo


@dataclasses.dataclass
class Snapshot:
    separator: str
    folders: dict          # name -> FolderInfo
    subscribed: set        # names


# -- IMAP --------------------------------------------------------------------

def _q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def connect_imap(ep):
    """A logged-in imaplib client for ep; VerifyError on failure."""
    where = "%s (%s)" % (ep.label, ep.url())
    c = None
    try:
        if ep.tls == "tls":
            c = imaplib.IMAP4_SSL(ep.host, ep.port, timeout=60,
                                  ssl_context=ep.ssl_context())
        else:
            c = imaplib.IMAP4(ep.host, ep.port, timeout=60)
            if ep.tls == "starttls":
                c.starttls(ep.ssl_context())
    except (OSError, imaplib.IMAP4.error) as e:
        if c is not None:
            c.shutdown()
        raise VerifyError("%s: cannot connect: %s" % (where, e)) from None
    try:
        c.login(ep.user, ep.password)
    except imaplib.IMAP4.error as e:
        c.shutdown()
        raise VerifyError("%s: login failed: %s" % (where, _text(e))) from None
    return c


def _text(e):
    s = str(e)
    m = re.match(r"^b'(.*)'$", s)
    return m.group(1) if m else s


def _ok(typ, data, what):
    if typ != "OK":
        raise VerifyError("%s failed: %s %s" % (what, typ, _text(data)))
    return data


def _unquote(b):
    if b.startswith(b'"'):
        return re.sub(rb"\\(.)", rb"\1", b[1:-1])
    return b


_LIST_RE = re.compile(rb'^\((?P<attrs>[^)]*)\) (?P<sep>NIL|"(?:\\.|[^"\\])*") '
                      rb'(?P<name>.*)$', re.S)


def _parse_list(data):
    """[(attrs, sep, raw_name)] from imaplib's LIST/LSUB data (names may
    arrive as literals: tuples of (prefix, name))."""
    out = []
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):
            prefix, name = item
            m = _LIST_RE.match(prefix)
            raw = name
        else:
            m = _LIST_RE.match(item)
            raw = _unquote(m.group("name")) if m else None
        if not m:
            raise VerifyError("cannot parse LIST response %r" % (item,))
        sep = None if m.group("sep") == b"NIL" else _unquote(m.group("sep"))
        out.append((tuple(m.group("attrs").decode().split()),
                    sep.decode() if sep else None, raw))
    return out


def _decode_name(raw, sep):
    name = mutf7.decode(raw)
    if sep and sep != "/":
        name = "/".join(name.split(sep))
    return name


_FETCH_META = re.compile(rb"UID (\d+)|FLAGS \(([^)]*)\)|INTERNALDATE "
                         rb"\"([^\"]*)\"|RFC822\.SIZE (\d+)")


def _fetch_meta(c, folder):
    typ, data = c.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE)")
    _ok(typ, data, "UID FETCH metadata in %r" % folder.name)
    for item in data:
        if not item or isinstance(item, tuple):
            continue
        uid = flags = idate = size = None
        for m in _FETCH_META.finditer(item):
            if m.group(1):
                uid = int(m.group(1))
            elif m.group(2) is not None:
                flags = m.group(2).decode().split()
            elif m.group(3):
                idate = m.group(3).decode()
            elif m.group(4):
                size = int(m.group(4))
        if uid is None or idate is None:
            continue  # an unsolicited FETCH (flag change) without UID
        flags = flags or []
        folder.messages[uid] = MsgInfo(
            uid=uid,
            flags=tuple(f for f in SYSTEM_FLAGS
                        if f.lower() in {x.lower() for x in flags}),
            keywords=tuple(sorted(f for f in flags if not f.startswith("\\"))),
            internaldate=idate, when=_parse_date(idate), size=size or 0)


def _parse_date(s):
    return datetime.datetime.strptime(s.strip(), "%d-%b-%Y %H:%M:%S %z")


def _fetch_bodies(c, folder):
    """sha256 of BODY.PEEK[] for every message, in batches small enough
    for tens-of-MB messages (the whole batch sits in memory)."""
    uids = sorted(folder.messages)
    i = 0
    while i < len(uids):
        batch, total = [], 0
        while i < len(uids) and len(batch) < BATCH_MESSAGES and (
                not batch or total + folder.messages[uids[i]].size
                <= BATCH_BYTES):
            batch.append(uids[i])
            total += folder.messages[uids[i]].size
            i += 1
        typ, data = c.uid("FETCH", ",".join(map(str, batch)),
                          "(UID BODY.PEEK[])")
        _ok(typ, data, "UID FETCH BODY.PEEK[] in %r" % folder.name)
        for item in data:
            if not isinstance(item, tuple):
                continue
            m = re.search(rb"UID (\d+)", item[0])
            if m and int(m.group(1)) in folder.messages:
                folder.messages[int(m.group(1))].sha256 = \
                    hashlib.sha256(item[1]).hexdigest()
        del data


def snapshot(c, bodies=True):
    """Everything we compare, from a logged-in imaplib client."""
    typ, data = c.list('""', '"*"')
    listed = _parse_list(_ok(typ, data, "LIST"))
    typ, data = c.lsub('""', '"*"')
    subscribed = _parse_list(_ok(typ, data, "LSUB"))
    sep = next((s for _, s, _ in listed if s), None)
    snap = Snapshot(separator=sep, folders={}, subscribed=set())
    for attrs, s, raw in subscribed:
        snap.subscribed.add(_decode_name(raw, s))
    for attrs, s, raw in listed:
        name = _decode_name(raw, s)
        low = {a.lower() for a in attrs}
        f = FolderInfo(name=name, attrs=attrs,
                       selectable=not ({"\\noselect", "\\nonexistent"} & low))
        snap.folders[name] = f
        if not f.selectable:
            continue
        typ, data = c.select(_q(raw.decode()), readonly=True)
        _ok(typ, data, "EXAMINE %r" % name)
        uv = c.response("UIDVALIDITY")[1]
        f.uidvalidity = int(uv[0]) if uv and uv[0] else None
        if int(data[0] or 0) > 0:
            _fetch_meta(c, f)
            if bodies:
                _fetch_bodies(c, f)
        c.close()
    return snap


# -- comparing ---------------------------------------------------------------

def _fmt(items):
    return "(%s)" % " ".join(items)


def compare(a, b, la="legacy", lb="new", ignore_uids=False):
    """Differences between two Snapshots, one string each, stable order."""
    diffs = []
    for name in sorted(set(a.folders) | set(b.folders)):
        fa, fb = a.folders.get(name), b.folders.get(name)
        where = "folder %r" % name
        if fb is None:
            diffs.append("%s: missing in %s" % (where, lb))
            continue
        if fa is None:
            diffs.append("%s: only in %s" % (where, lb))
            continue
        if fa.selectable != fb.selectable:
            diffs.append("%s: %s in %s but %s in %s" % (
                where, _sel(fa), la, _sel(fb), lb))
            continue
        if not ignore_uids and fa.uidvalidity != fb.uidvalidity:
            diffs.append("%s: UIDVALIDITY differs: %s %s vs %s %s" % (
                where, la, fa.uidvalidity, lb, fb.uidvalidity))
        if ignore_uids:
            diffs.extend(_compare_by_content(where, fa, fb, la, lb))
        else:
            diffs.extend(_compare_by_uid(where, fa, fb, la, lb))
    for name in sorted(a.subscribed ^ b.subscribed):
        ina = name in a.subscribed
        diffs.append("folder %r: subscription differs: %s %s vs %s %s" % (
            name, la, "subscribed" if ina else "not subscribed",
            lb, "not subscribed" if ina else "subscribed"))
    return diffs


def _sel(f):
    return "selectable" if f.selectable else "\\Noselect"


def _compare_msg(where, ma, mb, la, lb):
    d = []
    if ma.sha256 != mb.sha256:
        d.append("%s: body differs: %s sha256 %s (%d bytes) vs %s sha256 %s "
                 "(%d bytes)" % (where, la, (ma.sha256 or "?")[:16], ma.size,
                                 lb, (mb.sha256 or "?")[:16], mb.size))
    if ma.flags != mb.flags:
        d.append("%s: flags differ: %s %s vs %s %s" % (
            where, la, _fmt(ma.flags), lb, _fmt(mb.flags)))
    if ma.keywords != mb.keywords:
        d.append("%s: keywords differ: %s %s vs %s %s" % (
            where, la, _fmt(ma.keywords), lb, _fmt(mb.keywords)))
    if ma.when != mb.when:
        d.append('%s: INTERNALDATE differs: %s "%s" vs %s "%s"' % (
            where, la, ma.internaldate, lb, mb.internaldate))
    return d


def _compare_by_uid(where, fa, fb, la, lb):
    d = []
    for uid in sorted(set(fa.messages) | set(fb.messages)):
        ma, mb = fa.messages.get(uid), fb.messages.get(uid)
        w = "%s uid %d" % (where, uid)
        if mb is None:
            d.append("%s: missing in %s" % (w, lb))
        elif ma is None:
            d.append("%s: only in %s" % (w, lb))
        else:
            d.extend(_compare_msg(w, ma, mb, la, lb))
    return d


def _compare_by_content(where, fa, fb, la, lb):
    """Pair messages by (sha256, INTERNALDATE instant), duplicates in UID
    order; unpaired ones are reported missing/extra."""
    def index(f):
        idx = collections.defaultdict(list)
        for uid in sorted(f.messages):
            m = f.messages[uid]
            idx[(m.sha256, m.when)].append(m)
        return idx
    ia, ib = index(fa), index(fb)
    d = []
    for key in sorted(set(ia) | set(ib), key=lambda k: (k[1], k[0] or "")):
        la_, lb_ = ia.get(key, []), ib.get(key, [])
        for ma, mb in zip(la_, lb_):
            d.extend(_compare_msg("%s uid %d/%d" % (where, ma.uid, mb.uid),
                                  ma, mb, la, lb))
        for m in la_[len(lb_):]:
            d.append('%s message sha256 %s date "%s" (%s uid %d): missing '
                     'in %s' % (where, (m.sha256 or "?")[:16],
                                m.internaldate, la, m.uid, lb))
        for m in lb_[len(la_):]:
            d.append('%s message sha256 %s date "%s" (%s uid %d): only '
                     'in %s' % (where, (m.sha256 or "?")[:16],
                                m.internaldate, lb, m.uid, lb))
    return d


# -- POP3 --------------------------------------------------------------------

def pop3_uidls(ep):
    """[(uidl, size)] in message-number order, via POP3 on ep.pop3_port."""
    where = "%s (pop3 %s:%d)" % (ep.label, ep.host, ep.pop3_port)
    p = None
    try:
        if ep.tls == "tls":
            p = poplib.POP3_SSL(ep.host, ep.pop3_port, timeout=60,
                                context=ep.ssl_context())
        else:
            p = poplib.POP3(ep.host, ep.pop3_port, timeout=60)
            if ep.tls == "starttls":
                p.stls(ep.ssl_context())
    except (OSError, poplib.error_proto) as e:
        if p is not None:
            p.close()
        raise VerifyError("%s: cannot connect: %s" % (where, e)) from None
    try:
        p.user(ep.user)
        p.pass_(ep.password)
    except poplib.error_proto as e:
        p.close()
        raise VerifyError("%s: login failed: %s" % (where, _text(e))) from None
    try:
        sizes = {int(n): int(s) for n, s in
                 (line.split() for line in p.list()[1])}
        out = []
        for line in p.uidl()[1]:
            n, uidl = line.split(None, 1)
            out.append((uidl.decode(), sizes.get(int(n))))
        p.quit()  # no DELE was sent: nothing changes
    except poplib.error_proto as e:
        p.close()
        raise VerifyError("%s: %s" % (where, _text(e))) from None
    return out


def compare_pop3(ua, ub, la="legacy", lb="new"):
    d = []
    sa, sb = dict(ua), dict(ub)
    for uidl, size in ua:
        if uidl not in sb:
            d.append("pop3 UIDL %r: missing in %s" % (uidl, lb))
        elif sb[uidl] != size:
            d.append("pop3 UIDL %r: size differs: %s %s vs %s %s" % (
                uidl, la, size, lb, sb[uidl]))
    for uidl, size in ub:
        if uidl not in sa:
            d.append("pop3 UIDL %r: only in %s" % (uidl, lb))
    common_a = [u for u, _ in ua if u in sb]
    common_b = [u for u, _ in ub if u in sa]
    if common_a != common_b:
        d.append("pop3: UIDL order differs between %s and %s" % (la, lb))
    return d


# -- driver ------------------------------------------------------------------

def verify(a, b, ignore_uids=False, pop3=False, out=print):
    """Compare endpoints a and b; prints (via `out`) and returns the list of
    differences.  Raises VerifyError when either side cannot be read."""
    snaps = []
    for ep in (a, b):
        c = connect_imap(ep)
        try:
            snaps.append(snapshot(c))
        except (imaplib.IMAP4.error, OSError) as e:
            raise VerifyError("%s (%s): %s" % (ep.label, ep.url(), _text(e)))
        finally:
            try:
                c.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
    diffs = compare(snaps[0], snaps[1], a.label, b.label, ignore_uids)
    if pop3:
        diffs += compare_pop3(pop3_uidls(a), pop3_uidls(b), a.label, b.label)
    for line in diffs:
        out(line)
    if diffs:
        out("%d differences" % len(diffs))
    else:
        sa = snaps[0]
        out("identical: %d folders, %d messages" % (
            len(sa.folders), sum(len(f.messages) for f in sa.folders.values())))
    return diffs


def parse_url(url, password, tls=None, cafile=None, pop3_port=None,
              label="a", servername=None):
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("imap", "imaps") or not u.username or not u.hostname:
        raise ValueError("expected imap[s]://user@host[:port], got %r" % url)
    if u.password:
        raise ValueError("no passwords in URLs; use the environment")
    mode = tls or ("tls" if u.scheme == "imaps" else "none")
    port = u.port or (993 if mode == "tls" else 143)
    return Endpoint(host=u.hostname, port=port,
                    user=urllib.parse.unquote(u.username), password=password,
                    tls=mode, cafile=cafile, servername=servername,
                    pop3_port=pop3_port, label=label)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Compare two IMAP accounts. Passwords are read from "
        "$VERIFY_A_PASSWORD and $VERIFY_B_PASSWORD.")
    ap.add_argument("--a", required=True, metavar="URL",
                    help="imap://user@host:port or imaps://...")
    ap.add_argument("--b", required=True, metavar="URL")
    for side in ("a", "b"):
        ap.add_argument("--%s-tls" % side, choices=("none", "starttls", "tls"),
                        help="default: tls for imaps://, none for imap://")
        ap.add_argument("--%s-ca" % side, metavar="FILE",
                        help="CA file for this side (default: --ca)")
        ap.add_argument("--%s-name" % side, default=None,
                        help="label in the output (default: legacy / new)")
        ap.add_argument("--%s-servername" % side, metavar="HOST",
                        help="check the certificate for this name")
    ap.add_argument("--ca", metavar="FILE",
                    help="CA file to trust (default: system store)")
    ap.add_argument("--pop3-a", type=int, metavar="PORT")
    ap.add_argument("--pop3-b", type=int, metavar="PORT")
    ap.add_argument("--ignore-uids", action="store_true",
                    help="match messages by sha256+INTERNALDATE, not UID; "
                    "UIDVALIDITY is not compared")
    args = ap.parse_args(argv)
    if (args.pop3_a is None) != (args.pop3_b is None):
        ap.error("--pop3-a and --pop3-b go together")

    try:
        eps = []
        for side, default_label in (("a", "legacy"), ("b", "new")):
            var = "VERIFY_%s_PASSWORD" % side.upper()
            pw = os.environ.get(var)
            if pw is None:
                raise VerifyError("$%s is not set" % var)
            eps.append(parse_url(
                getattr(args, side), pw, tls=getattr(args, side + "_tls"),
                cafile=getattr(args, side + "_ca") or args.ca,
                pop3_port=getattr(args, "pop3_" + side),
                label=getattr(args, side + "_name") or default_label,
                servername=getattr(args, side + "_servername")))
        diffs = verify(eps[0], eps[1], ignore_uids=args.ignore_uids,
                       pop3=args.pop3_a is not None)
    except (VerifyError, ValueError) as e:
        sys.stdout.flush()
        print("error: %s" % e)
        return 2
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
