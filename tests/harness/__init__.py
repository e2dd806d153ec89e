"""Test harness for dovecot-migrate: private servers on 127.0.0.1.

Every server here runs with its own temporary config dir, base_dir, ports and
logs, and is stopped by PID (its whole process group) even when a test fails.
"""
