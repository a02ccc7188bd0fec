"""Probes from outside the server over TCP: port reachability, SMTP banner + STARTTLS, IMAP over TLS
with a probe login, and a small HTTPS GET (MTA-STS policy). asyncio streams only; every probe is
bounded by its own timeout so one slow server cannot hold the sweep."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass

from .outcome import Outcome, error, ok, unknown
from .targets import ProbeCredentials


async def port_open(address: str, port: int, timeout: float) -> Outcome:
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(address, port)
    except TimeoutError:
        return error(f"{address} port {port}: no answer within {timeout:g} s (filtered?)")
    except ConnectionRefusedError:
        return error(f"{address} port {port}: connection refused")
    except OSError as exc:
        return error(f"{address} port {port}: {exc.strerror or exc}")
    elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    writer.close()
    with contextlib.suppress(OSError):  # a peer that resets right after accept is still reachable
        await writer.wait_closed()
    return ok(f"{address} port {port} reachable", elapsed_ms)


@dataclass(frozen=True)
class TlsProbe:
    """What a TLS-speaking probe learned: the service outcome, the leaf certificate (DER) and the
    reason verification failed, if it did."""

    service: Outcome
    starttls: Outcome | None
    der: bytes | None
    verify_error: str | None


class ProtocolError(Exception):
    pass


async def _reply(reader: asyncio.StreamReader) -> tuple[int, list[str]]:
    """One SMTP reply (possibly multi-line): (code, text lines)."""
    lines: list[str] = []
    while True:
        raw = await reader.readline()
        if not raw:
            raise ProtocolError("connection closed by the server")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if len(line) < 3 or not line[:3].isdigit():
            raise ProtocolError(f"not an SMTP reply: {line[:80]!r}")
        lines.append(line[4:])
        if len(line) == 3 or line[3] == " ":
            return int(line[:3]), lines


def _verify_message(exc: ssl.SSLError) -> str:
    return getattr(exc, "verify_message", None) or exc.reason or str(exc)


async def _smtp_to_tls(address: str, hostname: str, ehlo: str, context: ssl.SSLContext,
                       port: int) -> tuple[str, bool, asyncio.StreamWriter | None]:
    """Banner, EHLO, STARTTLS and the handshake. Returns (banner, STARTTLS offered, TLS writer)."""
    reader, writer = await asyncio.open_connection(address, port)
    try:
        code, lines = await _reply(reader)
        if code != 220:
            raise ProtocolError(f"banner {code} {' '.join(lines)[:120]}")
        banner = lines[0]
        writer.write(f"EHLO {ehlo}\r\n".encode())
        code, lines = await _reply(reader)
        if code != 250:
            raise ProtocolError(f"EHLO refused: {code} {' '.join(lines)[:120]}")
        if not any(line.upper().split(" ")[0] == "STARTTLS" for line in lines[1:]):
            writer.write(b"QUIT\r\n")
            writer.close()
            return banner, False, None
        writer.write(b"STARTTLS\r\n")
        code, lines = await _reply(reader)
        if code != 220:
            raise ProtocolError(f"STARTTLS refused: {code} {' '.join(lines)[:120]}")
        await writer.start_tls(context, server_hostname=hostname)
        return banner, True, writer
    except BaseException:
        writer.close()
        raise


async def _close(writer: asyncio.StreamWriter, goodbye: bytes) -> None:
    try:
        writer.write(goodbye)
        await writer.drain()
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (OSError, TimeoutError, ssl.SSLError):
        pass


async def probe_smtp(address: str, hostname: str, ehlo: str, verifying: ssl.SSLContext,
                     inspecting: ssl.SSLContext, timeout: float, port: int = 25) -> TlsProbe:
    """SMTP banner, STARTTLS offered and completed with a trusted certificate for `hostname`."""
    try:
        async with asyncio.timeout(timeout):
            try:
                banner, offered, writer = await _smtp_to_tls(address, hostname, ehlo, verifying, port)
            except ssl.SSLCertVerificationError as exc:
                reason = _verify_message(exc)
                # Connect again without verification only to read the certificate's dates.
                _, _, writer = await _smtp_to_tls(address, hostname, ehlo, inspecting, port)
                der = None  # the second connection may no longer offer STARTTLS
                if writer is not None:
                    der = _peer_der(writer)
                    await _close(writer, b"QUIT\r\n")
                return TlsProbe(ok("banner received"), error(f"STARTTLS certificate not trusted: {reason}"),
                                der, reason)
    except TimeoutError:
        return _failed(f"no complete SMTP exchange within {timeout:g} s")
    except (OSError, ProtocolError, ssl.SSLError) as exc:
        return _failed(f"{address} port {port}: {_describe(exc)}")
    if not offered or writer is None:
        return TlsProbe(ok(banner[:200]), error("STARTTLS not offered"), None, "STARTTLS not offered")
    der = _peer_der(writer)
    await _close(writer, b"QUIT\r\n")
    return TlsProbe(ok(banner[:200]), ok("STARTTLS completed with a trusted certificate"), der, None)


async def probe_relay(address: str, domain: str, ehlo: str, timeout: float, port: int = 25) -> Outcome:
    """Does the server accept mail for ``domain`` (a secondary MX for it)? Banner, EHLO, a null
    sender and RCPT TO postmaster@domain: 250 is yes; nothing is sent (RSET, QUIT)."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, port)
            try:
                for command, wanted in ((None, 220), (f"EHLO {ehlo}", 250), ("MAIL FROM:<>", 250),
                                        (f"RCPT TO:<postmaster@{domain}>", 250)):
                    if command:
                        writer.write(f"{command}\r\n".encode())
                    code, lines = await _reply(reader)
                    if code != wanted:
                        said = f"{code} {' '.join(lines)}"[:200]
                        return error(f"{address} port {port}: {command or 'banner'}: {said}", code)
            finally:
                await _close(writer, b"RSET\r\nQUIT\r\n")
    except TimeoutError:
        return error(f"{address} port {port}: no complete SMTP exchange within {timeout:g} s")
    except (OSError, ProtocolError) as exc:
        return error(f"{address} port {port}: {_describe(exc)}")
    return ok(f"{address} port {port} accepts mail for {domain} (secondary MX)", 250)


async def served_certificate(address: str, hostname: str, ehlo: str, timeout: float,
                             port: int = 25) -> bytes | None:
    """The leaf certificate (DER) the server presents after STARTTLS, read without verifying it:
    DANE-EE trusts the TLSA record, not a CA. None when none could be read."""
    reading = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    reading.check_hostname, reading.verify_mode = False, ssl.CERT_NONE
    try:
        async with asyncio.timeout(timeout):
            _, _, writer = await _smtp_to_tls(address, hostname, ehlo, reading, port)
            if writer is None:
                return None
            der = _peer_der(writer)
            await _close(writer, b"QUIT\r\n")
            return der
    except (TimeoutError, OSError, ProtocolError, ssl.SSLError):
        return None


def _failed(detail: str) -> TlsProbe:
    return TlsProbe(error(detail), unknown(f"not reached: {detail}"), None, detail)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {_verify_message(exc)}"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def _peer_der(writer: asyncio.StreamWriter) -> bytes | None:
    sslobj = writer.get_extra_info("ssl_object")
    return sslobj.getpeercert(binary_form=True) if sslobj is not None else None


def imap_quote(value: str) -> str:
    """An IMAP quoted string (RFC 3501); CR/LF/NUL cannot be quoted and are refused."""
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError("IMAP credentials cannot contain CR, LF or NUL")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def _imap_tagged(reader: asyncio.StreamReader, tag: str) -> str:
    while True:
        raw = await reader.readline()
        if not raw:
            raise ProtocolError("connection closed by the server")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith(tag + " "):
            return line[len(tag) + 1:]


async def probe_imap(address: str, hostname: str, credentials: ProbeCredentials | None,
                     verifying: ssl.SSLContext, inspecting: ssl.SSLContext, timeout: float,
                     port: int = 993) -> TlsProbe:
    """IMAP over TLS: greeting, then a LOGIN with the probe account (only over a trusted connection;
    the password never leaves a connection whose certificate failed verification)."""
    try:
        async with asyncio.timeout(timeout):
            try:
                reader, writer = await asyncio.open_connection(address, port, ssl=verifying,
                                                               server_hostname=hostname)
            except ssl.SSLCertVerificationError as exc:
                reason = _verify_message(exc)
                _, writer = await asyncio.open_connection(address, port, ssl=inspecting,
                                                          server_hostname=hostname)
                der = _peer_der(writer)
                await _close(writer, b"")
                return TlsProbe(unknown(f"login not attempted: certificate not trusted ({reason})"),
                                None, der, reason)
            der = _peer_der(writer)
            try:
                greeting = (await reader.readline()).decode("utf-8", "replace").strip()
                if not greeting.upper().startswith("* OK"):
                    return TlsProbe(error(f"unexpected IMAP greeting: {greeting[:120]!r}"), None, der, None)
                if credentials is None:
                    return TlsProbe(ok("IMAP greeting received; no probe account configured"), None, der,
                                    None)
                writer.write(f"a1 LOGIN {imap_quote(credentials.username)} "
                             f"{imap_quote(credentials.password)}\r\n".encode())
                answer = await _imap_tagged(reader, "a1")
                if answer.upper().startswith("OK"):
                    outcome = ok(f"probe login as {credentials.username} succeeded")
                else:
                    # The server's text, never our command line (it carries the password).
                    outcome = error(f"probe login as {credentials.username} refused: {answer[:120]}")
            finally:
                await _close(writer, b"a2 LOGOUT\r\n")
            return TlsProbe(outcome, None, der, None)
    except TimeoutError:
        return _failed_imap(f"no complete IMAP exchange within {timeout:g} s")
    except (OSError, ProtocolError, ssl.SSLError) as exc:
        return _failed_imap(f"{address} port {port}: {_describe(exc)}")


def _failed_imap(detail: str) -> TlsProbe:
    return TlsProbe(error(detail), None, None, detail)


async def https_get(address: str, host: str, path: str, context: ssl.SSLContext, timeout: float,
                    port: int = 443, limit: int = 65536) -> tuple[int, str]:
    """GET https://host/path from `address` (no redirects, as RFC 8461 requires). (status, body)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(address, port, ssl=context, server_hostname=host)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mailfleet-monitor\r\n"
                         "Connection: close\r\n\r\n".encode())
            raw = await reader.read(limit + 4096)
            while len(raw) < limit + 4096:
                more = await reader.read(limit + 4096 - len(raw))
                if not more:
                    break
                raw += more
        finally:
            writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP response: {lines[0][:80]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return int(parts[1]), body[:limit].decode("utf-8", "replace")


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return bytes(out)
