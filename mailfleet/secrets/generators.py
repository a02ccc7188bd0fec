"""Generators for every kind of secret mailfleet keeps.

Value generators return one string; field generators return the fields of one secret path and are
what `store.rotate()`, `create_if_missing()` and the lookup's `generate=` option take.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from .errors import SecretsConfigError

# Letters and digits only: safe unquoted in mailu.env, YAML, shell and URLs.
ALPHANUMERIC = string.ascii_letters + string.digits


def random_string(length: int, alphabet: str = ALPHANUMERIC) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def admin_password(length: int = 24) -> str:
    """Letters and digits, at least one upper case, one lower case and one digit."""
    if length < 12:
        raise ValueError("admin passwords are at least 12 characters")
    while True:
        candidate = random_string(length)
        if (any(c.islower() for c in candidate) and any(c.isupper() for c in candidate)
                and any(c.isdigit() for c in candidate)):
            return candidate


def mailu_secret_key() -> str:
    """Mailu's SECRET_KEY: its setup generates 16 random characters; we use 32 (16 bytes, hex)."""
    return secrets.token_hex(16)


def api_token() -> str:
    """A bearer token: 256 random bits, 43 URL-safe characters."""
    return secrets.token_urlsafe(32)


def restic_password() -> str:
    return secrets.token_urlsafe(32)


def ssh_key_pair(comment: str = "mailfleet") -> dict[str, str]:
    """ed25519 key pair: private key in OpenSSH format, public key as an authorized_keys line."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode("ascii")
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode("ascii")
    return {"private_key": private, "public_key": f"{public} {comment}"}


def acme_account_key() -> dict[str, str]:
    """EC P-256 private key, PKCS#8 PEM (what community.crypto's acme_* modules accept)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return {"private_key": pem}


def mailu_secrets() -> dict[str, str]:
    return {"secret_key": mailu_secret_key(), "api_token": api_token(), "admin_password": admin_password()}


def mailu_api_token() -> dict[str, str]:
    """Only the API token: rotating with this keeps SECRET_KEY and the admin password."""
    return {"api_token": api_token()}


def restic_secrets() -> dict[str, str]:
    return {"password": restic_password()}


def controller_secrets() -> dict[str, str]:
    """The passwords worker machines reach the controller's Redis and PostgreSQL with (letters and
    digits: they go into URLs as they are)."""
    return {"redis_password": random_string(43), "database_password": random_string(43)}


FieldGenerator = Callable[[], dict[str, str]]

# Names usable from Ansible (lookup `generate=`) and the CLI.
GENERATORS: dict[str, FieldGenerator] = {
    "ssh_key": ssh_key_pair,
    "mailu": mailu_secrets,
    "mailu_api_token": mailu_api_token,
    "restic": restic_secrets,
    "acme_account": acme_account_key,
    "controller": controller_secrets,
}


def generator_by_name(name: str) -> FieldGenerator:
    try:
        return GENERATORS[name]
    except KeyError:
        known = ", ".join(sorted(GENERATORS))
        raise SecretsConfigError(f"unknown generator {name!r}; known: {known}") from None
