"""The one interface every backend implements, and the behaviour they share.

Backends implement five primitives (`_read`, `_write`, `list`, `delete`, `versions`) and
`run_credentials` (what one tenant's run gets instead of the store's own credentials); validation,
`get`, `get_field`, `put` and `rotate` live here so both backends behave the same way.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InvalidSecretData, SecretNotFound, SecretsConflict
from .paths import validate_field, validate_path, validate_prefix

if TYPE_CHECKING:
    from .scope import RunScope

log = logging.getLogger("mailfleet.secrets")

Generator = Callable[[], Mapping[str, str]]


@dataclass(frozen=True)
class SecretVersion:
    """One stored version of a secret. `repr` never shows the data."""

    version: int
    data: dict[str, str]

    def __repr__(self) -> str:
        return f"SecretVersion(version={self.version}, fields={sorted(self.data)})"


@dataclass(frozen=True)
class VersionInfo:
    """Metadata of one version, as KV v2 reports it (no data)."""

    version: int
    created_time: str
    deleted: bool = False
    destroyed: bool = False


def validate_data(data: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(data, Mapping) or not data:
        raise InvalidSecretData("secret data must be a non-empty mapping of field name to string")
    clean: dict[str, str] = {}
    for field, value in data.items():
        validate_field(field)
        if not isinstance(value, str):
            # name the field and the type, never the value
            raise InvalidSecretData(f"field {field!r} must be a string, not {type(value).__name__}")
        clean[field] = value
    return clean


class SecretStore(ABC):
    """get / get_field / put / list / delete / versions / rotate over one backend."""

    backend: str = "abstract"

    # -- primitives -----------------------------------------------------------------------------
    @abstractmethod
    def _read(self, path: str, version: int | None) -> SecretVersion:
        """Return the given (default: latest) version; raise SecretNotFound if absent."""

    @abstractmethod
    def _write(self, path: str, data: dict[str, str], cas: int | None) -> int:
        """Store a new version; with `cas`, only if the current version equals it (0: must not exist).

        Return the new version number; raise SecretsConflict when `cas` does not match."""

    @abstractmethod
    def _list(self, prefix: str) -> list[str]:
        """Full paths of every secret under `prefix` ('' or a valid path), recursively."""

    @abstractmethod
    def _delete(self, path: str) -> None:
        """Remove the path and all its versions; raise SecretNotFound if absent."""

    @abstractmethod
    def _versions(self, path: str) -> list[VersionInfo]:
        """Metadata of the kept versions, oldest first; raise SecretNotFound if absent."""

    @abstractmethod
    def run_credentials(
        self, scope: RunScope, directory: Path, ttl: int
    ) -> AbstractContextManager[dict[str, str]]:
        """Credentials (files in `directory`) reaching only `scope`'s paths, valid until the context
        exits (at most `ttl` seconds); yields the environment that names them (see `scope`)."""

    # -- shared behaviour -----------------------------------------------------------------------
    def get(self, path: str, version: int | None = None) -> dict[str, str]:
        return dict(self.read(path, version).data)

    def read(self, path: str, version: int | None = None) -> SecretVersion:
        """Like get(), but also tells which version was read (what rotate() and CAS need)."""
        validate_path(path)
        if version is not None and (not isinstance(version, int) or version < 1):
            raise InvalidSecretData("version must be a positive integer")
        return self._read(path, version)

    def get_field(self, path: str, field: str, version: int | None = None) -> str:
        validate_field(field)
        data = self.get(path, version)
        if field not in data:
            raise SecretNotFound(f"secret {path!r} has no field {field!r} (fields: {sorted(data)})")
        return data[field]

    def exists(self, path: str) -> bool:
        try:
            self.read(path)
        except SecretNotFound:
            return False
        return True

    def put(self, path: str, data: Mapping[str, str], cas: int | None = None) -> int:
        """Write a new version (all fields replaced); return its number.

        `cas=0` writes only if the path does not exist yet; `cas=N` only if the latest version is N.
        """
        validate_path(path)
        clean = validate_data(data)
        if cas is not None and (not isinstance(cas, int) or cas < 0):
            raise InvalidSecretData("cas must be a non-negative integer")
        version = self._write(path, clean, cas)
        log.info("secret written: backend=%s path=%s version=%d", self.backend, path, version)
        return version

    def rotate(self, path: str, generator: Generator) -> dict[str, str]:
        """Replace the fields `generator()` returns, keep the others, store it as a new version.

        Check-and-set against the version read, so a concurrent rotation makes this one fail
        (SecretsConflict) instead of silently overwriting it. Returns the new data.
        """
        validate_path(path)
        try:
            current = self._read(path, None)
            base, cas = current.data, current.version
        except SecretNotFound:
            base, cas = {}, 0
        fresh = validate_data(generator())
        new = {**base, **fresh}
        version = self.put(path, new, cas=cas)
        log.info("secret rotated: backend=%s path=%s fields=%s version=%d",
                 self.backend, path, sorted(fresh), version)
        return new

    def create_if_missing(self, path: str, generator: Generator) -> bool:
        """Store `generator()` at `path` unless it exists. True if this call created it.

        Safe against a concurrent creator: the loser of the check-and-set keeps the winner's value.
        """
        validate_path(path)
        if self.exists(path):
            return False
        try:
            self.put(path, generator(), cas=0)
        except SecretsConflict:
            return False
        return True

    def delete(self, path: str) -> None:
        """Remove the path and all its versions for good (KV v2 "delete metadata")."""
        self._delete(validate_path(path))
        log.info("secret deleted: backend=%s path=%s", self.backend, path)

    def versions(self, path: str) -> list[VersionInfo]:
        """Metadata of the kept versions, oldest first (no data)."""
        return self._versions(validate_path(path))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend={self.backend}>"

    # last in the class body: a method named `list` would shadow the builtin in later annotations
    def list(self, prefix: str = "") -> list[str]:
        """Full paths of every secret below the folder `prefix` (recursively), sorted; [] if none.

        `list("tenants/acme")` gives "tenants/acme/mailu", ...; a secret's own path is not a folder."""
        return sorted(self._list(validate_prefix(prefix)))
