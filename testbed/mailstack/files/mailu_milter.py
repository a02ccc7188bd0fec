#!/usr/bin/python3
"""Testbed only: the part of Mailu's antispam container (Rspamd) mail delivery depends on, as a
Postfix milter on Mailu's antispam address (127.0.0.1:11332), from Debian's pymilter, dkimpy, pyspf
and dnspython:

- mail from a logged-in sender is DKIM-signed (relaxed/relaxed) with its From: domain's key, fetched
  from the Mailu API double's Vault-shaped endpoint as Mailu's Rspamd does (use_vault);
- any other mail gets one Authentication-Results header (RFC 8601) with the DKIM verdict of its first
  signature, the SPF verdict of the client address for the envelope sender, and the DMARC verdict
  (the record of the From: domain; alignment strict or relaxed as the record says, the
  organisational domain taken as the last two labels: enough for the testbed's zones). Headers of
  that name claiming this host's verdicts are removed first. Nothing is rejected for a verdict.

    mailu_milter.py <double url> <mail host>  (not milter.py: that is pymilter's own module)
"""

from __future__ import annotations

import json
import re
import sys
import urllib.request

import dkim
import dns.resolver
import Milter
import spf

AUTH_RESULTS = "Authentication-Results"


class Verdicts:
    """SPF, DKIM and DMARC of one message."""

    def __init__(self, message: bytes, client_ip: str, helo: str, mail_from: str, from_domain: str) -> None:
        self.mail_from = mail_from
        self.from_domain = from_domain
        self.spf_domain = mail_from.rsplit("@", 1)[-1].lower() if mail_from else helo.lower()
        self.spf = spf.check2(i=client_ip, s=mail_from or f"postmaster@{helo}", h=helo)[0]
        checker = dkim.DKIM(message)
        try:
            passed = checker.verify()
        except dkim.DKIMException:
            passed = False
        self.dkim_domain = (checker.domain or b"").decode().lower()
        has_signature = re.search(rb"^dkim-signature:", message, re.I | re.M) is not None
        self.dkim = "pass" if passed else ("fail" if has_signature else "none")
        self.dmarc, self.policy = self._dmarc()

    def _dmarc(self) -> tuple[str, str]:
        tags = _dmarc_record(self.from_domain) or _dmarc_record(_org(self.from_domain))
        if tags is None:
            return "none", "none"

        def aligned(domain: str, mode: str) -> bool:
            return domain == self.from_domain if mode == "s" else _org(domain) == _org(self.from_domain)

        ok = (self.spf == "pass" and aligned(self.spf_domain, tags.get("aspf", "r"))) or (
            self.dkim == "pass" and aligned(self.dkim_domain, tags.get("adkim", "r")))
        return ("pass" if ok else "fail"), tags.get("p", "none")

    def header(self, authserv_id: str) -> str:
        return (f"{authserv_id};\n\tdkim={self.dkim} header.d={self.dkim_domain or 'none'};"
                f"\n\tspf={self.spf} smtp.mailfrom={self.mail_from or 'none'};"
                f"\n\tdmarc={self.dmarc} (p={self.policy}) header.from={self.from_domain}")


def _org(domain: str) -> str:
    return ".".join(domain.split(".")[-2:])


def _dmarc_record(domain: str) -> dict[str, str] | None:
    try:
        answers = dns.resolver.resolve(f"_dmarc.{domain}", "TXT")
    except dns.exception.DNSException:
        return None
    for answer in answers:
        text = b"".join(answer.strings).decode("ascii", "replace")
        if text.startswith("v=DMARC1"):
            return {k.strip().lower(): v.strip() for k, _, v in (p.partition("=") for p in text.split(";"))}
    return None


def _crlf(text: str) -> str:
    return re.sub(r"\r?\n", "\r\n", text)


def _domain_of(address: str) -> str:
    match = re.search(r"@([A-Za-z0-9.-]+)>?\s*$", address.strip())
    return match[1].lower() if match else ""


class MailuMilter(Milter.Base):
    double = ""
    mail_host = ""

    def __init__(self) -> None:
        self.client_ip = self.helo = ""

    def connect(self, hostname: str, family: int, hostaddr: tuple) -> int:
        self.client_ip = hostaddr[0] if hostaddr else ""
        return Milter.CONTINUE

    def hello(self, heloname: str) -> int:
        self.helo = heloname
        return Milter.CONTINUE

    def envfrom(self, mailfrom: str, *params: str) -> int:
        self.mail_from = mailfrom.strip("<>")
        self.login = self.getsymval("{auth_authen}")
        self.headers: list[tuple[str, str]] = []
        self.chunks = bytearray()
        return Milter.CONTINUE

    def header(self, name: str, value: str) -> int:
        self.headers.append((name, value))
        return Milter.CONTINUE

    def body(self, chunk: bytes) -> int:
        self.chunks += chunk
        return Milter.CONTINUE

    def message(self) -> bytes:
        """The message as the client sent it (the milter sees header folds as bare LF)."""
        head = "".join(f"{name}: {_crlf(value)}\r\n" for name, value in self.headers)
        return head.encode("utf-8", "surrogateescape") + b"\r\n" + bytes(self.chunks)

    def eom(self) -> int:
        from_domain = next((_domain_of(v) for n, v in self.headers if n.lower() == "from"), "")
        if self.login:
            self.sign(from_domain)
            return Milter.ACCEPT
        own = [i for i, (n, v) in enumerate(
            (h for h in self.headers if h[0].lower() == AUTH_RESULTS.lower()), start=1)
            if v.strip().lower().startswith(self.mail_host)]
        for index in reversed(own):
            self.chgheader(AUTH_RESULTS, index, "")
        verdicts = Verdicts(self.message(), self.client_ip, self.helo, self.mail_from, from_domain)
        self.addheader(AUTH_RESULTS, verdicts.header(self.mail_host))
        return Milter.ACCEPT

    def sign(self, domain: str) -> None:
        key = self.key(domain) if domain else None
        if key is None:
            return
        selector, private = key
        signature = dkim.sign(self.message(), selector.encode(), domain.encode(), private.encode(),
                              canonicalize=(b"relaxed", b"relaxed"))
        name, _, value = signature.decode().partition(":")
        self.addheader(name, value.strip().replace("\r\n", "\n"))

    def key(self, domain: str) -> tuple[str, str] | None:
        url = f"{self.double}/{self.mail_host}/internal/rspamd/vault/v1/dkim/{domain}"
        request = urllib.request.Request(url, headers={"X-Vault-Token": "mailu"})  # noqa: S310 - http URL
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            selectors = json.loads(answer.read())["data"]["selectors"]
        return (selectors[0]["selector"], selectors[0]["key"]) if selectors else None


def main(double: str, mail_host: str) -> None:
    MailuMilter.double, MailuMilter.mail_host = double.rstrip("/"), mail_host.lower()
    Milter.factory = MailuMilter
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS)
    Milter.runmilter("mailu-milter", "inet:11332@127.0.0.1", 240)


if __name__ == "__main__":
    main(*sys.argv[1:3])
