"""The manual pages (doc/): they render without groff warnings, and they
name every migrate.conf key the parser knows and every doveadm migrate
command the plugin registers, so a key or a command cannot be added
without its documentation."""
import os
import re
import subprocess
import unittest

from harness.build import REPO

DOC = os.path.join(REPO, "doc")
PAGES = ["migrate.conf.5", "doveadm-migrate.1", "migrate-policyd.8",
         "dovecot-migrate.7"]


def page_text(name):
    """The page as a reader sees it (groff's hyphen escapes undone)."""
    with open(os.path.join(DOC, name), encoding="utf-8") as f:
        return f.read().replace("\\-", "-")


def source(relpath):
    with open(os.path.join(REPO, relpath), encoding="utf-8") as f:
        return f.read()


class ManualPagesTest(unittest.TestCase):

    def test_pages_render_without_warnings(self):
        for name in PAGES:
            out = subprocess.run(["groff", "-man", "-ww", "-z", "-Tutf8",
                                  os.path.join(DOC, name)],
                                 capture_output=True, text=True,
                                 env=dict(os.environ, LC_ALL="C.UTF-8"))
            self.assertEqual((out.returncode, out.stderr), (0, ""), name)

    def test_every_config_key_documented(self):
        parser = source("common/migrate-config.c")
        tables = re.findall(r"static const struct key_def \w+\[\] = \{(.*?)\n\};",
                            parser, re.S)
        self.assertEqual(len(tables), 2)  # global and domain keys
        keys = set()
        for table in tables:
            keys |= set(re.findall(r"\b[GD][ENZ]?\((\w+)", table))
            keys |= set(re.findall(r'\{ "(\w+)"', table))
        self.assertGreater(len(keys), 50)
        text = page_text("migrate.conf.5")
        missing = [k for k in sorted(keys)
                   if not re.search(r"^\.(B|BR) .*\b%s\b" % k, text, re.M)]
        self.assertEqual(missing, [])

    def test_every_doveadm_command_documented(self):
        commands = re.findall(r'\.name = "migrate ([\w-]+)"',
                              source("dovecot-plugin/doveadm/doveadm-migrate.c"))
        self.assertGreater(len(commands), 15)
        text = page_text("doveadm-migrate.1")
        missing = [c for c in commands
                   if not re.search(r'^\.BR? "?%s\b' % re.escape(c), text, re.M)]
        self.assertEqual(missing, [])
