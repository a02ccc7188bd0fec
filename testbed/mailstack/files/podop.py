#!/usr/bin/python3
"""Testbed only: the tables of Postfix and Dovecot answered by the Mailu API double's /internal
endpoints, as Mailu's podop does inside its containers (Python standard library only: it runs on a
testbed host).

    podop.py <double url> <mail host> <socket dir>

- ``<socket dir>/postfix.sock``: Postfix socketmap (netstrings ``<len>:<map> <key>,``, answered
  ``OK <value>``, ``NOTFOUND `` or ``TEMP <why>``); each map is one /internal/postfix/ path.
- ``<socket dir>/dovecot.sock``: Dovecot's dict proxy protocol (``H`` hello, ``L<key>`` lookups
  answered ``O<json>`` / ``N`` / ``F<why>``); ``shared/userdb/<user>`` and ``shared/passdb/<user>``
  map to /internal/dovecot/userdb/ and passdb/.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

POSTFIX_MAPS = {
    "transport": "postfix/transport", "alias": "postfix/alias", "dane": "postfix/dane",
    "domain": "postfix/domain", "mailbox": "postfix/mailbox", "recipientmap": "postfix/recipient/map",
    "sendermap": "postfix/sender/map", "senderlogin": "postfix/sender/login",
    "senderrate": "postfix/sender/rate",
}
DOVECOT_KEYS = {"userdb": "dovecot/userdb", "passdb": "dovecot/passdb"}


class Internal:
    """GET <double>/<mail host>/internal/<path>/<key>: the JSON value, or None when 404."""

    def __init__(self, double: str, mail_host: str) -> None:
        self.root = f"{double.rstrip('/')}/{mail_host}/internal"

    def get(self, path: str, key: str) -> object | None:
        url = f"{self.root}/{path}/{urllib.parse.quote(key, safe='@')}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - the double's http URL
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    async def lookup(self, path: str, key: str) -> object | None:
        return await asyncio.to_thread(self.get, path, key)


def netstring(text: str) -> bytes:
    data = text.encode()
    return b"%d:%s," % (len(data), data)


async def socketmap(internal: Internal, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            size = await reader.readuntil(b":")
            request = (await reader.readexactly(int(size[:-1]) + 1))[:-1].decode()
            name, _, key = request.partition(" ")
            path = POSTFIX_MAPS.get(name)
            if path is None:
                answer = f"PERM unknown map {name}"
            else:
                try:
                    value = await internal.lookup(path, key)
                    answer = "NOTFOUND " if value is None else f"OK {value}"
                except (OSError, ValueError) as exc:
                    answer = f"TEMP {type(exc).__name__}"
            writer.write(netstring(answer))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


def _unescape(value: bytes) -> str:
    """Dovecot's tab escaping: \\x01 followed by 1 (\\x01), t (tab), r, n."""
    escapes = {ord("1"): b"\x01", ord("t"): b"\t", ord("r"): b"\r", ord("n"): b"\n"}
    out, chars = bytearray(), iter(value)
    for byte in chars:
        if byte == 1:
            out += escapes.get(next(chars, 0), b"")
        else:
            out.append(byte)
    return out.decode()


async def dovecot_dict(internal: Internal, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
    try:
        while line := await reader.readline():
            line = line.rstrip(b"\n")
            if line[:1] != b"L":
                continue  # hello and anything else (transactions, iterations) need no answer here
            key = _unescape(line[1:].split(b"\t")[0])
            scope, _, rest = key.partition("/")
            table, _, user = rest.partition("/")
            path = DOVECOT_KEYS.get(table)
            try:
                value = await internal.lookup(path, user) if scope == "shared" and path else None
                reply = b"N\n" if value is None else b"O" + json.dumps(value).encode() + b"\n"
            except (OSError, ValueError) as exc:
                reply = f"F{type(exc).__name__}\n".encode()
            writer.write(reply)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(double: str, mail_host: str, socket_dir: str) -> None:
    internal = Internal(double, mail_host)
    servers = []
    for name, handler in (("postfix.sock", socketmap), ("dovecot.sock", dovecot_dict)):
        path = os.path.join(socket_dir, name)
        if os.path.exists(path):
            os.unlink(path)
        servers.append(await asyncio.start_unix_server(lambda r, w, h=handler: h(internal, r, w), path))
        os.chmod(path, 0o666)  # noqa: S103 - postfix's and dovecot's users; root's directory
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
