"""DOUBLE of Mailu's internal endpoints (/internal/...), release 2024.06 — not Mailu.

Real Mailu wires its services to the admin container through these endpoints, reachable only inside
the compose network: Postfix asks its tables through podop (``/internal/postfix/...``), Dovecot its
users (``/internal/dovecot/...``), Rspamd the DKIM keys (a Vault-shaped ``/internal/rspamd/vault``),
and the front (nginx mail proxy) every login (``/internal/auth/email``, nginx's auth_http protocol:
the answer is in ``Auth-*`` headers, always status 200). Cross-checked with Mailu's
core/admin/mailu/internal sources. Like the API, one double serves many servers, by path prefix:

    http://<double>/<mail host>/internal/...

The testbed's mail stack (testbed/mailstack) is the only client; it reaches these endpoints on the
hosts' bridge. Not served: SRS rewriting (``/postfix/recipient/map`` and ``/postfix/sender/map``
answer 404, as Mailu does for every address that is not an SRS one), sieve scripts and fetchmail.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, jsonify, request

from testbed.doubles.mailu import MailuServer, check_password, dkim_public_key

internal = Blueprint("mailu_internal", __name__, url_prefix="/<mail_host>/internal")

# nginx.py STATUSES: (Auth-Status, Auth-Error-Code per protocol).
STATUSES = {
    "authentication": ("Authentication credentials invalid", {
        "imap": "AUTHENTICATIONFAILED", "smtp": "535 5.7.8", "submission": "535 5.7.8",
        "pop3": "-ERR Authentication failed", "sieve": "AuthFailed"}),
    "ratelimit": ("Temporary authentication failure (rate-limit)", {
        "imap": "LIMIT", "smtp": "451 4.3.2", "submission": "451 4.3.2",
        "pop3": "-ERR [LOGIN-DELAY] Retry later", "sieve": "AuthFailed"}),
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")
_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(text: str) -> tuple[int, float] | None:
    """Mailu's limits (``200/day``) as (count, window seconds); None when unlimited or unreadable."""
    match = _RATE.match(text or "")
    return (int(match[1]), float(_PERIODS[match[2]])) if match else None


@internal.url_value_preprocessor
def _pick_server(endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.mail_host = (values or {}).pop("mail_host", None)


@internal.before_request
def _server_up() -> Any:
    server = current_app.extensions["mailu_double"].servers.get(g.mail_host)
    if server is None:
        abort(502, f"DOUBLE: no Mailu server {g.mail_host!r} registered on this double")
    g.mailu_server = server
    return None


def _server() -> MailuServer:
    return g.mailu_server


def resolve_domain(server: MailuServer, email: str) -> tuple[str | None, str]:
    """models.Email.resolve_domain: (local part or None, domain with alternatives resolved)."""
    localpart, domain = email.rsplit("@", 1) if "@" in email else (None, email)
    return localpart, server.alternatives.get(domain, domain)


def _alias(server: MailuServer, localpart: str | None, domain: str) -> dict | None:
    """Alias.resolve: the exact alias first, then a wildcard one (SQL LIKE: % and _)."""
    if localpart is None:
        return None
    email = f"{localpart}@{domain}"
    if email in server.aliases:
        return server.aliases[email]
    for name, record in server.aliases.items():
        if record["wildcard"]:
            pattern = re.escape(name).replace("%", ".*").replace("_", ".")
            if re.fullmatch(pattern, email):
                return record
    return None


def resolve_destination(server: MailuServer, localpart: str, domain: str,
                        ignore_forward_keep: bool = False) -> list[str] | None:
    """models.Email.resolve_destination (no recipient delimiter: Mailu's default is none)."""
    email = f"{localpart}@{domain}"
    user = server.users.get(email)
    if user is not None:
        if not user["forward_enabled"]:
            return [email]
        destination = list(user["forward_destination"])
        if user["forward_keep"] or ignore_forward_keep:
            destination.append(email)
        return destination
    alias = _alias(server, localpart, domain)
    return list(alias["destination"]) if alias else None


def _found(value: Any) -> Any:
    return jsonify(value)


# -- Postfix (through podop's socketmap)
@internal.get("/postfix/domain/<domain_name>")
def postfix_domain(domain_name: str) -> Any:
    server = _server()
    if re.match(r"^\[.*\]$", domain_name):
        abort(404)
    if domain_name in server.domains:
        return _found(domain_name)
    if domain_name in server.alternatives:
        return _found(domain_name)
    abort(404)


@internal.get("/postfix/mailbox/<path:email>")
def postfix_mailbox(email: str) -> Any:
    return _found(email) if email in _server().users else abort(404)


@internal.get("/postfix/alias/<path:alias>")
def postfix_alias(alias: str) -> Any:
    server = _server()
    localpart, domain = resolve_domain(server, alias)
    if localpart is None:
        return _found(domain)
    destinations = resolve_destination(server, localpart, domain)
    return _found(",".join(destinations)) if destinations else abort(404)


@internal.get("/postfix/transport/<path:email>")
def postfix_transport(email: str) -> Any:
    server = _server()
    if email == "*" or re.match(r"(^|.*@)\[.*\]$", email):
        abort(404)
    _, domain = resolve_domain(server, email)
    relay = server.relays.get(domain) or abort(404)
    return _found(_transport(relay["name"], relay.get("smtp") or ""))


def _transport(name: str, smtp: str) -> str:
    """views/postfix.py's rendering of a relay's smtp field: an optional mx: or lmtp: prefix, a host
    (an IPv6 address in brackets), an optional :port; 400 for what Mailu cannot render."""
    target = smtp.lower()
    use_mx, use_lmtp = target.startswith("mx:"), target.startswith("lmtp:")
    target = target[3:] if use_mx else target[5:] if use_lmtp else target
    port = None
    if target.startswith("["):
        if use_mx or "]" not in target:
            abort(400)
        host, rest = target[1:].split("]", 1)
        if rest.startswith(":"):
            port = rest[1:]
        elif rest:
            abort(400)
    elif ":" in target:
        host, port = target.rsplit(":", 1)
    else:
        host = target
    if not host:
        if use_lmtp:
            abort(400)
        host, use_mx = name.lower(), True
    if ":" in host:
        host = f"ipv6:{host}"
    else:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            abort(400)
    if port is not None:
        if not re.fullmatch(r"\s*[+-]?\d+\s*", port):
            abort(400)
        port = str(int(port, 10))
    if host.startswith("ipv6:") or not (use_lmtp or use_mx):
        host = f"[{host}]"
    return f"{'lmtp' if use_lmtp else 'smtp'}:{host}{'' if port is None else ':' + port}"


@internal.get("/postfix/dane/<domain_name>")
def postfix_dane(domain_name: str) -> Any:
    abort(404)  # no DNSSEC-signed zone on the testbed: no DANE-only destination


@internal.get("/postfix/recipient/map/<path:recipient>")
@internal.get("/postfix/sender/map/<path:sender>")
def postfix_srs(**_: str) -> Any:
    abort(404)


@internal.get("/postfix/sender/login/<path:sender>")
def postfix_sender_login(sender: str) -> Any:
    server = _server()
    localpart, domain = resolve_domain(server, sender)
    if localpart is None:
        abort(404)
    destinations = set(resolve_destination(server, localpart, domain, True) or [])
    destinations.update(e for e, u in server.users.items() if u["allow_spoofing"])
    return _found(",".join(sorted(destinations))) if destinations else abort(404)


@internal.get("/postfix/sender/rate/<path:sender>")
def postfix_sender_rate(sender: str) -> Any:
    """MESSAGE_RATELIMIT per authenticated sender: 404 lets the message through."""
    server = _server()
    if sender not in server.users:
        abort(404)
    limit = parse_rate(server.message_ratelimit)
    if limit is None:
        abort(404)
    state = current_app.extensions["mailu_double"]
    with state.lock:
        if state.hit(("sender", server.hostname, sender), *limit):
            abort(404)
    return _found("450 4.2.1 You are sending too many emails too fast.")


# -- Dovecot (through podop's dict)
@internal.get("/dovecot/passdb/<path:user_email>")
def dovecot_passdb(user_email: str) -> Any:
    server = _server()
    if user_email not in server.users:
        abort(404)
    return jsonify({"password": None, "nopassword": "Y", "allow_real_nets": server.subnet})


@internal.get("/dovecot/userdb/")
def dovecot_userdb_list() -> Any:
    return jsonify([e for e, u in _server().users.items() if u["enabled"]])


@internal.get("/dovecot/userdb/<path:user_email>")
def dovecot_userdb(user_email: str) -> Any:
    user = _server().users.get(user_email) or abort(404)
    return jsonify({"quota_rule": f"*:bytes={user['quota_bytes']}"})


@internal.post("/dovecot/quota/<ns>/<path:user_email>")
def dovecot_quota(ns: str, user_email: str) -> Any:
    state = current_app.extensions["mailu_double"]
    with state.lock:
        user = _server().users.get(user_email) or abort(404)
        if ns == "storage":
            used = request.get_json(silent=True)
            if isinstance(used, int) and not isinstance(used, bool) and used >= 0:
                user["quota_bytes_used"] = used
                state.save()
    return jsonify(None)


# -- Rspamd: the DKIM key, shaped like a HashiCorp Vault KV answer
@internal.get("/rspamd/vault/v1/dkim/<domain_name>")
def rspamd_dkim_key(domain_name: str) -> Any:
    server = _server()
    selectors = []
    domain = server.domains.get(domain_name)
    if domain and domain["dkim_key"]:
        selectors.append({"domain": domain_name, "key": domain["dkim_key"], "selector": server.dkim_selector,
                          "pubkey": dkim_public_key(domain["dkim_key"])})
    return jsonify({"data": {"selectors": selectors}})


@internal.get("/rspamd/local_domains")
def rspamd_local_domains() -> Any:
    server = _server()
    return Response("\n".join([*server.domains, *server.alternatives]), mimetype="text/plain")


# -- the front's logins (nginx auth_http)
def _auth_answer(status: str, protocol: str, **extra: Any) -> Response:
    text, codes = STATUSES[status]
    response = Response("")
    response.headers.update({"Auth-Status": text, "Auth-Error-Code": codes.get(protocol, codes["smtp"]),
                             "Auth-Wait": "0", **{k: str(v) for k, v in extra.items()}})
    return response


@internal.get("/auth/email")
def auth_email() -> Any:
    """The front's login check: plain/login methods only (the testbed stack sends no "none")."""
    server = _server()
    state = current_app.extensions["mailu_double"]
    headers = request.headers
    client_ip = headers.get("Client-Ip", "")
    protocol = headers.get("Auth-Protocol", "").lower()
    if protocol not in STATUSES["authentication"][1] or headers.get("Auth-Method", "").lower() not in (
            "plain", "login"):
        abort(400, "DOUBLE: only plain/login logins of imap, pop3, smtp, submission, sieve are served")
    user_email = urllib.parse.unquote(headers.get("Auth-User", ""))
    password = urllib.parse.unquote(headers.get("Auth-Pass", ""))
    with state.lock:
        if client_ip not in state.exempt and state.rate_limited(server.hostname, client_ip):
            return _auth_answer("ratelimit", protocol)
        user = server.users.get(user_email)
        allowed = user is not None and user["enabled"] and user.get(f"enable_{protocol}", True)
        if allowed and check_password(user["password"], password):
            state.exempt.add(client_ip)
            response = Response("")
            response.headers.update({"Auth-Status": "OK", "Auth-Server": "127.0.0.1",
                                     "Auth-Port": headers.get("Auth-Port", ""), "Auth-User": user_email,
                                     "Auth-User-Exists": "True"})
            return response
        if user is not None:
            state.hit(("user", server.hostname, user_email, client_ip), *state.user_ratelimit)
        elif client_ip not in state.exempt:
            state.record_failure(server.hostname, client_ip)
    return _auth_answer("authentication", protocol, **{"Auth-User": user_email,
                                                       "Auth-User-Exists": user is not None})


# -- autoconfig (what the front proxies for /mail/config-v1.1.xml)
@internal.get("/autoconfig/mozilla")
def autoconfig_mozilla() -> Any:
    server = _server()
    host = server.hostname
    email = request.args.get("emailaddress", "")
    domain = email.rsplit("@", 1)[-1] if "@" in email else server.domain
    if domain not in server.domains:
        domain = server.domain
    xml = f"""<?xml version="1.0"?>
<clientConfig version="1.1">
<emailProvider id="{domain}">
<domain>{domain}</domain>
<displayName>Email</displayName>
<displayShortName>Email</displayShortName>
<incomingServer type="imap">
<hostname>{host}</hostname>
<port>993</port>
<socketType>SSL</socketType>
<username>%EMAILADDRESS%</username>
<authentication>password-cleartext</authentication>
</incomingServer>
<outgoingServer type="smtp">
<hostname>{host}</hostname>
<port>465</port>
<socketType>SSL</socketType>
<username>%EMAILADDRESS%</username>
<authentication>password-cleartext</authentication>
<addThisServer>true</addThisServer>
<useGlobalPreferredServer>true</useGlobalPreferredServer>
</outgoingServer>
</emailProvider>
</clientConfig>
"""
    return Response(xml, mimetype="application/xml")


def hosts_facing(app: Any) -> Any:
    """What the double serves on the testbed hosts' bridge: /internal and a server's registration
    (what its mail stack does in place of compose up), never the admin API."""

    def wsgi(environ: dict, start_response: Any) -> Any:
        parts = environ.get("PATH_INFO", "").split("/")
        registration = environ.get("REQUEST_METHOD") == "PUT" and parts[1:3] == ["_double", "servers"]
        if (len(parts) > 2 and parts[2] == "internal") or (registration and len(parts) == 4):
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("X-Mailfleet-Double", "mailu")])
        return [b"DOUBLE: only /<mail host>/internal/ and registration are served to testbed hosts\n"]

    return wsgi
