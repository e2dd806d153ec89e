"""Where the build tree under test is, and the files it produced."""
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_dir():
    """The configured build tree: $MIGRATE_BUILD_DIR, else <repo>/build
    (where scripts/test builds)."""
    return os.environ.get("MIGRATE_BUILD_DIR", os.path.join(REPO, "build"))


def built(relpath):
    """Path of a build product, raising a clear error if it is missing."""
    path = os.path.join(build_dir(), relpath)
    if not os.path.exists(path):
        raise FileNotFoundError("%s not built (run scripts/test, or set "
                                "MIGRATE_BUILD_DIR)" % path)
    return path


def auth_module():
    return built("dovecot-plugin/auth/.libs/libauthdb_migrate.so")


def doveadm_module():
    return built("dovecot-plugin/doveadm/.libs/lib10_doveadm_migrate_plugin.so")


def pace_library():
    """The bandwidth cap preloaded into the worker's children; installed
    in dovecot-migrate/ under the doveadm module dir."""
    return built("dovecot-plugin/doveadm/.libs/migrate-pace.so")


def policyd():
    return built("postfix-policy/migrate-policyd")


def store_fixture():
    return built("tests/store-fixture")
