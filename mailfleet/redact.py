"""What is a secret, and taking secrets out of what is stored or shown.

- ``is_secret_name``: the one rule for "does this name (a key, a variable, a field) hold a
  secret": the run events' redaction and the site variables check ask it.
- ``Redactor``: event data before it is stored. Two nets: values under secret-named keys are
  replaced, and every known secret value (the tenant's secrets, read from the store by the worker)
  is cut out of every string, line by line for multi-line secrets such as private keys.
- ``without_keys``: an outside API's answer without the fields its contract says carry secrets
  (Hostwinds' ``password``/``configkey``, Mailu's ``password``/``raw_password``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any

REDACTED = "********"
_SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?|secret|token|private_?key|api_?key|configkey|authorization|credential"
    r"|raw_password|key_content",
    re.IGNORECASE,
)


def is_secret_name(name: object) -> bool:
    """True when a key, variable or field of this name holds a secret value."""
    return isinstance(name, str) and _SECRET_NAME.search(name) is not None


def without_keys(value: Any, keys: Collection[str]) -> Any:
    """A copy of a JSON-shaped ``value`` with every key in ``keys`` (any case) removed, at every depth."""
    lowered = {k.lower() for k in keys}
    if isinstance(value, dict):
        return {
            k: without_keys(v, keys)
            for k, v in value.items()
            if not (isinstance(k, str) and k.lower() in lowered)
        }
    if isinstance(value, list | tuple):
        return [without_keys(v, keys) for v in value]
    return value


MIN_SECRET_FRAGMENT = 12


class Redactor:
    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        fragments: set[str] = set()
        for value in secret_values:
            if not value:
                continue
            fragments.add(value)
            fragments.update(
                line.strip() for line in value.splitlines() if len(line.strip()) >= MIN_SECRET_FRAGMENT
            )
        # Longest first, so a whole key is replaced before its lines are.
        self._fragments = sorted((f for f in fragments if len(f) >= 6), key=len, reverse=True)

    def text(self, value: str) -> str:
        for fragment in self._fragments:
            if fragment in value:
                value = value.replace(fragment, REDACTED)
        return value

    def data(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: (
                    REDACTED
                    if is_secret_name(key)
                    and item not in (None, "", [], {})
                    else self.data(item)
                )
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value
