"""The local backend: one encrypted file, versioned like Vault's KV v2.

- Encryption: see `envelope` (whole file, AES-256-GCM, key from `masterkey`).
- Concurrency: writers take an exclusive `flock` on a side file (`<store>.lock`) for the whole
  read-modify-write, so the web app, workers and Ansible lookups can write at once without losing
  updates. Readers take no lock: a write is a new file renamed over the old one, so a reader sees
  either the old or the new store, never half of one.
- Durability: temp file in the same directory, fsync, rename, fsync of the directory.
- Modes: the store, lock and key files are 0600; directories the store creates are 0700.
- Versions: each put adds a version; the newest `max_versions` (default 10, as Vault) are kept.
- Runs: `run_credentials` gives a tenant's run a copy of only its part of the store, under a key
  of its own, and merges what the run wrote back afterwards (see `scope`).
- Reads: the file is read every time; when its bytes equal those last decrypted by this object,
  the decrypted document is reused (a long-lived web app or worker then skips decryption and
  JSON parsing, ~20 ms for 500 tenants). Identical bytes were authenticated already, so tampering
  is still detected on the next read.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mailfleet.clock import utcnow

from .base import SecretStore, SecretVersion, VersionInfo
from .envelope import open_sealed, seal
from .errors import SecretNotFound, SecretsAccessDenied, SecretsBackendError, SecretsConflict
from .masterkey import KEY_BYTES, MasterKeySource, encode_key, make_private_dirs
from .scope import RunScope, write_private

log = logging.getLogger("mailfleet.secrets")

FORMAT = 1
Document = dict[str, Any]


def _now() -> str:
    return utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LocalStore(SecretStore):
    backend = "local"

    def __init__(self, store_file: Path, key_source: MasterKeySource, max_versions: int = 10) -> None:
        self.store_file = Path(store_file)
        self.lock_file = self.store_file.with_name(self.store_file.name + ".lock")
        self._key_source = key_source
        self.max_versions = max_versions
        self._decrypted: tuple[bytes, Document] | None = None  # (file bytes, their document)

    def __repr__(self) -> str:
        return f"<LocalStore file={self.store_file}>"

    # -- file handling --------------------------------------------------------------------------
    def _load(self, *, for_write: bool) -> tuple[Document, bytes | None]:
        """Decrypted document and the key (None when there is no store yet and we only read)."""
        try:
            blob = self.store_file.read_bytes()
        except FileNotFoundError:
            if not for_write:
                return {"format": FORMAT, "secrets": {}}, None
            return {"format": FORMAT, "secrets": {}}, self._key_source.load(create=True)
        except OSError as exc:
            raise SecretsBackendError(
                f"cannot read secrets store {self.store_file}: {exc.strerror}"
            ) from None
        if not for_write and self._decrypted is not None and self._decrypted[0] == blob:
            return self._decrypted[1], None  # read paths never mutate the document
        key = self._key_source.load(create=False)
        plaintext = open_sealed(key, blob, str(self.store_file))
        try:
            doc = json.loads(plaintext)
        except ValueError:
            raise SecretsBackendError(f"secrets store {self.store_file} decrypted to invalid JSON") from None
        if doc.get("format") != FORMAT:
            raise SecretsBackendError(
                f"secrets store {self.store_file} has unknown format {doc.get('format')!r}"
            )
        if not for_write:
            self._decrypted = (blob, doc)
        return doc, key

    def _save(self, doc: Document, key: bytes) -> None:
        blob = seal(key, json.dumps(doc, separators=(",", ":"), sort_keys=True).encode())
        directory = self.store_file.parent
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{self.store_file.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:  # mkstemp creates it 0600
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, self.store_file)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        make_private_dirs(self.store_file.parent)
        try:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SecretsBackendError(f"cannot open lock file {self.lock_file}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Document]:
        """Exclusive read-modify-write: yields the document, saves it if the block succeeds."""
        with self._locked():
            doc, key = self._load(for_write=True)
            assert key is not None
            yield doc
            self._save(doc, key)

    # -- primitives -----------------------------------------------------------------------------
    def _entry(self, doc: Document, path: str) -> dict[str, Any]:
        entry = doc["secrets"].get(path)
        if entry is None:
            raise SecretNotFound(f"no secret at {path!r} in the local store")
        return entry

    def _read(self, path: str, version: int | None) -> SecretVersion:
        doc, _ = self._load(for_write=False)
        entry = self._entry(doc, path)
        number = entry["current_version"] if version is None else version
        record = entry["versions"].get(str(number))
        if record is None:
            kept = sorted(map(int, entry["versions"]))
            raise SecretNotFound(f"secret {path!r} has no version {number} (kept: {kept})")
        return SecretVersion(version=number, data=dict(record["data"]))

    def _write(self, path: str, data: dict[str, str], cas: int | None) -> int:
        with self._transaction() as doc:
            writable = doc.get("writable")  # a run's store: only its tenant's folder
            if writable is not None and not path.startswith(writable + "/"):
                raise SecretsAccessDenied(f"this run may write only under {writable}/, not {path!r}")
            entry = doc["secrets"].get(path)
            current = entry["current_version"] if entry else 0
            if cas is not None and cas != current:
                raise SecretsConflict(
                    f"check-and-set failed for {path!r}: expected version {cas}, the store has {current}"
                )
            if entry is None:
                entry = doc["secrets"][path] = {"current_version": 0, "versions": {}}
            number = current + 1
            entry["versions"][str(number)] = {"created_time": _now(), "data": data}
            entry["current_version"] = number
            for old in sorted(map(int, entry["versions"]))[: -self.max_versions]:
                del entry["versions"][str(old)]
        return number

    def _list(self, prefix: str) -> list[str]:
        doc, _ = self._load(for_write=False)
        if not prefix:
            return list(doc["secrets"])
        return [path for path in doc["secrets"] if path.startswith(prefix + "/")]

    def _delete(self, path: str) -> None:
        self._entry(self._load(for_write=False)[0], path)  # absent: SecretNotFound, no key created
        with self._transaction() as doc:
            self._entry(doc, path)
            del doc["secrets"][path]

    def _versions(self, path: str) -> list[VersionInfo]:
        doc, _ = self._load(for_write=False)
        entry = self._entry(doc, path)
        return [
            VersionInfo(version=int(number), created_time=record["created_time"])
            for number, record in sorted(entry["versions"].items(), key=lambda item: int(item[0]))
        ]

    # -- a tenant's run -------------------------------------------------------------------------
    @contextlib.contextmanager
    def run_credentials(self, scope: RunScope, directory: Path, ttl: int) -> Iterator[dict[str, str]]:
        """A store file with only the secrets `scope` may read, under a fresh per-run key (`ttl`
        is not needed: both files are deleted on exit)."""
        doc, _ = self._load(for_write=False)
        before = {
            path: copy.deepcopy(entry) for path, entry in doc["secrets"].items() if scope.readable(path)
        }
        run_key = secrets.token_bytes(KEY_BYTES)
        key_file, store_file = directory / "run.key", directory / "run-store.enc"
        run_store = LocalStore(store_file, MasterKeySource(file=key_file), self.max_versions)
        try:
            write_private(key_file, encode_key(run_key) + "\n")
            run_doc = {"format": FORMAT, "secrets": copy.deepcopy(before), "writable": scope.prefix}
            run_store._save(run_doc, run_key)
            try:
                yield {
                    "MAILFLEET_SECRETS_BACKEND": "local",
                    "MAILFLEET_SECRETS_FILE": str(store_file),
                    "MAILFLEET_MASTER_KEY_FILE": str(key_file),
                }
            finally:  # after a failed run too: a staged rotation value must survive for the re-run
                if not store_file.is_file():  # read as empty, it would delete the tenant's secrets
                    raise SecretsBackendError(f"the run's store {store_file} is gone; its writes are lost")
                after, _ = run_store._load(for_write=False)
                self._merge_run_writes(scope, before, after["secrets"])
        finally:
            for path in (key_file, store_file, run_store.lock_file):
                path.unlink(missing_ok=True)

    def _merge_run_writes(
        self, scope: RunScope, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        """Apply a run's writes under its tenant's paths; a path that changed here meanwhile is
        not overwritten (SecretsConflict after the others are applied)."""
        changed = [
            path for path in sorted(set(before) | set(after))
            if scope.writable(path) and before.get(path) != after.get(path)
        ]
        if not changed:
            return
        conflicts = []
        with self._transaction() as doc:
            for path in changed:
                started = before[path]["current_version"] if path in before else 0
                live = doc["secrets"].get(path)
                if (live["current_version"] if live else 0) != started:
                    conflicts.append(path)
                elif path in after:
                    doc["secrets"][path] = after[path]
                else:
                    del doc["secrets"][path]
        log.info("run writes merged: paths=%s", ",".join(p for p in changed if p not in conflicts))
        if conflicts:
            raise SecretsConflict(
                f"a run changed {', '.join(conflicts)} while the store changed them too; the store's "
                "versions were kept and the run's dropped"
            )
