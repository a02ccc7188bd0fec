"""What is a secret, and taking secrets out of what is stored or shown.

- ``is_secret_name``: the one rule for "does this name (a key, a variable, a field) hold a
  secret": the run events' redaction and the site variables check ask it.
- ``Redactor``: event data before it is stored. Two nets: values under secret-named keys are
  replaced, and every known secret value (the tenant's secrets, read from the store by the worker)
  is cut out of every string, line by line for multi-line secrets such as private keys.
  ``Redactor.json`` gives the stored JSON text: most events hold neither a secret-like name nor a
  known secret, which one search of their encoded text tells, and are encoded once, not walked.
- ``without_keys``: an outside API's answer without the fields its contract says carry secrets
  (Hostwinds' ``password``/``configkey``, Mailu's ``password``/``raw_password``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Collection, Iterable
from typing import Any

REDACTED = "********"
_SECRET_NAME_PARTS = (
    r"pass(word|wd|phrase)?", "secret", "token", r"private_?key", r"api_?key", "configkey",
    "authorization", "credential", "raw_password", "key_content",
)
_SECRET_NAME = re.compile("|".join(_SECRET_NAME_PARTS), re.IGNORECASE)
# What every secret-like name holds, lower-cased: each part's leading letters.
_SECRET_CUES = tuple(sorted({re.match(r"[a-z]+", part)[0] for part in _SECRET_NAME_PARTS}))  # type: ignore[index]


_STORE_LOOKUP = re.compile(r"^\{\{\s*lookup\(\s*['\"]mailfleet\.fleet\.secret['\"]")


def is_store_lookup(value: object) -> bool:
    """True when a value is a template that reads the secrets store at run time (Ansible's lookup
    ``mailfleet.fleet.secret``), not a secret itself."""
    return isinstance(value, str) and _STORE_LOOKUP.match(value.strip()) is not None


def is_secret_name(name: object) -> bool:
    """True when a key, variable or field of this name holds a secret value."""
    return isinstance(name, str) and _secret_str(name)


@functools.lru_cache(maxsize=4096)
def _secret_str(name: str) -> bool:
    # Event data repeats the same few hundred keys: the search runs once per name.
    return _SECRET_NAME.search(name) is not None


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


def _nothing_to_redact(text: str, encoded_fragments: Collection[str]) -> bool:
    """True when JSON text (ASCII-encoded) holds no secret-like name and no known secret. Only
    plain ASCII is judged (IGNORECASE also folds a few non-ASCII letters onto ASCII ones): a
    ``\\u`` escape sends the text to the walk, as does any cue, even inside an ordinary value."""
    if "\\u" in text:
        return False
    lowered = text.lower()
    return not any(cue in lowered for cue in _SECRET_CUES) and not any(f in text for f in encoded_fragments)


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
        # As they read inside JSON text: a string is encoded character by character, so a value
        # holding a fragment encodes to text holding the fragment's encoding.
        self._encoded_fragments = [json.dumps(f)[1:-1] for f in self._fragments]

    def text(self, value: str) -> str:
        for fragment in self._fragments:
            if fragment in value:
                value = value.replace(fragment, REDACTED)
        return value

    def json(self, value: Any) -> tuple[str, Any]:
        """``value`` redacted as by ``data``, and its JSON text. Encoded once when the text shows
        nothing to take out (no secret-like name in it, no known secret); else walked, then encoded."""
        text = json.dumps(value, default=str)
        if _nothing_to_redact(text, self._encoded_fragments):
            return text, value
        value = self.data(value)
        return json.dumps(value, default=str), value

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
