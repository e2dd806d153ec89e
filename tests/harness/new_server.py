"""The new server: a private Dovecot loading dovecot-migrate's modules from
the build tree (see modules.py), with the `migrate` passdb in its chain."""
import os

from . import migrate_conf
from .dovecot import DovecotServer
from .modules import ModuleStage


def new_server(root, operator_users=None, domains=None, settings=None,
               name="new", legacy=None, extra_conf="", protocols=("imap", "pop3")):
    """operator_users: the operator's own accounts (passwd-file, after ours
    in the chain). domains/settings: migrate.conf contents. legacy: a
    DovecotServer whose master user the new server's imapc (dsync) uses.
    Returns a started-able DovecotServer with .migrate_conf set."""
    base = os.path.join(root, name)
    os.makedirs(base, exist_ok=True)
    stage = ModuleStage(os.path.join(base, "modules"))
    conf = {"store": os.path.join(base, "store"),
            "log": os.path.join(base, "migrate.log")}
    conf.update(settings or {})
    conf_path = migrate_conf.write(os.path.join(base, "migrate.conf"),
                                   conf, domains)
    users_file = os.path.join(base, "operator.passwd")
    # the migrate passdb comes first: it answers "unknown" for accounts it
    # has no record of, and the chain goes on to the operator's passdb.
    # Before it, a master passdb lets tests (the verifier) log in as any
    # user whose mail is here.
    passdb = """\
passdb {
  driver = passwd-file
  master = yes
  args = %(master)s
}
passdb {
  driver = migrate
  args = %(conf)s
}
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT %(users)s
}
""" % dict(conf=conf_path, users=users_file,
           master=os.path.join(base, "master.passwd"))
    # every user of a migrating domain has a home here, known or not yet
    userdb = """\
userdb {
  driver = static
  args = uid=mail gid=mail home=%s/%%u allow_all_users=yes
}
""" % os.path.join(base, "mail")
    # as an operator's server would: logins and LMTP recipients fold to
    # lower case, "+ext" selects the same user
    plugin = """
auth_username_format = %%Lu
recipient_delimiter = +
auth_debug = yes
plugin {
  migrate_config = %s
}
""" % conf_path
    if legacy is not None:
        # dsync's imapc: the legacy master user logs in as each user, so no
        # user password is needed, and none is ever on a command line
        plugin += """
imapc_host = 127.0.0.1
imapc_port = %d
imapc_user = %%u
imapc_master_user = %s
imapc_password = %s
imapc_features = rfc822.size fetch-headers
""" % (legacy.port_imap, legacy.master_user, legacy.master_password)
    server = DovecotServer(root, name, operator_users or {},
                           extra_conf=plugin + extra_conf,
                           wrapper=stage.wrapper(), passdb_conf=passdb,
                           userdb_conf=userdb,
                           protocols=protocols)
    # DovecotServer writes the users into its own passwd-file; point ours
    # at the same hashes
    os.symlink(server.passwd_file, users_file)
    os.chmod(server.conf, 0o600)  # it may hold the legacy master password
    server.migrate_conf = conf_path
    server.module_stage = stage
    return server
