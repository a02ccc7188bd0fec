"""Files only the service account may read (the database, logs): 0600 in folders 0700.

The modes are set explicitly, so they do not depend on the umask of whoever starts the process.
Only what is created here is changed: an existing folder (``/tmp``, a mounted volume) keeps its
mode.
"""

from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: Path) -> Path:
    """``path`` and any missing parents, each created 0700."""
    for folder in reversed([path, *path.parents]):
        if not folder.exists():
            folder.mkdir(mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)
    return path


def private_file(path: Path) -> Path:
    """``path`` created empty with mode 0600 (in a private folder) unless it exists."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    os.fchmod(fd, 0o600)
    os.close(fd)
    return path
