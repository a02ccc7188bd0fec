"""Passwords for new mailboxes, from the ``secrets`` module (a CSPRNG)."""

from __future__ import annotations

import secrets

__all__ = ["generate_password"]

# No look-alikes (0/O, 1/l/I) and no shell/quote characters: people type these from a screen.
_LOWER = "abcdefghijkmnopqrstuvwxyz"
_UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_DIGITS = "23456789"
_SYMBOLS = "-_.+=%"
_ALPHABET = _LOWER + _UPPER + _DIGITS + _SYMBOLS


def generate_password(length: int = 20) -> str:
    """Return a random password of ``length`` (16-128) with at least one of each character class.

    About 6 bits per character: 20 characters give over 110 bits.
    """
    if not 16 <= length <= 128:
        raise ValueError("password length must be between 16 and 128")
    while True:
        password = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if (
            any(c in _LOWER for c in password)
            and any(c in _UPPER for c in password)
            and any(c in _DIGITS for c in password)
            and any(c in _SYMBOLS for c in password)
        ):
            return password


