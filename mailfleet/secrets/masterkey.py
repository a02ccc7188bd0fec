"""The local store's master key: from the environment, or from a file created on first use.

The key is 32 random bytes, written as URL-safe base64 on one line. The file is created with mode
0600 inside a directory created with mode 0700, atomically (written to a temporary name, then
hard-linked into place) so two processes starting at once end up with the same key. A key file
that group or others can read is refused, like ssh refuses an open private key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import SecretsKeyError

KEY_BYTES = 32


def decode_key(text: str, origin: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SecretsKeyError(f"master key from {origin} is not URL-safe base64") from None
    if len(key) != KEY_BYTES:
        raise SecretsKeyError(f"master key from {origin} must decode to {KEY_BYTES} bytes, not {len(key)}")
    return key


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def make_private_dirs(directory: Path) -> None:
    """Create `directory` and missing parents with mode 0700 (existing ones are left alone)."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


@dataclass(frozen=True)
class MasterKeySource:
    """Where the key comes from: `env_value` (MAILFLEET_MASTER_KEY) wins over `file`."""

    file: Path
    env_value: str | None = None

    def __repr__(self) -> str:  # never show the key itself
        origin = "environment" if self.env_value else str(self.file)
        return f"MasterKeySource({origin})"

    def load(self, create: bool) -> bytes:
        """Return the key; create the file if `create` and it does not exist yet."""
        if self.env_value:
            return decode_key(self.env_value, "MAILFLEET_MASTER_KEY")
        try:
            return self._read_file()
        except FileNotFoundError:
            if not create:
                raise SecretsKeyError(
                    f"master key file {self.file} does not exist, but the store does: without the "
                    "key that wrote it the store cannot be read (restore the key file, or set "
                    "MAILFLEET_MASTER_KEY / MAILFLEET_MASTER_KEY_FILE)"
                ) from None
        self._create_file()
        return self._read_file()

    def _read_file(self) -> bytes:
        try:
            fd = os.open(self.file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise SecretsKeyError(f"cannot open master key file {self.file}: {exc.strerror}") from None
        with os.fdopen(fd, "r", encoding="ascii") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if stat.S_IMODE(mode) & 0o077:
                raise SecretsKeyError(
                    f"master key file {self.file} is open to group or others "
                    f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {self.file}"
                )
            try:
                text = handle.read()
            except UnicodeDecodeError:
                raise SecretsKeyError(f"master key file {self.file} is not base64 text") from None
        return decode_key(text, str(self.file))

    def _create_file(self) -> None:
        make_private_dirs(self.file.parent)
        tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(encode_key(secrets.token_bytes(KEY_BYTES)) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            # atomic and never replaces: if another process created the key first, its key wins
            with contextlib.suppress(FileExistsError):
                os.link(tmp, self.file)
        finally:
            tmp.unlink(missing_ok=True)
        dir_fd = os.open(self.file.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
