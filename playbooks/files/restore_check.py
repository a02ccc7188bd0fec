#!/usr/bin/python3
"""After a restore: is Mailu's live data on this host the snapshot the restore used?

    restore_check.py SNAPSHOT_ID MAILU_ROOT SAMPLE PATH...

1. every regular file the snapshot holds under MAILU_ROOT/PATH is there, with its size, and no file
   is there that the snapshot does not hold (data/main.db is the consistent SQLite copy the restore
   put in place: compared with that copy in the snapshot; Dovecot's own index files, which it
   rewrites whenever a mailbox is opened, are left out);
2. SAMPLE files (mail first) are read from the repository again (restic dump) and their sha256
   compared with the live file's;
3. data/main.db, if any, passes SQLite's integrity check.
Prints one JSON line (snapshot, files, bytes, sampled, seconds) and exits 0, or names the first
difference and exits 1. Reads only.
"""

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time

BACKUP = "/usr/local/sbin/mailfleet-backup"
INDEX_PREFIX = "dovecot"  # dovecot.index*, dovecot-uidlist, dovecot.list.index*: Dovecot's, not mail
SQLITE_COPY = "/var/lib/mailfleet-backup/sqlite/main.db"  # where the backup keeps its consistent copy


def restic(*args):
    done = subprocess.run([BACKUP, "restic", *args], capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise SystemExit(f"restic {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def live_files(root, paths):
    found = {}
    for name in paths:
        top = os.path.join(root, name)
        if os.path.isfile(top) and not os.path.islink(top):
            found[top] = os.path.getsize(top)
        for folder, _, files in os.walk(top):
            for file in files:
                if file.startswith(INDEX_PREFIX):
                    continue
                path = os.path.join(folder, file)
                if os.path.isfile(path) and not os.path.islink(path):
                    found[path] = os.path.getsize(path)
    return found


def main():
    snapshot, root, sample, paths = sys.argv[1], sys.argv[2].rstrip("/"), int(sys.argv[3]), sys.argv[4:]
    started = time.monotonic()
    database = f"{root}/data/main.db"
    tops = tuple(f"{root}/{name}" for name in paths)
    wanted, source = {}, {}  # live path -> size; live path -> its path in the snapshot
    for line in restic("ls", "--json", snapshot).decode().splitlines():
        node = json.loads(line)
        if node.get("struct_type") != "node" or node.get("type") != "file":
            continue
        path = node["path"]
        if path == SQLITE_COPY:
            wanted[database], source[database] = node.get("size", 0), path
        elif os.path.basename(path).startswith(INDEX_PREFIX) or path.startswith(database):
            continue  # the database (and its journals) is checked through the consistent copy
        elif path in tops or path.startswith(tuple(f"{top}/" for top in tops)):
            wanted[path], source[path] = node.get("size", 0), path
    live = {path: size for path, size in live_files(root, paths).items()
            if not path.startswith(database) or (path == database and database in wanted)}
    missing = sorted(set(wanted) - set(live))
    extra = sorted(set(live) - set(wanted))
    if missing or extra:
        raise SystemExit(f"not the snapshot's files: {len(missing)} missing (first {missing[:1]}), "
                         f"{len(extra)} not in it (first {extra[:1]})")
    for path, size in sorted(wanted.items()):
        if live[path] != size:
            raise SystemExit(f"{path}: {live[path]} bytes, the snapshot holds {size}")
    mail = [p for p in sorted(wanted) if p.startswith(f"{root}/mail/")]
    rest = [p for p in sorted(wanted) if not p.startswith(f"{root}/mail/")]
    picked = (mail + rest)[:sample]
    for path in picked:
        if hashlib.sha256(restic("dump", snapshot, source[path])).hexdigest() != sha256_file(path):
            raise SystemExit(f"{path}: its content differs from the snapshot's")
    if database in wanted:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise SystemExit(f"{database}: SQLite integrity check says {verdict}")
    print(json.dumps({"snapshot": snapshot, "files": len(wanted), "bytes": sum(wanted.values()),
                      "sampled": len(picked), "seconds": round(time.monotonic() - started, 1)}))


if __name__ == "__main__":
    main()
