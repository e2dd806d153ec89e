"""The cut-over under real client load (issue 16): a fence no login can
race, nothing missing at the flip, no UID naming two messages, no stale
answer. Clients log in through the new server as users do; the worker or
the cutover command runs meanwhile."""
import imaplib
import os
import poplib
import re
import threading
import time

from harness import procs
from harness.cut_proxy import CutProxy
from harness.dovecot import hash_password
from integration.test_import_worker import ImportCase, MANUAL
from integration.test_login_capture import DOMAIN

APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
MESSAGE_ID = re.compile(rb"Message-ID: (<[^>]+>)", re.I)
LEGACY_TWO_PASSWORDS = """\
passdb {
  driver = passwd-file
  master = yes
  args = %s
  pass = yes
}
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT %s
}
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT %s
}
"""


def message(msgid, subject):
    return ("From: load@client.test\r\nSubject: %s\r\nMessage-ID: %s\r\n\r\n"
            "body of %s\r\n" % (subject, msgid, msgid)).encode()


class Ledger:
    """What every client saw, shared by the client threads: (account,
    UIDVALIDITY, UID) -> Message-ID, and the conflicts (one key, two
    Message-IDs)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}
        self.conflicts = []
        self.appended = {}      # Message-ID -> account, APPEND answered OK
        self.expunged = set()   # Message-IDs a client expunged
        self.refusals = 0
        self.disconnects = 0
        self.other_errors = []

    def saw(self, account, uidvalidity, uid, msgid, where):
        key = (account, int(uidvalidity), int(uid))
        with self.lock:
            old = self.seen.setdefault(key, (msgid, where))
            if old[0] != msgid:
                self.conflicts.append((key, old, (msgid, where)))


class ImapClient(threading.Thread):
    """Logs in, APPENDs a message of its own, reads the UIDs of INBOX,
    flags one, expunges one of its own now and then, logs out; again
    until stopped."""

    def __init__(self, port, account, password, ledger, name, stop):
        super().__init__(daemon=True)
        self.port, self.account, self.password = port, account, password
        self.ledger, self.name, self.stop = ledger, name, stop
        self.n = 0
        self.mine = []

    def run(self):
        while not self.stop.is_set():
            try:
                self.session()
            except (imaplib.IMAP4.abort, OSError, EOFError):
                with self.ledger.lock:
                    self.ledger.disconnects += 1
            except imaplib.IMAP4.error as e:
                with self.ledger.lock:
                    self.ledger.other_errors.append(str(e))

    def session(self):
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=60)
        try:
            c.login(self.account, self.password)
        except imaplib.IMAP4.error as e:
            c.shutdown()
            with self.ledger.lock:
                self.ledger.refusals += 1
            if "being moved" not in str(e) and "Temporary" not in str(e):
                raise
            time.sleep(0.05)
            return
        try:
            self.work(c)
        finally:
            try:
                c.logout()
            except (imaplib.IMAP4.abort, OSError, EOFError):
                pass

    def work(self, c):
        typ, data = c.select("INBOX")
        uidvalidity = c.untagged_responses.get("UIDVALIDITY", [b"0"])[0]
        self.n += 1
        msgid = "<%s-%d@load.test>" % (self.name, self.n)
        typ, data = c.append("INBOX", None, None, message(msgid, self.name))
        m = APPENDUID.search(data[0] or b"")
        if typ == "OK" and m:
            with self.ledger.lock:
                self.ledger.appended[msgid] = self.account
            self.ledger.saw(self.account, m.group(1), m.group(2), msgid.encode(),
                            "APPENDUID via %s" % self.name)
            self.mine.append(m.group(2).decode())
        typ, data = c.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        for item in data:
            if isinstance(item, tuple):
                uid = re.search(rb"UID (\d+)", item[0])
                mid = MESSAGE_ID.search(item[1])
                if uid and mid:
                    self.ledger.saw(self.account, uidvalidity, uid.group(1),
                                    mid.group(1), "FETCH via %s" % self.name)
        if self.mine:
            c.uid("STORE", self.mine[-1], "+FLAGS.SILENT", "(\\Flagged)")
        if self.n % 4 == 0 and len(self.mine) > 1:
            victim = self.mine.pop(0)
            typ, data = c.uid("FETCH", victim, "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            mid = [MESSAGE_ID.search(i[1]) for i in data if isinstance(i, tuple)]
            c.uid("STORE", victim, "+FLAGS.SILENT", "(\\Deleted)")
            c.uid("EXPUNGE", victim)
            if mid and mid[0]:
                with self.ledger.lock:
                    self.ledger.expunged.add(mid[0].group(1).decode())


class CutoverFenceTest(ImportCase):

    def legacy_of(self, users, messages=20):
        legacy = self.legacy_server(users)
        for user in users:
            c = legacy.imap(user)
            for i in range(messages):
                c.append("INBOX", None, None,
                         message("<seed-%d-%s>" % (i, user), "seed %d" % i))
            c.logout()
        return legacy

    def local_message_ids(self, new, user):
        """{Message-ID: count} and {UID: Message-ID} of user's local INBOX."""
        c = new.imap(user, master=True)
        typ, data = c.select("INBOX", readonly=True)
        uidvalidity = c.untagged_responses.get("UIDVALIDITY", [b"0"])[0]
        typ, data = c.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        c.logout()
        counts, uids = {}, {}
        for item in data:
            if isinstance(item, tuple):
                uid = re.search(rb"UID (\d+)", item[0]).group(1)
                mid = MESSAGE_ID.search(item[1]).group(1).decode()
                counts[mid] = counts.get(mid, 0) + 1
                uids[int(uid)] = mid
        return int(uidvalidity), counts, uids

    def test_login_decided_before_the_flip_is_never_proxied_after_it(self):
        """A login whose state was read before the flip and whose answer
        comes after it (held by a legacy server that answers slowly: the
        user changed the password there, so the legacy check decides) is
        never served by the legacy server: on the code before the fence it
        was proxied after the kick, and what it wrote stayed on the legacy
        server."""
        user = "held@" + DOMAIN
        legacy = self.legacy_of([user], messages=3)
        proxy = self.own(CutProxy(legacy.port_imap, delay=0.4))
        new = self.captured(legacy, user, settings=MANUAL,
                            domain_keys={"imap_port": proxy.port})
        self.assertEqual(self.worker(new), {user: ["synced", ""]}, self.worker_log)
        # the legacy server also takes a second password (a second
        # passdb), which the new server has never seen: a login with it
        # is checked there, slowly, while the import keeps the first one
        newpw = self.password()
        alt = os.path.join(self.root, "legacy-alt.passwd")
        with open(alt, "w") as f:
            f.write("%s:%s\n" % (user, hash_password(newpw)))
        legacy.passdb_conf = LEGACY_TWO_PASSWORDS % (
            legacy.master_passwd_file, legacy.passwd_file, alt)
        legacy.write_conf()
        legacy.reload()
        proxied_before = new.log_text().count("account %s: proxied" % user)
        connections = len(proxy._socks)
        result = {}

        def login():
            result["login"] = self.imap_login(new.port_imap, user, newpw)
        held = threading.Thread(target=login, daemon=True)
        held.start()
        # the legacy check is on its way: the state has been read
        procs.wait_for(lambda: len(proxy._socks) > connections, 10,
                       "the legacy check connected")
        out = new.doveadm("-f", "tab", "migrate", "cutover", "-c", new.migrate_conf,
                          "-u", user)
        self.assertEqual(out.stdout.decode().splitlines()[1:],
                         [user + "\tmigrated\t"], out.stderr)
        held.join(60)
        res, session = result["login"]
        if res == "OK":
            # whatever it writes must be here, under the UID it was given
            typ, data = session.append("INBOX", None, None,
                                       message("<held@load.test>", "held"))
            session.logout()
            uidvalidity, counts, uids = self.local_message_ids(new, user)
            self.assertEqual(counts.get("<held@load.test>"), 1,
                             "the held login wrote to the legacy server after "
                             "the cut-over: %r" % (data,))
        self.assertEqual(new.log_text().count("account %s: proxied" % user),
                         proxied_before, "a login was proxied after the flip")
        # the next login is local, with the password the store holds
        self.assertEqual(self.account(new, user), "migrated imap %s 0" % DOMAIN)

    def test_clients_under_load_lose_nothing_and_see_no_uid_twice(self):
        """Three accounts, three IMAP clients each, logging in, APPENDing,
        FETCHing, STOREing and EXPUNGEing through the new server in a loop
        while the worker imports and cuts them over (cutover = auto)."""
        users = ["load%d@%s" % (i, DOMAIN) for i in range(3)]
        legacy = self.legacy_of(users)
        new = self.new(legacy)
        for user in users:
            self.capture(new, legacy, user)
        ledger, stop = Ledger(), threading.Event()
        clients = [ImapClient(new.port_imap, user, legacy.users[user], ledger,
                              "%s-c%d" % (user.split("@")[0], i), stop)
                   for user in users for i in range(3)]
        for c in clients:
            c.start()
        time.sleep(1.5)      # proxied sessions at work on the legacy side
        result = self.worker(new)
        self.assertEqual(result, {u: ["migrated", ""] for u in users},
                         self.worker_log)
        time.sleep(1.5)      # local sessions at work
        stop.set()
        for c in clients:
            c.join(90)
        appended = len(ledger.appended)
        missing, doubled = [], []
        for user in users:
            uidvalidity, counts, uids = self.local_message_ids(new, user)
            for uid, mid in uids.items():
                ledger.saw(user, uidvalidity, uid, mid.encode(), "the final copy")
            for mid, account in ledger.appended.items():
                if account != user or mid in ledger.expunged:
                    continue
                if counts.get(mid, 0) == 0:
                    missing.append(mid)
                elif counts[mid] > 1:
                    doubled.append(mid)
        print("\n     load: %d clients, %d messages appended, %d expunged, "
              "%d refusals, %d disconnects, %d missing, %d doubled, %d UIDs "
              "reused" % (len(clients), appended, len(ledger.expunged),
                          ledger.refusals, ledger.disconnects, len(missing),
                          len(doubled), len(ledger.conflicts)))
        self.assertGreater(appended, 20)
        self.assertEqual(ledger.other_errors, [])
        self.assertEqual(missing, [], "%s\n%s" % (
            [(k, v) for k, v in ledger.seen.items() if v[0].decode() in missing],
            self.worker_log))
        self.assertEqual(doubled, [])
        self.assertEqual(ledger.conflicts, [])
        self.assertIn("fence:", self.worker_log)

    def test_pop3_clients_keep_their_uidls_across_the_cutover(self):
        """POP3 clients read the maildrop through the new server while mail
        keeps arriving on the legacy side and the account is cut over:
        every UIDL names the same message before and after."""
        user = "popload@" + DOMAIN
        legacy = self.legacy_of([user], messages=10)
        new = self.new(legacy, domain_keys={"imap_port": "0"}, separator="/")
        res, p = self.pop3_login(new.port_pop3, user, legacy.users[user])
        self.assertEqual(res, "OK", p)
        p.quit()
        self.account(new, user)
        seen, conflicts, stop = {}, [], threading.Event()
        counts = {"refusals": 0, "sessions": 0, "disconnects": 0}

        def reader():
            while not stop.is_set():
                try:
                    res, p = self.pop3_login(new.port_pop3, user, legacy.users[user])
                    if res != "OK":
                        counts["refusals"] += 1
                        time.sleep(0.05)
                        continue
                    for line in p.uidl()[1]:
                        num, uidl = line.split()
                        top = b"\n".join(p.top(int(num), 0)[1])
                        mid = MESSAGE_ID.search(top).group(1)
                        if seen.setdefault(uidl, mid) != mid:
                            conflicts.append((uidl, seen[uidl], mid))
                    p.quit()
                    counts["sessions"] += 1
                except (poplib.error_proto, OSError, EOFError):
                    counts["disconnects"] += 1

        def deliverer():
            n = 0
            while not stop.is_set():
                n += 1
                c = legacy.imap(user)
                c.append("INBOX", None, None,
                         message("<late-%d@pop.test>" % n, "late %d" % n))
                c.logout()
                time.sleep(0.2)
        threads = [threading.Thread(target=reader, daemon=True) for _ in range(2)]
        threads.append(threading.Thread(target=deliverer, daemon=True))
        for t in threads:
            t.start()
        time.sleep(1.0)
        self.assertEqual(self.worker(new), {user: ["migrated", ""]}, self.worker_log)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(60)
        print("\n     pop3: %d sessions, %d UIDLs seen, %d refusals, %d "
              "disconnects" % (counts["sessions"], len(seen), counts["refusals"],
                               counts["disconnects"]))
        self.assertGreater(counts["sessions"], 2)
        self.assertEqual(conflicts, [])
        # and the local maildrop answers every UIDL seen with its message
        res, p = self.pop3_login(new.port_pop3, user, legacy.users[user])
        self.assertEqual(res, "OK", p)
        local = {}
        for line in p.uidl()[1]:
            num, uidl = line.split()
            top = b"\n".join(p.top(int(num), 0)[1])
            local[uidl] = MESSAGE_ID.search(top).group(1)
        p.quit()
        for uidl, mid in seen.items():
            self.assertEqual(local.get(uidl), mid, uidl)
