"""Can records be published under a name? Asked before a mail domain is accepted, so a zone the
DNS provider does not serve is refused at once instead of failing every later run on the server.

RFC 2136: the primary must serve the SOA of the zone holding the name, and accept a TSIG-signed
UPDATE whose only content is a prerequisite ("the zone's SOA exists", RFC 2136 2.4.1). Such an
update has an empty update section, so it changes nothing, yet the server checks the key and the
zone's update policy exactly as for a real one. Cloudflare: a zone of the token's account holds
the name.
"""

from __future__ import annotations

import dns.exception
import dns.name
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update

from .errors import DnsError, DnsQueryError
from .rfc2136 import AuthoritativeReader

__all__ = ["ZoneNotWritable", "cloudflare_zone", "rfc2136_zone"]


class ZoneNotWritable(DnsError):
    """No zone we may update holds the name; the message says which part refused."""


def rfc2136_zone(
    name: str,
    server: str,
    *,
    key_name: str,
    key_secret: str,
    key_algorithm: str = "hmac-sha256",
    port: int = 53,
    timeout: float = 5.0,
) -> str:
    """The apex of the zone holding ``name`` on ``server``, once an UPDATE signed with the key is
    accepted there; ZoneNotWritable otherwise."""
    try:
        zone = AuthoritativeReader(server, port=port, timeout=timeout).zone_for(name)
    except DnsQueryError as exc:
        raise ZoneNotWritable(f"the DNS server {server} serves no zone that holds {name} ({exc})") from None
    try:
        keyring = dns.tsigkeyring.from_text({key_name: key_secret})
        update = dns.update.UpdateMessage(
            zone, keyring=keyring, keyname=dns.name.from_text(key_name), keyalgorithm=key_algorithm
        )
        update.present(dns.name.from_text(zone), "SOA")  # absolute: a plain string is relative
        response = dns.query.tcp(update, server, port=port, timeout=timeout)
    except (OSError, ValueError, dns.exception.DNSException) as exc:
        raise ZoneNotWritable(
            f"the DNS server {server} did not accept an update of {zone} signed with the key "
            f"{key_name} ({exc.__class__.__name__}: {exc})"
        ) from None
    if response.rcode() != dns.rcode.NOERROR:
        raise ZoneNotWritable(
            f"the DNS server {server} refused an update of {zone} signed with the key {key_name} "
            f"({dns.rcode.to_text(response.rcode())})"
        )
    return zone


def cloudflare_zone(name: str, api_token: str, *, base_url: str | None = None) -> str:
    """The name of the Cloudflare zone (of the token's account) that holds ``name``."""
    from mailfleet.cloudflare import CloudflareClient, CloudflareError

    try:
        _, zone = CloudflareClient(api_token, base_url=base_url, max_retries=0).zone_for(name)
    except CloudflareError as exc:
        raise ZoneNotWritable(f"Cloudflare: {exc}") from None
    return zone
