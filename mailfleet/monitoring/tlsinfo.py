"""Certificate facts the checks need: days to expiry, and DANE (TLSA) matching."""

from __future__ import annotations

import hashlib
import ssl
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .outcome import Outcome, error, ok, warning


def client_contexts(ca_file: str | None) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(verifying context with the system CAs plus `ca_file`, non-verifying context used only to read
    a certificate that failed verification, so the report can still say when it expires)."""
    verifying = ssl.create_default_context()
    if ca_file:
        verifying.load_verify_locations(cafile=ca_file)
    inspecting = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    inspecting.check_hostname = False
    inspecting.verify_mode = ssl.CERT_NONE
    return verifying, inspecting


def days_left(der: bytes, now: datetime) -> int:
    cert = x509.load_der_x509_certificate(der)
    return int((cert.not_valid_after_utc - now).total_seconds() // 86400)


def certificate_outcome(der: bytes | None, verify_error: str | None, now: datetime,
                        warn_days: int, where: str) -> Outcome:
    """Valid and more than `warn_days` left: ok; `<= warn_days`: warning; untrusted or expired: error."""
    if der is None:
        return error(f"{where}: no certificate received ({verify_error or 'handshake failed'})")
    days = days_left(der, now)
    if verify_error:
        return error(f"{where}: certificate not trusted: {verify_error}", days)
    if days < 0:
        return error(f"{where}: certificate expired {-days} days ago", days)
    if days <= warn_days:
        return warning(f"{where}: certificate expires in {days} days", days)
    return ok(f"{where}: certificate valid, {days} days left", days)


def _spki(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def dane_ee_value(der: bytes) -> str:
    """The TLSA value pinning the certificate's key (3 1 1: DANE-EE, its public key, SHA-256), the
    form the letsencrypt role publishes: it survives renewals that keep the key."""
    return f"3 1 1 {hashlib.sha256(_spki(der)).hexdigest()}"


def tlsa_matches(der: bytes, usage: int, selector: int, mtype: int, data: bytes) -> bool:
    """Does one TLSA record (RFC 6698) match the leaf certificate? Only usages 1 and 3 name the leaf."""
    if usage not in (1, 3):
        return False
    if selector == 0:
        material = der
    elif selector == 1:
        material = _spki(der)
    else:
        return False
    if mtype == 0:
        return material == data
    if mtype == 1:
        return hashlib.sha256(material).digest() == data
    if mtype == 2:
        return hashlib.sha512(material).digest() == data
    return False
