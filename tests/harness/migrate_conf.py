"""Writing migrate.conf files for tests (format: doc/DESIGN.md)."""
import os


def write(path, settings=None, domains=None):
    """settings: {key: value} globals; domains: {name: {key: value}}."""
    lines = ["# written by the dovecot-migrate test harness"]
    for key, value in (settings or {}).items():
        lines.append("%s = %s" % (key, value))
    for name, keys in (domains or {}).items():
        lines.append("")
        lines.append("[domain %s]" % name)
        for key, value in keys.items():
            lines.append("%s = %s" % (key, value))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o644)
    return path
