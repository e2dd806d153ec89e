"""The manual pages and config examples (doc/): the pages render without
groff warnings and name every migrate.conf key the parser knows and every
doveadm migrate command the plugin registers, so a key or a command cannot
be added without its documentation; the examples are accepted by
migrate-policyd -t, doveconf and postconf."""
import os
import re
import subprocess
import tempfile
import unittest

from harness import build
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


class DocsTest(unittest.TestCase):

    def test_pages_render_without_warnings(self):
        for name in PAGES:
            out = subprocess.run(["groff", "-man", "-ww", "-z", "-Tutf8",
                                  os.path.join(DOC, name)],
                                 capture_output=True, text=True,
                                 env=dict(os.environ, LC_ALL="C.UTF-8"))
            self.assertEqual((out.returncode, out.stderr), (0, ""), name)

    def config_keys(self):
        parser = source("common/migrate-config.c")
        tables = re.findall(r"static const struct key_def \w+\[\] = \{(.*?)\n\};",
                            parser, re.S)
        self.assertEqual(len(tables), 2)  # global and domain keys
        keys = set()
        for table in tables:
            keys |= set(re.findall(r"\b[GD][ENZ]?\((\w+)", table))
            keys |= set(re.findall(r'\{ "(\w+)"', table))
        self.assertGreater(len(keys), 50)
        return keys

    def test_every_config_key_documented(self):
        keys = self.config_keys()
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

    def test_example_migrate_conf(self):
        """Every key, and migrate-policyd accepts it."""
        path = os.path.join(DOC, "examples", "migrate.conf")
        with open(path) as f:
            present = set(re.findall(r"^(\w+)\s*=", f.read(), re.M))
        self.assertEqual(sorted(self.config_keys() - present), [])
        out = subprocess.run([build.policyd(), "-t", "-c", path],
                             capture_output=True, text=True)
        self.assertEqual((out.returncode, out.stdout.strip()),
                         (0, "%s: OK (1 domains)" % path), out.stderr)

    def test_example_dovecot_snippet(self):
        """doveconf reads a dovecot.conf that includes it."""
        with tempfile.TemporaryDirectory() as d:
            conf = os.path.join(d, "dovecot.conf")
            with open(conf, "w") as f:
                f.write("base_dir = %s\n!include %s\n" % (
                    d, os.path.join(DOC, "examples", "auth-migrate.conf.ext")))
            out = subprocess.run(["doveconf", "-c", conf, "-n"],
                                 capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stderr, "")
        self.assertIn("driver = migrate", out.stdout)
        self.assertIn("vsz_limit = 1 G", out.stdout)

    def test_example_postfix_lines(self):
        """postconf reads them without a warning."""
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(DOC, "examples", "postfix-main.cf")) as f:
                lines = f.read()
            with open(os.path.join(d, "main.cf"), "w") as f:
                f.write("compatibility_level = 3.6\n" + lines)
            open(os.path.join(d, "master.cf"), "w").close()
            out = subprocess.run(["postconf", "-c", d, "-n"],
                                 capture_output=True, text=True)
        self.assertEqual((out.returncode, out.stderr), (0, ""))
        self.assertIn("transport_maps = socketmap:unix:private/migrate-map:transport",
                      out.stdout)
