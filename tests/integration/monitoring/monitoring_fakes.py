"""Loopback stand-ins for the far side of the monitoring checks: a certificate authority, a mail
server (SMTP with STARTTLS and a sink, IMAP over TLS, HTTPS for MTA-STS) and a webhook receiver.
Everything listens on 127.0.0.0/8 only."""

from __future__ import annotations

import asyncio
import http.server
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class TestCA:
    """A throw-away CA; `issue()` writes a leaf (cert + key files) for given names and lifetime."""

    __test__ = False

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("mailfleet test CA"))
            .issuer_name(_name("mailfleet test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, days: int = 90, self_signed: bool = False) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        issuer_key, issuer = (key, _name(name)) if self_signed else (self.key, self.cert.subject)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days, hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(issuer_key, hashes.SHA256())
        )
        stem = f"{name.replace('.', '_')}-{days}-{int(self_signed)}"
        cert_path, key_path = self.dir / f"{stem}.crt", self.dir / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_path, key_path


async def _cancel_all_tasks() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class LoopThread:
    """An asyncio loop in a background thread, so blocking clients (smtplib) can talk to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def close(self) -> None:
        self.run(_cancel_all_tasks())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@dataclass
class FakeMailServer:
    """SMTP (STARTTLS, accepts and keeps messages), IMAP over TLS (one account), HTTPS (MTA-STS)."""

    address: str
    cert: Path
    key: Path
    imap_user: str = "probe@example.test"
    imap_password: str = "s3cret-probe-pw"
    mta_sts_policy: str = ""
    smtp_port: int = 25
    imap_port: int = 993
    https_port: int = 443
    starttls: bool = True
    silent_smtp: bool = False  # accept the TCP connection and never say anything
    messages: list[bytes] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    _servers: list[asyncio.Server] = field(default_factory=list)
    _tasks: set[asyncio.Task] = field(default_factory=set)

    def _tracked(self, handler):
        async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            self._tasks.add(task)
            try:
                await handler(reader, writer)
            finally:
                writer.close()
                self._tasks.discard(task)

        return run

    def _tls(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    async def start(self, smtp: bool = True, imap: bool = True, https: bool = True) -> None:
        if smtp:
            self._servers.append(
                await asyncio.start_server(self._tracked(self._smtp), self.address, self.smtp_port)
            )
        if imap:
            self._servers.append(
                await asyncio.start_server(
                    self._tracked(self._imap), self.address, self.imap_port, ssl=self._tls()
                )
            )
        if https:
            self._servers.append(
                await asyncio.start_server(
                    self._tracked(self._https), self.address, self.https_port, ssl=self._tls()
                )
            )

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        await asyncio.sleep(0.05)  # let connections accepted just before close reach their handler
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def _smtp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.silent_smtp:
                await asyncio.sleep(60)
                return
            writer.write(b"220 mail.example.test ESMTP fake\r\n")
            while line := await reader.readline():
                cmd = line.decode().strip().upper()
                if cmd.startswith(("EHLO", "HELO")):
                    ext = (
                        b"250-STARTTLS\r\n"
                        if self.starttls and writer.get_extra_info("ssl_object") is None
                        else b""
                    )
                    writer.write(b"250-mail.example.test\r\n" + ext + b"250 8BITMIME\r\n")
                elif cmd == "STARTTLS":
                    writer.write(b"220 go ahead\r\n")
                    await writer.drain()
                    await writer.start_tls(self._tls())
                elif cmd.startswith(("MAIL", "RCPT", "RSET", "NOOP")):
                    writer.write(b"250 ok\r\n")
                elif cmd == "DATA":
                    writer.write(b"354 go\r\n")
                    data = b""
                    while (chunk := await reader.readline()) not in (b".\r\n", b""):
                        data += chunk
                    self.messages.append(data)
                    writer.write(b"250 queued\r\n")
                elif cmd == "QUIT":
                    writer.write(b"221 bye\r\n")
                    break
                else:
                    writer.write(b"502 no\r\n")
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _imap(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"* OK fake IMAP ready\r\n")
            while line := await reader.readline():
                tag, _, rest = line.decode().strip().partition(" ")
                if rest.upper().startswith("LOGIN"):
                    parts = rest.split('"')
                    user, password = parts[1], parts[3]
                    self.logins.append(user)
                    ok = (user, password) == (self.imap_user, self.imap_password)
                    answer = "OK LOGIN completed" if ok else "NO [AUTHENTICATIONFAILED] bad"
                    writer.write(f"{tag} {answer}\r\n".encode())
                elif rest.upper().startswith("LOGOUT"):
                    writer.write(f"* BYE\r\n{tag} OK\r\n".encode())
                    break
                await writer.drain()
        except (ConnectionError, ssl.SSLError, IndexError):
            pass
        finally:
            writer.close()

    async def _https(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            ok = b"GET /.well-known/mta-sts.txt " in request and self.mta_sts_policy
            body = self.mta_sts_policy.encode() if ok else b"not found"
            writer.write(
                f"HTTP/1.1 {'200 OK' if ok else '404 Not Found'}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


class WebhookReceiver:
    """A local HTTP server that records every POST (headers + raw body)."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        received = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(({k: v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.url = f"http://{address}:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
