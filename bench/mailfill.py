"""Mail for the backup and recovery benches: --megabytes of maildir messages on a testbed host,
and the testbed each bench runs on.

Each message is 100 kB of base64 of random bytes, so the data is as incompressible as the
attachments restic meets in real mailboxes.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from testbed import Testbed

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


@contextmanager
def mail_testbed(description: str, argv: list[str] | None) -> Iterator[tuple[Testbed, int, list[str]]]:
    """The testbed up and the bench's --megabytes of mail; at the end the hosts the bench named in
    the list it is given are stopped (those the testbed still has) and the testbed goes down."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--megabytes", type=int, default=1024)
    megabytes = parser.parse_args(argv).megabytes
    tb = Testbed()
    tb.up()
    started_hosts: list[str] = []
    try:
        yield tb, megabytes, started_hosts
    finally:
        for name in started_hosts:
            if name in tb.state.read()["hosts"]:
                tb.stop_host(name)
        tb.down()
