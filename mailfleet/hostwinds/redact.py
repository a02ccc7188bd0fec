"""Strip secrets (`password`, `configkey`) from any JSON-shaped value, at every depth."""

from __future__ import annotations

from typing import Any

from mailfleet.hostwinds.contract import SECRET_FIELDS

_SECRET_KEYS = frozenset(k.lower() for k in SECRET_FIELDS)


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower() in _SECRET_KEYS


def redact(value: Any) -> Any:
    """Return a copy of `value` with every secret key removed from every nested dict."""
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items() if not is_secret_key(k)}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
