"""The local testbed: real hosts (systemd-nspawn), BIND, Pebble, Redis, and doubles of outside APIs.

Tests and `make demo` share it. Nothing here is part of the product that runs in production.
"""
