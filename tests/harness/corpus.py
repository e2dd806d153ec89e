"""A seeded, deterministic mail corpus, and loading it into an IMAP account.

    folders = generate(seed=1, profile="small")
    load_imap(client, folders)

The same seed always gives the same bytes, flags, keywords and dates, so a
migration test can regenerate what it loaded and compare.

What the corpus exercises (on purpose, since migrations break on these):
nested folders, non-ASCII and "&" folder names, unsubscribed and empty
folders, every system flag (a few \\Deleted), standard and custom keywords,
internal dates from 2005 to 2026 in several time zones, 8-bit bodies
without MIME declarations (UTF-8 and latin-1), multipart messages with
base64 attachments, broken MIME (unclosed boundary, bad base64, a header
line without a colon, very long header lines) and bare-LF line endings.

Server-side normalisation measured on Dovecot 2.3.19 (Maildir): bare LF is
returned as CRLF by FETCH BODY[] (Dovecot stores LF and adds the CR when
serving); a lone CR and a missing final newline are kept as sent.
`expected_fetch_bytes()` applies exactly that, and the integration tests
assert it.
"""
import argparse
import dataclasses
import datetime
import imaplib
import os
import random
import re
import sys

from . import mutf7

PROFILES = {
    # messages spread over the folders; size limits in bytes
    "small": dict(messages=60, max_size=300 * 1024, huge=()),
    "big": dict(messages=300, max_size=4 * 1024 * 1024,
                huge=(12 * 1024 * 1024, 30 * 1024 * 1024)),
}

# (name, subscribed, share of the messages).  Parents are listed before
# their children so a plain in-order CREATE works on every server.
FOLDERS = [
    ("INBOX", True, 0.45),
    ("Sent", True, 0.08),
    ("Drafts", True, 0.03),
    ("Trash", True, 0.04),
    ("Itens Enviados", True, 0.06),
    ("Rascunhos", False, 0.02),
    ("Lixeira", False, 0.03),
    ("Arquivo", True, 0.02),
    ("Arquivo/2019", True, 0.03),
    ("Arquivo/2019/Projetos", True, 0.06),
    ("Ünïcødé", True, 0.02),
    ("Ünïcødé/Sub", False, 0.04),
    ("日本語", True, 0.04),
    ("Contas & Faturas", True, 0.03),
    ("Vazia", False, 0.0),   # stays empty
]

SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
KEYWORDS = ("$Forwarded", "$Junk", "$NotJunk", "Projeto_X", "$MDNSent",
            "Cliente-ACME")
ZONES = [datetime.timezone(datetime.timedelta(minutes=m))
         for m in (0, -180, 60, 540, 330, -300)]
DATE_FROM = datetime.datetime(2005, 1, 1, tzinfo=datetime.timezone.utc)
DATE_TO = datetime.datetime(2026, 10, 31, tzinfo=datetime.timezone.utc)

WORDS = ("reunião orçamento projeto relatório contrato entrega prazo "
         "cliente fatura proposta atenção revisão pendência aprovação "
         "meeting budget report invoice deadline review draft schedule "
         "naïve façade Grüße smörgåsbord 東京 データ").split()


@dataclasses.dataclass
class Msg:
    raw: bytes
    flags: tuple          # system flags, e.g. ("\\Seen",)
    keywords: tuple       # e.g. ("$Junk", "Projeto_X")
    internaldate: datetime.datetime   # aware, whole seconds
    kind: str = ""        # which generator made it (for debugging)


@dataclasses.dataclass
class Folder:
    name: str             # unicode, "/" separated
    subscribed: bool
    messages: list


def expected_fetch_bytes(raw):
    """What Dovecot returns for BODY[] of an APPENDed `raw`: every bare LF
    becomes CRLF, nothing else changes."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


# -- message bodies ----------------------------------------------------------

def _text(rng, nbytes, ascii_only=False):
    """Lines of words, about nbytes long, CRLF-terminated."""
    words = [w for w in WORDS if w.isascii()] if ascii_only else WORDS
    lines, size = [], 0
    while size < nbytes:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(6, 12)))
        lines.append(line)
        size += len(line.encode()) + 2
    return "\r\n".join(lines) + "\r\n"


def _b64_lines(data):
    import base64
    enc = base64.b64encode(data)
    return b"".join(enc[i:i + 76] + b"\r\n" for i in range(0, len(enc), 76))


def _headers(rng, n, date, subject, extra=()):
    frm = rng.choice(["Ana Souza <ana@legacy.example>",
                      "bob@example.org", "\"Zoë Müller\" <zoe@example.de>",
                      "=?UTF-8?B?5bGx55Sw5aSq6YOO?= <yamada@example.jp>"])
    hdr = ["Return-Path: <bounce-%d@example.net>" % n,
           "Received: from mx.example.net (mx.example.net [192.0.2.%d])\r\n"
           "\tby legacy.example with ESMTP id %08X; %s" % (
               n % 250 + 1, rng.getrandbits(32),
               date.strftime("%a, %d %b %Y %H:%M:%S %z")),
           "From: " + frm,
           "To: user@legacy.example",
           "Subject: " + subject,
           "Date: " + date.strftime("%a, %d %b %Y %H:%M:%S %z"),
           "Message-ID: <corpus-%d-%08x@legacy.example>" % (
               n, rng.getrandbits(32))]
    hdr.extend(extra)
    return ("\r\n".join(hdr) + "\r\n").encode()


def _plain(rng, n, date, size):
    return (_headers(rng, n, date, "Plain message %d" % n,
                     ["MIME-Version: 1.0",
                      "Content-Type: text/plain; charset=us-ascii"])
            + b"\r\n" + _text(rng, size, ascii_only=True).encode())


def _utf8_raw(rng, n, date, size):
    # 8-bit UTF-8 in header and body, no MIME declaration at all
    return (_headers(rng, n, date, "Relatório %d – orçamento" % n)
            + b"\r\n" + _text(rng, size).encode("utf-8"))


def _latin1_raw(rng, n, date, size):
    # latin-1 bytes, undeclared: not valid UTF-8
    return (_headers(rng, n, date, "Mensagem %d em latin-1" % n)
            + b"\r\n" + _text(rng, size, ascii_only=True).encode()
            + "Atenção: reunião às 15h, não esqueça!\r\n".encode("latin-1"))


def _multipart(rng, n, date, size, broken=None):
    boundary = "=_corpus_%d_%08x" % (n, rng.getrandbits(32))
    attach = rng.randbytes(max(size * 3 // 4, 16))
    b64 = _b64_lines(attach)
    if broken == "bad-base64":
        # characters outside the base64 alphabet, and a truncated quantum
        b64 = b64[:len(b64) // 2] + b"!!not*base64@@\r\nQUJD\r\n"
    parts = [
        b"--" + boundary.encode(),
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Transfer-Encoding: 8bit",
        b"",
        _text(rng, 300).encode("utf-8").rstrip(b"\r\n"),
        b"--" + boundary.encode(),
        b"Content-Type: application/octet-stream; name=\"anexo-%d.bin\"" % n,
        b"Content-Transfer-Encoding: base64",
        b"Content-Disposition: attachment; filename=\"anexo-%d.bin\"" % n,
        b"",
        b64.rstrip(b"\r\n"),
    ]
    if broken != "no-close":
        parts.append(b"--" + boundary.encode() + b"--")
    body = b"\r\n".join(parts) + b"\r\n"
    hdr = _headers(rng, n, date, "Anexo %d%s" % (n, " (%s)" % broken
                                                 if broken else ""),
                   ["MIME-Version: 1.0",
                    "Content-Type: multipart/mixed; boundary=\"%s\"" % boundary])
    return hdr + b"\r\nThis is a multi-part message in MIME format.\r\n" + body


def _bad_headers(rng, n, date, size):
    long_value = " ".join("token%04d" % i for i in range(rng.randint(200, 400)))
    return (_headers(rng, n, date, "Broken headers %d" % n,
                     ["X-Very-Long: " + long_value,        # ~2-4 KB, unfolded
                      "This line has no colon and is not a continuation",
                      "X-After-Garbage: still a header?"])
            + b"\r\n" + _text(rng, size, ascii_only=True).encode())


def _bare_lf(rng, n, date, size):
    # some lines end in LF only, as written by broken Unix tools
    msg = _plain(rng, n, date, size)
    lines = msg.split(b"\r\n")
    out = bytearray()
    for i, line in enumerate(lines[:-1]):
        out += line + (b"\n" if i % 3 == 2 else b"\r\n")
    return bytes(out + lines[-1])


def _unclosed_multipart(rng, n, date, size):
    return _multipart(rng, n, date, size, broken="no-close")


def _bad_base64(rng, n, date, size):
    return _multipart(rng, n, date, size, broken="bad-base64")


KINDS = [  # (generator, weight)
    (_plain, 5), (_utf8_raw, 3), (_latin1_raw, 2), (_multipart, 4),
    (_unclosed_multipart, 1), (_bad_base64, 1), (_bad_headers, 1),
    (_bare_lf, 1),
]


def _size(rng, max_size):
    """Mostly small messages, a long tail up to max_size."""
    r = rng.random()
    if r < 0.7:
        return rng.randint(300, 8 * 1024)
    if r < 0.93:
        return rng.randint(8 * 1024, min(64 * 1024, max_size))
    return rng.randint(64 * 1024, max_size - 16 * 1024)


def _date(rng):
    span = int((DATE_TO - DATE_FROM).total_seconds())
    utc = DATE_FROM + datetime.timedelta(seconds=rng.randrange(span))
    return utc.astimezone(rng.choice(ZONES))


def _flags(rng, folder):
    flags = [f for f, p in (("\\Seen", 0.7), ("\\Answered", 0.2),
                            ("\\Flagged", 0.15), ("\\Deleted", 0.04))
             if rng.random() < p]
    if folder in ("Drafts", "Rascunhos"):
        flags.append("\\Draft")
    elif rng.random() < 0.03:
        flags.append("\\Draft")
    kws = [k for k in KEYWORDS if rng.random() < 0.08]
    return tuple(f for f in SYSTEM_FLAGS if f in flags), tuple(sorted(kws))


def generate(seed, profile="small"):
    """The corpus for (seed, profile): a list of Folder."""
    p = PROFILES[profile]
    rng = random.Random("%s/%s" % (seed, profile))
    kinds = [k for k, w in KINDS for _ in range(w)]
    weights = [share for _, _, share in FOLDERS]
    folders = [Folder(name, sub, []) for name, sub, _ in FOLDERS]
    for n in range(1, p["messages"] + 1):
        folder = rng.choices(folders, weights)[0]
        date = _date(rng)
        # every kind at least once, then at random by weight
        kind = KINDS[n - 1][0] if n <= len(KINDS) else rng.choice(kinds)
        raw = kind(rng, n, date, _size(rng, p["max_size"]))
        flags, kws = _flags(rng, folder.name)
        folder.messages.append(Msg(raw, flags, kws, date, kind.__name__))
    # the huge ones (big profile): plain attachments, in INBOX
    for i, size in enumerate(p["huge"]):
        n = p["messages"] + 1 + i
        date = _date(rng)
        folders[0].messages.append(
            Msg(_multipart(rng, n, date, size), ("\\Seen",), (), date,
                "_huge"))
    # every folder but the empty one holds at least one message
    for f in folders[1:]:
        if not f.messages and f.name != "Vazia":
            date = _date(rng)
            f.messages.append(Msg(_plain(rng, 0, date, 500), ("\\Seen",), (),
                                  date, "_plain"))
    return folders


# -- loading -----------------------------------------------------------------

def quote(s):
    """An IMAP quoted string (imaplib does not quote arguments)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def imap_name(name, sep):
    """The wire name of a "/"-separated unicode folder name."""
    if name.upper() == "INBOX":
        return "INBOX"
    parts = name.split("/")
    if sep and sep != "/" and any(sep in part for part in parts):
        raise ValueError("folder %r contains the server's separator %r"
                         % (name, sep))
    return mutf7.encode((sep or "/").join(parts))


def hierarchy_separator(client):
    typ, data = client.list('""', '""')
    _check(typ, data, "LIST")
    m = re.match(rb'\([^)]*\) (NIL|"((?:\\.|[^"\\])*)")', data[0])
    if not m or m.group(1) == b"NIL":
        return None
    return re.sub(rb"\\(.)", rb"\1", m.group(2)).decode()


def _check(typ, data, what):
    if typ != "OK":
        raise imaplib.IMAP4.error("%s failed: %s %r" % (what, typ, data))


def append_raw(client, mailbox, msg):
    """APPEND msg.raw exactly as generated.  imaplib.append() would rewrite
    every line ending to CRLF; sending the literal ourselves keeps the
    bare-LF messages bare."""
    flags = "(%s)" % " ".join(msg.flags + msg.keywords)
    client.literal = msg.raw
    typ, data = client._simple_command(
        "APPEND", quote(mailbox), flags,
        imaplib.Time2Internaldate(msg.internaldate))
    _check(typ, data, "APPEND to %s" % mailbox)


def load_imap(client, corpus):
    """Create, subscribe and fill every folder of `corpus` through a
    logged-in imaplib client."""
    sep = hierarchy_separator(client)
    for folder in corpus:
        wire = imap_name(folder.name, sep)
        if wire != "INBOX":
            typ, data = client.create(quote(wire))
            _check(typ, data, "CREATE %s" % folder.name)
        if folder.subscribed:
            typ, data = client.subscribe(quote(wire))
            _check(typ, data, "SUBSCRIBE %s" % folder.name)
        for msg in folder.messages:
            append_raw(client, wire, msg)


def stats(corpus):
    return dict(folders=len(corpus),
                messages=sum(len(f.messages) for f in corpus),
                bytes=sum(len(m.raw) for f in corpus for m in f.messages))


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Load a deterministic test corpus into an IMAP account. "
        "The password comes from $MIGRATE_TEST_PASSWORD or stdin.")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="small")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=143)
    ap.add_argument("--user", required=True)
    ap.add_argument("--tls", choices=("none", "starttls", "tls"),
                    default="none")
    ap.add_argument("--ca", help="CA file to verify the server against")
    args = ap.parse_args(argv)

    password = os.environ.get("MIGRATE_TEST_PASSWORD")
    if password is None:
        password = sys.stdin.readline().rstrip("\r\n")
    ctx = None
    if args.tls != "none":
        import ssl
        ctx = ssl.create_default_context(cafile=args.ca)
    if args.tls == "tls":
        client = imaplib.IMAP4_SSL(args.host, args.port, ssl_context=ctx)
    else:
        client = imaplib.IMAP4(args.host, args.port)
        if args.tls == "starttls":
            client.starttls(ctx)
    client.login(args.user, password)
    corpus = generate(args.seed, args.profile)
    load_imap(client, corpus)
    client.logout()
    s = stats(corpus)
    print("loaded %d folders, %d messages, %d bytes into %s"
          % (s["folders"], s["messages"], s["bytes"], args.user))


if __name__ == "__main__":
    main()
