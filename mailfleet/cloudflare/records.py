"""Cloudflare's record JSON <-> mailfleet's canonical records (``mailfleet.dns.Record``).

Cloudflare keeps names without the final dot, MX priority in ``priority``, SRV/TLSA fields in
``data``, and TXT content either bare or as quoted strings; all of that maps to one canonical value.
"""

from __future__ import annotations

import shlex
from typing import Any

from mailfleet.dns.rdata import Record, canonical_value

__all__ = ["record_from_api", "record_payload"]


def _txt_content(content: str) -> str:
    text = content.strip()
    if text.startswith('"') and text.endswith('"'):
        # RFC 1035 character strings: '"part one" "part two"' -> joined value.
        return "".join(shlex.split(text, posix=True))
    return content


def record_from_api(item: dict[str, Any]) -> Record:
    """Canonical Record of one Cloudflare record object."""
    rtype = str(item["type"]).upper()
    name = str(item["name"])
    data = item.get("data") or {}
    if rtype == "MX":
        text = f"{int(item.get('priority') or 0)} {item['content']}."
    elif rtype == "SRV" and data:
        text = f"{int(data['priority'])} {int(data['weight'])} {int(data['port'])} {data['target']}."
    elif rtype == "TLSA" and data:
        fields = (int(data["usage"]), int(data["selector"]), int(data["matching_type"]), data["certificate"])
        text = " ".join(str(f) for f in fields)
    elif rtype == "CNAME":
        text = f"{item['content']}."
    elif rtype == "TXT":
        text = _txt_content(str(item["content"]))
    else:
        text = str(item["content"])
    return Record(name, rtype, canonical_value(rtype, text), int(item.get("ttl") or 1))


def record_payload(record: Record) -> dict[str, Any]:
    """JSON body creating ``record`` on Cloudflare; mail records are never proxied."""
    body: dict[str, Any] = {"name": record.name, "type": record.rtype, "ttl": record.ttl, "proxied": False}
    parts = record.value.split()
    if record.rtype == "MX":
        body.update(priority=int(parts[0]), content=parts[1].rstrip("."))
    elif record.rtype == "SRV":
        body["data"] = {"priority": int(parts[0]), "weight": int(parts[1]), "port": int(parts[2]),
                        "target": parts[3].rstrip(".")}
    elif record.rtype == "TLSA":
        body["data"] = {"usage": int(parts[0]), "selector": int(parts[1]), "matching_type": int(parts[2]),
                        "certificate": parts[3]}
    elif record.rtype == "CNAME":
        body["content"] = record.value.rstrip(".")
    elif record.rtype == "TXT":
        body["content"] = record.wire_text()
    else:
        body["content"] = record.value
    return body
