"""IMAP modified UTF-7 mailbox names (RFC 3501 section 5.1.3).

Printable US-ASCII (0x20..0x7e) stands for itself, except "&" which is
written "&-".  Every other run of characters is UTF-16BE, base64-encoded
with "," instead of "/" and no padding, between "&" and "-".
"""
import base64
import unittest


def encode(name):
    out = []
    run = []  # pending non-ASCII characters

    def flush():
        if run:
            b = "".join(run).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode().rstrip("=")
                       .replace("/", ",") + "-")
            del run[:]

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def decode(name):
    """Decode a modified UTF-7 name (str or bytes).  Raises ValueError on
    malformed input (an unterminated "&", bad base64 or UTF-16)."""
    if isinstance(name, bytes):
        name = name.decode("ascii")
    out = []
    i = 0
    while i < len(name):
        ch = name[i]
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = name.find("-", i + 1)
        if end < 0:
            raise ValueError("unterminated &-sequence in %r" % name)
        chunk = name[i + 1:end]
        if not chunk:
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            try:
                out.append(base64.b64decode(b64, validate=True)
                           .decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError) as e:
                raise ValueError("bad modified UTF-7 %r: %s" % (chunk, e))
        i = end + 1
    return "".join(out)


class _Vectors(unittest.TestCase):
    # (unicode, modified UTF-7); cross-checked against Dovecot's own LIST
    # output where noted in tests/integration.
    VECTORS = [
        ("INBOX", "INBOX"),
        ("Itens Enviados", "Itens Enviados"),
        ("Rascunhos", "Rascunhos"),
        ("&", "&-"),
        ("A&B", "A&-B"),
        ("Ünïcødé", "&ANw-n&AO8-c&APg-d&AOk-"),
        ("日本語", "&ZeVnLIqe-"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("Lixeira", "Lixeira"),
        ("Caixa de Saída", "Caixa de Sa&AO0-da"),
        ("😀", "&2D3eAA-"),   # astral plane: a UTF-16 surrogate pair
    ]

    def test_encode(self):
        for uni, m in self.VECTORS:
            self.assertEqual(encode(uni), m, uni)

    def test_decode(self):
        for uni, m in self.VECTORS:
            self.assertEqual(decode(m), uni, m)
            self.assertEqual(decode(m.encode()), uni, m)

    def test_bad(self):
        for bad in ("&ANw", "&!!!-"):
            with self.assertRaises(ValueError):
                decode(bad)


if __name__ == "__main__":
    unittest.main()
