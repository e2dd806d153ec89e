"""Mail routing with a real Postfix: migrate-policyd's socketmaps and policy
service decide, per recipient, between LMTP into the new Dovecot (migrated
accounts) and the legacy MX (an smtp-sink), and make Postfix defer when the
store cannot answer."""
import time
import smtplib
import subprocess
import uuid

from harness import procs
from harness.new_server import new_server
from harness.policyd import PolicyDaemon
from harness.postfix import PostfixServer
from harness.smtp_sink import SmtpSink
from harness.testcase import ServerTestCase

DOMAIN = "example.test"
IDN_ACE = "xn--bcher-kva.example"


class RoutingTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.sink = self.own(SmtpSink(self.root)).start()
        domains = {DOMAIN: {"legacy_host": "127.0.0.1", "smtp_port": self.sink.port},
                   IDN_ACE: {"legacy_host": "127.0.0.1", "smtp_port": self.sink.port}}
        self.dovecot = self.own(new_server(self.root, {}, domains,
                                           protocols=("imap", "pop3", "lmtp")))
        self.dovecot.start()
        # one store for both sides: LMTP finds migrated accounts through
        # the migrate userdb
        self.daemon = self.own(PolicyDaemon(
            self.root, domains=domains, store_owner="dovecot",
            settings={"lmtp_transport": "lmtp:inet:127.0.0.1:%d" % self.dovecot.lmtp_port,
                      "store": self.dovecot.store}))
        self.daemon.store_account("migrated@" + DOMAIN, "migrated")
        self.daemon.store_account("waiting@" + DOMAIN, "queued")
        self.daemon.store_account("moving@" + DOMAIN, "cutover")
        self.daemon.store_account("jorg@" + IDN_ACE, "migrated")
        self.daemon.store_account("info@" + IDN_ACE, "importing")
        self.daemon.store_alias("sales@" + DOMAIN, "migrated@" + DOMAIN)
        self.daemon.start()
        extra = self.daemon.postfix_maps()
        # 127.0.0.1 is not in mynetworks: relaying is decided by
        # relay_domains and our maps, as for mail from the Internet
        extra.update({"mynetworks": "192.0.2.0/24",
                      "smtpd_relay_restrictions": "reject_unauth_destination"})
        self.postfix = self.own(PostfixServer(
            # Postfix 3.7 matches relay_domains on the domain as the client
            # wrote it: list the UTF-8 form beside the ACE one
            self.root, relay_domains="%s, %s, bücher.example" % (DOMAIN, IDN_ACE),
            main_cf_extra=extra))
        self.postfix.start()

    def send(self, recipients, smtputf8=False):
        """Sends one message; returns its unique token."""
        token = uuid.uuid4().hex
        msg = ("From: <sender@outside.test>\r\nSubject: routing %s\r\n\r\n"
               "token %s\r\n" % (token, token))
        with smtplib.SMTP("127.0.0.1", self.postfix.port, timeout=30) as s:
            options = ["SMTPUTF8"] if smtputf8 else []
            s.sendmail("sender@outside.test", recipients, msg.encode(), options)
        return token

    def wait_local(self, user, token):
        procs.wait_for(lambda: any(token.encode() in m for m in self.dovecot.inbox_messages(user)),
                       30, "delivery of %s to %s over LMTP" % (token, user))

    def sink_recipients(self, token):
        return [r for m in self.sink.messages() if token.encode() in m.data
                for r in m.recipients]

    def wait_sink(self, token, recipients):
        procs.wait_for(lambda: sorted(self.sink_recipients(token)) == sorted(recipients),
                       30, "legacy MX to receive %s for %s" % (token, recipients))

    def test_mixed_recipients_each_in_the_right_place(self):
        token = self.send(["migrated@" + DOMAIN, "waiting@" + DOMAIN,
                           "moving@" + DOMAIN])
        self.wait_local("migrated@" + DOMAIN, token)
        self.wait_sink(token, ["waiting@" + DOMAIN, "moving@" + DOMAIN])
        self.postfix.wait_queue_empty()
        # and nothing of it reached the wrong side
        self.assertEqual(self.dovecot.inbox_messages("waiting@" + DOMAIN), [])
        self.assertNotIn("migrated@" + DOMAIN, self.sink_recipients(token))

    def test_alias_extension_and_case_reach_the_account(self):
        token = self.send(["sales@" + DOMAIN, "Migrated+News@EXAMPLE.test"])
        procs.wait_for(lambda: sum(token.encode() in m for m in
                                   self.dovecot.inbox_messages("migrated@" + DOMAIN)) == 2,
                       30, "both copies in migrated's INBOX")
        self.assertEqual(self.sink_recipients(token), [])

    def test_unknown_recipient_relays_to_legacy_then_reject_after_reload(self):
        token = self.send(["nobody@" + DOMAIN])
        self.wait_sink(token, ["nobody@" + DOMAIN])
        self.daemon.write_config(unknown_recipients="reject")
        self.daemon.reload()
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            self.send(["nobody@" + DOMAIN])
        code, text = cm.exception.recipients["nobody@" + DOMAIN]
        self.assertEqual(code, 550)
        self.assertIn(b"5.1.1 <nobody@example.test>: Recipient address rejected: "
                      b"User unknown in a migrating domain", text)
        # known accounts and other domains are unaffected
        token = self.send(["waiting@" + DOMAIN])
        self.wait_sink(token, ["waiting@" + DOMAIN])
        self.assertIn("policy RCPT nobody@%s: 550 5.1.1" % DOMAIN, self.daemon.log_text())

    def test_idn_recipients_in_ace_form(self):
        token = self.send(["jorg@" + IDN_ACE, "info@" + IDN_ACE])
        procs.wait_for(lambda: any(token.encode() in m for m in
                                   self.dovecot.inbox_messages("jorg@" + IDN_ACE)),
                       30, "LMTP delivery to the migrated IDN account")
        self.wait_sink(token, ["info@" + IDN_ACE])

    def test_smtputf8_recipients_are_routed_by_their_account(self):
        """UTF-8 domains and local parts name the same accounts as their
        ACE forms. (Delivery itself needs SMTPUTF8 on the next hop: neither
        Dovecot 2.3's LMTP nor smtp-sink offers it, so Postfix bounces such
        mail there with 5.6.7; the routing decision is what we check.)"""
        self.send(["jorg@bücher.example", "info@bücher.example",
                   "jörg@" + IDN_ACE], smtputf8=True)
        log = self.daemon.log_text()
        self.assertIn("socketmap transport jorg@bücher.example: OK lmtp:inet:", log)
        self.assertIn("socketmap transport info@bücher.example: OK smtp:[127.0.0.1]:", log)
        # an unknown UTF-8 local part: the unknown policy (relay)
        self.assertIn("socketmap transport jörg@%s: OK smtp:[127.0.0.1]:" % IDN_ACE, log)

    def test_record_unreadable_mid_run_defers_then_delivers(self):
        rcpt = "migrated@" + DOMAIN
        self.daemon.store_corrupt(rcpt)
        # locally submitted, so it gets as far as the queue
        token = uuid.uuid4().hex
        subprocess.run(["/usr/sbin/sendmail", "-C", self.postfix.config_dir,
                        "-f", "a@outside.test", rcpt],
                       input=("Subject: %s\n\n%s\n" % (token, token)).encode(),
                       check=True, timeout=30)
        procs.wait_for(lambda: any(q.get("queue_name") in ("deferred", "maildrop")
                                   for q in self.postfix.queue()), 60, "queued, not delivered")
        time.sleep(2)
        self.assertEqual(self.dovecot.inbox_messages(rcpt), [])
        self.assertEqual(self.sink_recipients(token), [])
        self.assertIn("corrupt account record", self.daemon.log_text())
        # over SMTP meanwhile: a temporary refusal, never a bounce
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            self.send([rcpt])
        self.assertEqual(cm.exception.recipients[rcpt][0] // 100, 4)

        self.daemon.store_corrupt(rcpt, repair=True)
        # a message cleanup refused waits in maildrop for pickup's next
        # scan (at most 60 s); one left in deferred waits for a flush
        self.postfix.flush()
        procs.wait_for(lambda: any(token.encode() in m for m in self.dovecot.inbox_messages(rcpt)),
                       90, "delivery once the record is readable again")
        self.assertEqual(self.sink_recipients(token), [])

    def test_domain_outside_the_migration_is_not_relayed(self):
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            self.send(["someone@elsewhere.test"])
        code, _ = cm.exception.recipients["someone@elsewhere.test"]
        self.assertEqual(code, 554)


class StoreUnavailableTest(ServerTestCase):
    """Before the store exists (or while it cannot be read) every answer
    about a migrating domain is temporary: Postfix defers, and delivers to
    the right place once the store answers."""

    def test_deferred_then_delivered_locally(self):
        sink = self.own(SmtpSink(self.root)).start()
        domains = {DOMAIN: {"legacy_host": "127.0.0.1", "smtp_port": sink.port}}
        dovecot = self.own(new_server(self.root, {}, domains,
                                      protocols=("imap", "pop3", "lmtp")))
        dovecot.start()
        daemon = self.own(PolicyDaemon(
            self.root, domains=domains, store_owner="dovecot",
            settings={"lmtp_transport": "lmtp:inet:127.0.0.1:%d" % dovecot.lmtp_port,
                      "store": dovecot.store}))
        daemon.start()
        extra = daemon.postfix_maps()
        # without learnt aliases here: their map, also TEMP, would hold
        # the message in cleanup (maildrop) instead of the deferred queue
        del extra["virtual_alias_maps"]
        extra.update({"mynetworks": "192.0.2.0/24",
                      "smtpd_relay_restrictions": "reject_unauth_destination"})
        postfix = self.own(PostfixServer(self.root, relay_domains=DOMAIN,
                                         main_cf_extra=extra)).start()
        rcpt = "migrated@" + DOMAIN

        # over SMTP: refused for now with a temporary code, the sender retries
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as s:
                s.sendmail("a@outside.test", [rcpt], b"Subject: x\r\n\r\nx\r\n")
        code, text = cm.exception.recipients[rcpt]
        self.assertEqual(code, 451, text)

        # submitted locally (sendmail -> pickup): queued, then deferred
        token = uuid.uuid4().hex
        subprocess.run(["/usr/sbin/sendmail", "-C", postfix.config_dir,
                        "-f", "a@outside.test", rcpt],
                       input=("Subject: %s\n\n%s\n" % (token, token)).encode(),
                       check=True, timeout=30)

        def deferred():
            return any(q.get("queue_name") == "deferred" for q in postfix.queue())
        procs.wait_for(deferred, 60, "the message to be deferred")
        reasons = [r.get("delay_reason", "") for q in postfix.queue()
                   for r in q.get("recipients", [])]
        # qmgr's resolver got our TEMP: deferred, not bounced
        self.assertEqual(reasons, ["address resolver failure"])
        self.assertEqual(sink.messages(), [])

        # the store answers again: the queued message goes to the right place
        daemon.store_account(rcpt, "migrated")
        postfix.flush()
        procs.wait_for(lambda: any(token.encode() in m for m in dovecot.inbox_messages(rcpt)),
                       60, "local delivery after the store came back")
        self.assertEqual(sink.messages(), [])
        self.assertIn("readable again", daemon.log_text())
        # and SMTP is accepted again (another spelling of the address: an
        # smtpd process remembers its last resolver answer, the 451 above)
        again = "migrated+again@" + DOMAIN
        with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as s:
            self.assertEqual(s.sendmail("a@outside.test", [again], b"Subject: y\r\n\r\ny\r\n"), {})

    def test_policy_service_down_defers_at_rcpt(self):
        daemon = PolicyDaemon(self.root, domains={DOMAIN: {"legacy_host": "127.0.0.1"}})
        # never started: Postfix finds nothing listening on the policy
        # socket (the maps are left out, else they would answer first)
        extra = {"smtpd_recipient_restrictions":
                 daemon.postfix_maps()["smtpd_recipient_restrictions"]}
        extra.update({"mynetworks": "192.0.2.0/24",
                      "smtpd_relay_restrictions": "reject_unauth_destination"})
        postfix = self.own(PostfixServer(self.root, relay_domains=DOMAIN,
                                         main_cf_extra=extra)).start()
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            with smtplib.SMTP("127.0.0.1", postfix.port, timeout=60) as s:
                s.sendmail("a@outside.test", ["migrated@" + DOMAIN], b"Subject: x\r\n\r\nx\r\n")
        code, text = cm.exception.recipients["migrated@" + DOMAIN]
        # DEFER_IF_PERMIT answers with Postfix's defer_code
        self.assertEqual(code, 450)
        self.assertIn(b"4.3.0 <migrated@example.test>: Recipient address rejected: "
                      b"Migration routing unavailable", text)


class VerifyPolicyTest(ServerTestCase):
    """unknown_recipients = verify: Postfix probes the legacy MX for
    recipients the store does not know, and answers from its cache."""

    def verified_send(self, postfix, rcpt):
        """Sends until the probe has an answer: the first RCPTs may get
        450 'address verification in progress'. Returns the final code."""
        deadline = time.monotonic() + 30
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as s:
                    s.sendmail("a@outside.test", [rcpt], b"Subject: v\r\n\r\nv\r\n")
                return 250
            except smtplib.SMTPRecipientsRefused as e:
                code, _ = e.recipients[rcpt]
                if code != 450 or time.monotonic() > deadline:
                    return code
                time.sleep(1)

    def start_servers(self, sink):
        domains = {DOMAIN: {"legacy_host": "127.0.0.1", "smtp_port": sink.port}}
        daemon = self.own(PolicyDaemon(self.root, domains=domains,
                                       settings={"unknown_recipients": "verify"}))
        daemon.store_account("known@" + DOMAIN, "queued")
        daemon.start()
        extra = daemon.postfix_maps()
        extra.update({"mynetworks": "192.0.2.0/24",
                      "smtpd_relay_restrictions": "reject_unauth_destination",
                      "address_verify_poll_delay": "1s",
                      # Postfix's default is 450: refuse for good once the
                      # legacy MX said no (the README's verify lines)
                      "unverified_recipient_reject_code": "550"})
        return daemon, self.own(PostfixServer(self.root, relay_domains=DOMAIN,
                                               main_cf_extra=extra)).start()

    def test_unknown_recipient_verified_by_the_legacy_mx(self):
        sink = self.own(SmtpSink(self.root)).start()
        daemon, postfix = self.start_servers(sink)
        self.assertEqual(self.verified_send(postfix, "unknown@" + DOMAIN), 250)
        procs.wait_for(lambda: any("unknown@" + DOMAIN in m.recipients
                                   for m in sink.messages()), 30, "delivery")
        self.assertIn("policy RCPT unknown@%s: reject_unverified_recipient" % DOMAIN,
                      daemon.log_text())

    def test_unknown_recipient_refused_by_the_legacy_mx(self):
        sink = self.own(SmtpSink(self.root, reject="RCPT")).start()
        daemon, postfix = self.start_servers(sink)
        self.assertEqual(self.verified_send(postfix, "unknown@" + DOMAIN), 550)
        # known accounts are not probed
        self.assertIn("policy RCPT known@%s: DUNNO" % DOMAIN,
                      self.probe_known(postfix, daemon))

    def probe_known(self, postfix, daemon):
        with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as s:
            s.ehlo()
            s.mail("a@outside.test")
            s.rcpt("known@" + DOMAIN)
            s.rset()
        return daemon.log_text()
