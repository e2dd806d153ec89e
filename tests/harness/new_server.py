"""The new server: a private Dovecot loading dovecot-migrate's modules from
the build tree (see modules.py), with the `migrate` passdb and userdb in
its chains, as README "Configure Dovecot" tells an operator."""
import os
import pwd

from . import migrate_conf
from .dovecot import DovecotServer, hash_password
from .modules import ModuleStage


def _dovecot_owned(path, mode):
    """The auth process runs as user dovecot: what it opens must be its."""
    pw = pwd.getpwnam("dovecot")
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, mode)
    return path


def make_vault_key(path):
    with open(path, "wb") as f:
        f.write(os.urandom(32))
    return _dovecot_owned(path, 0o600)


def new_server(root, operator_users=None, domains=None, settings=None,
               name="new", legacy=None, extra_conf="",
               protocols=("imap", "pop3", "lmtp"), separator=None,
               installed=False):
    """operator_users: the operator's own accounts (a passwd-file passdb
    and userdb, before ours in the chains). domains/settings: migrate.conf
    contents (store, vault key, log and store_user are filled in). legacy:
    a DovecotServer whose CA the new server trusts. installed: our modules
    are Dovecot's installed ones (the package test), not the build tree's.
    Returns a DovecotServer, not started, with .migrate_conf set."""
    base = os.path.join(root, name)
    os.makedirs(base, exist_ok=True)
    stage = None if installed else ModuleStage(os.path.join(base, "modules"))
    store = os.path.join(base, "store")
    os.makedirs(store, exist_ok=True)
    _dovecot_owned(store, 0o755)
    # the migration log: the auth process appends to it as well, so it is
    # the store user's (as the package creates it)
    log = os.path.join(base, "migrate.log")
    open(log, "a").close()
    _dovecot_owned(log, 0o640)
    conf = {"store": store,
            "store_user": "dovecot",
            "vault_key": make_vault_key(os.path.join(base, "vault.key")),
            "log": log}
    conf.update(settings or {})
    conf_path = migrate_conf.write(os.path.join(base, "migrate.conf"),
                                   conf, domains)
    users_file = os.path.join(base, "operator.passwd")
    # The operator's passdb comes first: its users never reach ours, and
    # ours never asks the legacy server about a user it knows (see
    # passdb-migrate.c). A master passdb lets tests (the verifier) log in
    # as any user whose mail is here.
    passdb = """\
passdb {
  driver = passwd-file
  master = yes
  args = %(master)s
}
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT %(users)s
}
passdb {
  driver = migrate
  args = %(conf)s
}
""" % dict(conf=conf_path, users=users_file,
           master=os.path.join(base, "master.passwd"))
    home = os.path.join(base, "mail", "%u")
    userdb = """\
userdb {
  driver = passwd-file
  args = %(users)s
}
userdb {
  driver = migrate
  args = %(conf)s
  default_fields = uid=mail gid=mail home=%(home)s
}
""" % dict(conf=conf_path, users=users_file, home=home)
    # as an operator's server would: logins and LMTP recipients fold to
    # lower case, "+ext" selects the same user
    plugin = """
auth_username_format = %%Lu
recipient_delimiter = +
auth_debug = yes
# the account store is memory-mapped, and each password hash takes 16 MiB
service auth {
  vsz_limit = 1G
}
plugin {
  migrate_config = %s
}
""" % conf_path
    # the importer's imapc: sizes from RFC822.SIZE (else `mailbox status`
    # downloads every message to count bytes); host and credentials per
    # user come from the migrate userdb
    plugin += "imapc_features = rfc822.size fetch-headers\n"
    # the special-use folders, as Debian's 15-mailboxes.conf has them: where
    # legacy Sent, Drafts, Trash, Junk and Archive folders are merged
    plugin += """namespace inbox {
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Junk {
    special_use = \\Junk
  }
  mailbox Trash {
    special_use = \\Trash
  }
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Archive {
    special_use = \\Archive
  }
}
"""
    if legacy is not None:
        # the login proxy checks the legacy server's certificate
        plugin += "ssl_client_ca_file = %s\n" % legacy.tls["ca"]
    server = DovecotServer(root, name, operator_users or {},
                           extra_conf=plugin + extra_conf,
                           wrapper=stage.wrapper() if stage else None,
                           passdb_conf=passdb,
                           userdb_conf=userdb,
                           protocols=protocols, separator=separator)
    # a passwd-file serving both as passdb and userdb needs uid, gid and
    # home in each line (a missing uid reads as 0: "unknown user")
    mail = pwd.getpwnam("mail")
    with open(users_file, "w") as f:
        for user, password in (operator_users or {}).items():
            f.write("%s:%s:%d:%d::%s::\n" % (
                user, hash_password(password), mail.pw_uid, mail.pw_gid,
                home.replace("%u", user)))
    os.chmod(users_file, 0o644)
    os.chmod(server.conf, 0o600)  # it may hold the legacy master password
    server.migrate_conf = conf_path
    server.module_stage = stage
    server.store = store
    return server
