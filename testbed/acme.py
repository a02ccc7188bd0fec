"""Pebble, the ACME test server from Debian, with a TLS certificate the testbed issues itself and
DNS-01 validation against the testbed resolver."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from testbed.daemons import Recorded, TestbedError, start, tail
from testbed.layout import Layout

DIRECTORY_PORT = 14000
MANAGEMENT_PORT = 15000


@dataclass(frozen=True)
class AcmeInfo:
    directory_url: str
    #: CA of Pebble's own HTTPS endpoint (pass it to ACME clients; never turn verification off)
    root_ca_path: Path
    #: Pebble's management API; /roots/0 is the root that signs issued certificates
    management_url: str
    #: that issuing root, saved once Pebble is up
    issuing_root_path: Path


class Acme:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.dir = layout.state_dir / "acme"

    def info(self) -> AcmeInfo:
        host = self.layout.pebble
        return AcmeInfo(
            directory_url=f"https://{host}:{DIRECTORY_PORT}/dir",
            root_ca_path=self.dir / "tls-ca.pem",
            management_url=f"https://{host}:{MANAGEMENT_PORT}",
            issuing_root_path=self.dir / "issuing-root.pem",
        )

    def write_config(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not (self.dir / "tls-cert.pem").exists():
            self._issue_tls_certificate()
        config = {
            "pebble": {
                "listenAddress": f"{self.layout.pebble}:{DIRECTORY_PORT}",
                "managementListenAddress": f"{self.layout.pebble}:{MANAGEMENT_PORT}",
                "certificate": str(self.dir / "tls-cert.pem"),
                "privateKey": str(self.dir / "tls-key.pem"),
                # HTTP-01 / TLS-ALPN-01 would be validated on these ports of the named host.
                "httpPort": 80,
                "tlsPort": 443,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        }
        (self.dir / "pebble.json").write_text(json.dumps(config, indent=2))

    def _issue_tls_certificate(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailfleet testbed ACME TLS CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble.testbed")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("pebble.testbed"),
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address(self.layout.pebble)),
                    ]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        (self.dir / "tls-ca.pem").write_bytes(ca.public_bytes(pem))
        (self.dir / "tls-cert.pem").write_bytes(cert.public_bytes(pem))
        key_path = self.dir / "tls-key.pem"
        key_path.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        key_path.chmod(0o600)

    def start(self) -> Recorded:
        env = {
            "PATH": "/usr/bin:/bin",
            "PEBBLE_VA_NOSLEEP": "1",  # validate at once instead of after a random sleep
            "PEBBLE_WFE_NONCEREJECT": "0",  # no random badNonce: tests must not be flaky
            "PEBBLE_AUTHZREUSE": "0",
        }
        return start(
            [
                "/usr/bin/pebble",
                "-config",
                str(self.dir / "pebble.json"),
                "-dnsserver",
                f"{self.layout.resolver}:53",
            ],
            log=self.dir / "pebble.log",
            env=env,
        )

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Wait for the directory, then save the issuing root for verifiers."""
        info = self.info()
        context = ssl.create_default_context(cafile=str(info.root_ca_path))
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                json.loads(_fetch(info.directory_url, context))
                info.issuing_root_path.write_bytes(_fetch(f"{info.management_url}/roots/0", context))
                return
            except OSError as exc:
                last_error = exc
                time.sleep(0.1)
        raise TestbedError(
            f"Pebble did not answer within {timeout:.0f}s ({last_error}):\n{tail(self.dir / 'pebble.log')}"
        )


def _fetch(url: str, context: ssl.SSLContext) -> bytes:
    with urllib.request.urlopen(url, context=context, timeout=2) as response:  # noqa: S310 - https only
        return response.read()
