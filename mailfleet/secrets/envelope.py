"""Whole-file authenticated encryption for the local store (AES-256-GCM).

File layout: MAGIC (6 bytes) | key id (8 bytes) | nonce (12 bytes) | ciphertext + 16-byte tag.

Why the whole file and not one record at a time: the paths (tenant names, what secrets exist) are
hidden too, and the tag covers everything at once, so records cannot be swapped, dropped or
moved between paths undetected. The store is small (kilobytes per tenant), so re-encrypting it on
every write costs microseconds.

Two keys are derived from the master key with HKDF-SHA256: one encrypts, the other only yields a
key id stored in the header. A mismatching id gives a clear "wrong master key" error instead of a
bare authentication failure. The header is the AEAD's associated data, so it cannot be changed
without detection either. A fresh random 96-bit nonce is used per write. Not detected: replacing
the file with an OLDER genuine copy (rollback); keep backups of the file and key apart.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import SecretsKeyError, SecretsTampered

MAGIC = b"MFSS\x00\x01"
KEY_ID_LEN = 8
NONCE_LEN = 12
HEADER_LEN = len(MAGIC) + KEY_ID_LEN
MIN_LEN = HEADER_LEN + NONCE_LEN + 16


def _derive(master_key: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(master_key)


def key_id(master_key: bytes) -> bytes:
    return _derive(master_key, b"mailfleet secrets key id v1", KEY_ID_LEN)


def seal(master_key: bytes, plaintext: bytes) -> bytes:
    header = MAGIC + key_id(master_key)
    nonce = os.urandom(NONCE_LEN)
    aead = AESGCM(_derive(master_key, b"mailfleet secrets aes-256-gcm v1", 32))
    return header + nonce + aead.encrypt(nonce, plaintext, header)


def open_sealed(master_key: bytes, blob: bytes, where: str) -> bytes:
    if len(blob) < MIN_LEN or not blob.startswith(MAGIC):
        raise SecretsTampered(
            f"secrets store {where} is not a mailfleet store file or is truncated ({len(blob)} bytes)"
        )
    header = blob[:HEADER_LEN]
    if header[len(MAGIC):] != key_id(master_key):
        raise SecretsKeyError(
            f"secrets store {where} was written with a different master key (or its header was "
            "modified): check MAILFLEET_MASTER_KEY / MAILFLEET_MASTER_KEY_FILE"
        )
    nonce = blob[HEADER_LEN:HEADER_LEN + NONCE_LEN]
    aead = AESGCM(_derive(master_key, b"mailfleet secrets aes-256-gcm v1", 32))
    try:
        return aead.decrypt(nonce, blob[HEADER_LEN + NONCE_LEN:], header)
    except InvalidTag:
        raise SecretsTampered(
            f"secrets store {where} failed authentication: it was modified or corrupted after it "
            "was written; restore it from a backup"
        ) from None
