"""Password and API-token hashing: the only place that knows how credentials are stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

MIN_PASSWORD_LENGTH = 12
API_TOKEN_PREFIX = "mft_"  # noqa: S105 - a marker that makes leaked tokens easy to find, not a secret


def hash_password(password: str) -> str:
    return generate_password_hash(password)  # scrypt, salted


def check_password(password_hash: str, password: str) -> bool:
    return check_password_hash(password_hash, password)


def token_hash(token: str) -> str:
    """Tokens are 256-bit random, so one SHA-256 is enough (no salt/stretching needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_api_token() -> tuple[str, str, str]:
    """(token shown once, hash to store, hint to show later)."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token), token[: len(API_TOKEN_PREFIX) + 4]


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
