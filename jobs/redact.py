"""Removing secrets from event data before it is stored.

Two nets: values under secret-looking keys are replaced, and every known secret value (the
tenant's secrets, read from the store by the worker) is cut out of every string, line by line
for multi-line secrets such as private keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from jobs.constants import REDACTED

SECRET_KEY_PATTERN = re.compile(
    r"pass(word|wd|phrase)?|secret|token|private_?key|api_?key|configkey|authorization|credential|raw_password",
    re.IGNORECASE,
)
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
                    if isinstance(key, str)
                    and SECRET_KEY_PATTERN.search(key)
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
