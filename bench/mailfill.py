"""Mail for the backup and recovery benches: --megabytes of maildir messages on a testbed host.

Each message is 100 kB of base64 of random bytes, so the data is as incompressible as the
attachments restic meets in real mailboxes.
"""

from __future__ import annotations

import shlex
from typing import Any

MESSAGE_BYTES = 100 * 1024
# Runs on the host; messages go round the maildirs in turn.
WRITE_MAIL = r"""
python3 - <<'EOF'
import base64, os
maildirs = {maildirs!r}
for i in range({count}):
    folder = maildirs[i % len(maildirs)] + "/cur"
    os.makedirs(folder, exist_ok=True)
    with open(f"{{folder}}/bench{{i}}.msg:2,S", "wb") as out:
        out.write(b"Subject: bench %d\n\n" % i + base64.encodebytes(os.urandom({raw})))
EOF
for maildir in {quoted}; do chown -R --reference="$maildir" "$maildir/cur"; done
du -sbc {quoted} | tail -1 | cut -f1
"""


def write_mail(host: Any, maildirs: list[str], megabytes: int) -> int:
    """Write ``megabytes`` of messages into ``maildirs`` on ``host`` (made where missing, owned
    like the maildir they are in); returns the bytes the maildirs then hold."""
    script = WRITE_MAIL.format(
        maildirs=maildirs,
        count=megabytes * 1024 * 1024 // MESSAGE_BYTES,
        raw=MESSAGE_BYTES * 3 // 4,
        quoted=" ".join(shlex.quote(m) for m in maildirs),
    )
    return int(host.ssh(script).stdout.split()[-1])
