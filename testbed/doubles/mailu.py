"""DOUBLE of Mailu's admin REST API (/api/v1), release 2024.06 — not Mailu.

Follows Mailu 2024.06's admin API to the letter (what it answers in the cases mailfleet relies on
is written down in tests/unit/mailu/recorded/mailu-2024.06.json, and tested): Bearer token; a
missing header is 401; a wrong token is 403 AND counts against a per-client-IP limiter (X-Real-IP,
else the peer address), after which every request from that IP gets 429 until the window passes;
every success is 200 with
``{"code": 200, "message": ...}``; 400 validation, 404 missing, 409 duplicate or limit reached;
``GET /domain/<invalid>`` answers 200 with an error body; ``/tokenuser/<email>`` has no slash.

Many Mailu servers at once (one per tenant mail host on the testbed), chosen by PATH PREFIX:

    http://<double address>/<mail host>/api/v1/...      e.g. /mail.acme.test/api/v1/domain

so a client's ``base_url`` is ``http://<double>/<mail host>/api/v1``. A server exists once it is
registered through the double's control API (what ``docker compose up`` does for a real server):

    PUT  /_double/servers/<mail host>  {"api_token", "domain", "hostnames": [...],
          "initial_admin_account", "initial_admin_domain", "initial_admin_pw",
          "initial_admin_mode": "ifmissing", "dkim_selector", "dmarc_rua", "dmarc_ruf",
          "tls_flavor", "ports", "default_quota"}             -> 200 (idempotent)
    GET  /_double/servers                                     -> registered host names
    DELETE /_double/servers/<mail host>
    PUT  /_double/servers/<mail host>/usage/<email> {"quota_bytes_used": n}   (simulated mail)
    POST /_double/reset

State lives in memory; with ``state_file`` it is also written (JSON, 0600) after every change and
read at start, so a demo survives a restart of the double. Every answer carries the header
``X-Mailfleet-Double: mailu``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Blueprint, Flask, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

__all__ = ["MailuDoubleState", "MailuServer", "create_app"]

DOUBLE_HEADER = ("X-Mailfleet-Double", "mailu")

# Mailu validates with the `validators` package; these are equivalent for the names we use.
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)((?!-)[a-z0-9-]{1,63}(?<!-)\.)+[a-z][a-z0-9-]*[a-z0-9]$", re.I)
_EMAIL_RE = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@(?P<domain>[^@]+)$", re.I)
_BCRYPT_B64 = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
)

_BCRYPT_B64_BACK = {v: k for k, v in _BCRYPT_B64.items()}

DOMAIN_FIELDS = {
    "comment": str, "max_users": int, "max_aliases": int, "max_quota_bytes": int,
    "signup_enabled": bool, "alternatives": list,
}
USER_FIELDS = {
    "raw_password": str, "comment": str, "quota_bytes": int, "global_admin": bool, "enabled": bool,
    "change_pw_next_login": bool, "enable_imap": bool, "enable_pop": bool, "allow_spoofing": bool,
    "forward_enabled": bool, "forward_destination": list, "forward_keep": bool, "reply_enabled": bool,
    "reply_subject": str, "reply_body": str, "reply_startdate": str, "reply_enddate": str,
    "displayed_name": str, "spam_enabled": bool, "spam_mark_as_read": bool, "spam_threshold": int,
}
ALIAS_FIELDS = {"comment": str, "destination": list, "wildcard": bool}
RELAY_FIELDS = {"smtp": str, "comment": str}
TOKEN_FIELDS = {"comment": str, "AuthorizedIP": list}


def valid_domain(name: Any) -> bool:
    return isinstance(name, str) and bool(_DOMAIN_RE.match(name))


def valid_email(address: Any) -> bool:
    if not isinstance(address, str):
        return False
    match = _EMAIL_RE.match(address)
    return match is not None and valid_domain(match["domain"])


def bcrypt_like_hash(password: str) -> str:
    """A hash shaped like Mailu's ``$bcrypt-sha256$v=2,t=2b,r=12$<salt>$<hash>`` (PBKDF2 inside)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 1000)
    salt_b64 = base64.b64encode(salt).decode().rstrip("=").translate(_BCRYPT_B64)[:22]
    hash_b64 = base64.b64encode(digest).decode().rstrip("=").translate(_BCRYPT_B64)[:31]
    return f"$bcrypt-sha256$v=2,t=2b,r=12${salt_b64}${hash_b64}"


def check_password(stored: str, password: str) -> bool:
    """Verify a password against a hash made by bcrypt_like_hash."""
    try:
        _, _, _, salt_b64, hash_b64 = stored.split("$")
        standard = salt_b64.translate(_BCRYPT_B64_BACK)
        salt = base64.b64decode(standard + "=" * (-len(standard) % 4))[:16]
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 1000)
    expected = base64.b64encode(digest).decode().rstrip("=").translate(_BCRYPT_B64)[:31]
    return hmac.compare_digest(expected, hash_b64)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass
class MailuServer:
    """One simulated Mailu server: its mailu.env settings and its database."""

    hostname: str
    api_token: str
    domain: str
    hostnames: list[str] = field(default_factory=list)
    dkim_selector: str = "dkim"
    dmarc_rua: str = ""
    dmarc_ruf: str = ""
    tls_flavor: str = "cert"
    ports: str = "25,80,443,465,993,995,4190"  # PORTS of mailu.env; Mailu's default, the wizard sets none
    default_quota: int = 10**9
    subnet: str = "127.0.0.1/32"  # SUBNET: where the services that /internal trusts run
    message_ratelimit: str = "200/day"  # MESSAGE_RATELIMIT, per authenticated sender
    domains: dict[str, dict] = field(default_factory=dict)
    alternatives: dict[str, str] = field(default_factory=dict)
    users: dict[str, dict] = field(default_factory=dict)
    aliases: dict[str, dict] = field(default_factory=dict)
    relays: dict[str, dict] = field(default_factory=dict)
    tokens: dict[str, dict] = field(default_factory=dict)
    next_token_id: int = 1

    def fqdn_in_use(self, name: str) -> bool:
        return name in self.domains or name in self.alternatives or name in self.relays

    def new_domain(self, name: str, **fields: Any) -> dict:
        record = {
            "name": name, "comment": "", "max_users": -1, "max_aliases": -1, "max_quota_bytes": 0,
            "signup_enabled": False, "managers": [], "dkim_key": None,
        }
        record.update(fields)
        self.domains[name] = record
        return record

    def new_user(self, email: str, raw_password: str, **fields: Any) -> dict:
        record = {
            "email": email, "password": bcrypt_like_hash(raw_password), "comment": "",
            "quota_bytes": self.default_quota, "quota_bytes_used": 0, "global_admin": False,
            "enabled": True, "change_pw_next_login": False, "enable_imap": True, "enable_pop": True,
            "allow_spoofing": False, "forward_enabled": False, "forward_destination": [],
            "forward_keep": True, "reply_enabled": False, "reply_subject": None, "reply_body": None,
            "reply_startdate": "1900-01-01", "reply_enddate": "2999-12-31", "displayed_name": "",
            "spam_enabled": True, "spam_mark_as_read": True, "spam_threshold": 80,
        }
        record.update(fields)
        self.users[email] = record
        return record

    def domain_view(self, name: str) -> dict:
        """GET /domain/{d}: the DomainGet model, with the ready zone lines Mailu renders."""
        record = self.domains[name]
        view = {k: record[k] for k in DOMAIN_FIELDS if k in record and k != "alternatives"}
        view["name"] = name
        view["managers"] = list(record["managers"])
        view["alternatives"] = sorted(a for a, d in self.alternatives.items() if d == name)
        host = self.hostnames[0] if self.hostnames else self.hostname  # Mailu's HOSTNAME
        view["dns_mx"] = f"{name}. 600 IN MX 10 {host}."
        view["dns_spf"] = f'{name}. 600 IN TXT "v=spf1 mx a:{host} ~all"'
        view["dns_dkim"] = view["dns_dmarc"] = view["dns_dmarc_report"] = None
        if record["dkim_key"]:
            # One quoted string, longer than 255 characters: Mailu leaves splitting to whoever
            # publishes it.
            key = dkim_public_key(record["dkim_key"])
            view["dns_dkim"] = f'{self.dkim_selector}._domainkey.{name}. 600 IN TXT "v=DKIM1; k=rsa; p={key}"'
            rua = f" rua=mailto:{self.dmarc_rua}@{self.domain};" if self.dmarc_rua else ""
            ruf = f" ruf=mailto:{self.dmarc_ruf}@{self.domain};" if self.dmarc_ruf else ""
            view["dns_dmarc"] = f'_dmarc.{name}. 600 IN TXT "v=DMARC1; p=reject;{rua}{ruf} adkim=s; aspf=s"'
            view["dns_dmarc_report"] = f'{name}._report._dmarc.{self.domain}. 600 IN TXT "v=DMARC1;"'
        # RFC 6186 SRV records; a service whose port is not in PORTS is published as "not offered".
        ports = {int(port) for port in self.ports.split(",") if port.strip()} | {465, 993}
        protocols = [("imap", 143, 20), ("pop3", 110, 20), ("submission", 587, 20)]
        if self.tls_flavor != "notls":
            protocols += [("autodiscover", 443, 10), ("submissions", 465, 10), ("imaps", 993, 10),
                          ("pop3s", 995, 10)]
        view["dns_autoconfig"] = [
            f"_{proto}._tcp.{name}. 600 IN SRV {prio} 1 {port} {host}." if port in ports
            else f"_{proto}._tcp.{name}. 600 IN SRV 0 0 0 ."
            for proto, port, prio in protocols
        ] + [f"autoconfig.{name}. 600 IN CNAME {host}.", f"autodiscover.{name}. 600 IN CNAME {host}."]
        view["dns_tlsa"] = []
        if self.tls_flavor in ("letsencrypt", "mail-letsencrypt"):
            # The two Let's Encrypt roots (ISRG Root X1, RSA; ISRG Root X2, ECDSA), as Mailu pins them.
            view["dns_tlsa"] = [f"_25._tcp.{host}. 86400 IN TLSA 2 1 1 {digest}" for digest in ISRG_ROOTS]
        return view

    def user_view(self, email: str) -> dict:
        return dict(self.users[email])

    def alias_view(self, email: str) -> dict:
        record = self.aliases[email]
        return {"email": email, "destination": list(record["destination"]), "comment": record["comment"],
                "wildcard": record["wildcard"]}

    def token_view(self, token_id: str) -> dict:
        record = self.tokens[token_id]
        return {"id": token_id, "email": record["email"], "comment": record["comment"],
                "AuthorizedIP": list(record["AuthorizedIP"]), "Created": record["Created"],
                "Last edit": record["Last edit"]}


#: SHA-256 of the SubjectPublicKeyInfo of ISRG Root X1 and ISRG Root X2 (TLSA 2 1 1).
ISRG_ROOTS = (
    "0b9fa5a59eed715c26c1020c711b4f6ec42d58b0015e14337a39dad301c5afc3",
    "762195c225586ee6c0237456e2107dc54f1efc21f61a792ebd515913cce68332",
)


def generate_dkim_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def dkim_public_key(private_pem: str) -> str:
    """Base64 DER SubjectPublicKeyInfo, what Mailu's dkim.strip_key puts after ``p=``."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


class MailuDoubleState:
    """All simulated servers plus the per-(server, client IP) failed-auth counters."""

    def __init__(
        self, path: str | Path | None = None, *, auth_ratelimit: int = 5, auth_window: float = 3600.0
    ) -> None:
        self.path = Path(path) if path else None
        self.auth_ratelimit = auth_ratelimit  # AUTH_RATELIMIT_IP, e.g. 5/hour
        self.auth_window = auth_window
        self.lock = threading.RLock()
        self.servers: dict[str, MailuServer] = {}
        self.failures: dict[tuple[str, str], list[float]] = {}
        # The other limiters (per sender, per user and IP) and the IPs a good login exempted.
        self.counters: dict[tuple[str, ...], list[float]] = {}
        self.exempt: set[str] = set()
        self.user_ratelimit = (50, 86400.0)  # AUTH_RATELIMIT_USER, 50/day
        if self.path and self.path.exists():
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        data = json.loads(self.path.read_text())
        self.servers = {name: MailuServer(**server) for name, server in data.get("servers", {}).items()}

    def save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"servers": {n: asdict(s) for n, s in self.servers.items()}}, handle)
        os.replace(tmp, self.path)

    def register(self, hostname: str, settings: dict[str, Any]) -> MailuServer:
        """Create (or reconfigure) a server, then apply INITIAL_ADMIN_* like Mailu's admin start."""
        known = {f for f in MailuServer.__dataclass_fields__ if f not in {
            "hostname", "domains", "alternatives", "users", "aliases", "relays", "tokens", "next_token_id"}}
        admin_keys = {f"initial_admin_{k}" for k in ("account", "domain", "pw", "mode")}
        unknown = set(settings) - known - admin_keys
        if unknown:
            raise ValueError(f"unknown server setting(s): {', '.join(sorted(unknown))}")
        if not isinstance(settings.get("api_token"), str) or len(settings["api_token"]) < 4:
            raise ValueError("api_token (at least 4 characters) is required")
        if not valid_domain(settings.get("domain")):
            raise ValueError("domain (the DOMAIN of mailu.env) must be a domain name")
        config = {k: v for k, v in settings.items() if k in known}
        server = self.servers.get(hostname)
        if server is None:
            server = self.servers[hostname] = MailuServer(hostname=hostname, **config)
        else:
            for key, value in config.items():
                setattr(server, key, value)
        account, domain = settings.get("initial_admin_account"), settings.get("initial_admin_domain")
        password, mode = settings.get("initial_admin_pw"), settings.get("initial_admin_mode", "ifmissing")
        if account and domain and password:
            email = f"{account}@{domain}".lower()
            if domain.lower() not in server.domains:
                server.new_domain(domain.lower())
            if email not in server.users:
                server.new_user(email, password, global_admin=True)
            elif mode == "update":
                server.users[email]["password"] = bcrypt_like_hash(password)
        return server

    # -- the limiter Mailu keeps in Redis, per client IP
    def rate_limited(self, hostname: str, ip: str) -> bool:
        now = time.monotonic()
        hits = [t for t in self.failures.get((hostname, ip), []) if now - t < self.auth_window]
        self.failures[(hostname, ip)] = hits
        return len(hits) >= self.auth_ratelimit

    def record_failure(self, hostname: str, ip: str) -> None:
        self.failures.setdefault((hostname, ip), []).append(time.monotonic())

    def hit(self, key: tuple[str, ...], count: int, window: float) -> bool:
        """Count one event; False (nothing counted) when `count` were already seen in `window`."""
        now = time.monotonic()
        recent = self.counters[key] = [t for t in self.counters.get(key, []) if now - t < window]
        if len(recent) >= count:
            return False
        recent.append(now)
        return True


# ---------------------------------------------------------------------------------------- helpers
def _reply(code: int, message: str) -> tuple[Any, int]:
    return jsonify({"code": code, "message": message}), code


def _abort(code: int, message: str) -> tuple[Any, int]:
    # flask_restx.abort shape: {"message": ...} only.
    return jsonify({"message": message}), code


def _payload(required: tuple[str, ...], allowed: Mapping[str, type]) -> dict | tuple[Any, int]:
    """restx ``validate=True``: JSON object, required keys present, known keys of the right type."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return jsonify({"message": "Input payload validation failed",
                        "errors": {"": "payload must be a JSON object"}}), 400
    errors = {}
    for key in required:
        if key not in data:
            errors[key] = f"'{key}' is a required property"
    for key, kind in allowed.items():
        if key in data and data[key] is not None:
            value = data[key]
            bad = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
            if bad:
                errors[key] = f"{value!r} is not of type '{kind.__name__}'"
    if errors:
        return jsonify({"errors": errors, "message": "Input payload validation failed"}), 400
    return data


def _server() -> MailuServer:
    return g.mailu_server


def _state() -> MailuDoubleState:
    return current_app.extensions["mailu_double"]


# ---------------------------------------------------------------------------------------- the API
api = Blueprint("mailu_api", __name__, url_prefix="/<mail_host>/api/v1")


@api.url_value_preprocessor
def _pick_server(endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.mail_host = (values or {}).pop("mail_host", None)


@api.before_request
def _authenticate() -> Any:
    """Mailu's api_token_authorization: 429 check, then 401, then 403 counted per IP."""
    state = _state()
    server = state.servers.get(g.mail_host)
    if server is None:
        # A mail host whose Mailu is not up (yet): its front answers 502 until the admin starts.
        code = 502 if valid_domain(g.mail_host) else 404
        return _abort(code, f"DOUBLE: no Mailu server {g.mail_host!r} registered on this double")
    g.mailu_server = server
    client_ip = request.headers.get("X-Real-IP", request.remote_addr or "")
    with state.lock:
        if state.rate_limited(server.hostname, client_ip):
            return _abort(429, "Too many attempts from your IP (rate-limit)")
        header = request.headers.get("Authorization")
        if not header:
            return _abort(401, "A valid Authorization header is mandatory")
        presented = header.removeprefix("Bearer ")
        if not hmac.compare_digest(presented.encode(), server.api_token.encode()):
            state.record_failure(server.hostname, client_ip)
            return _abort(403, "Invalid API token")
    return None


def _route(rule: str, methods: list[str]) -> Callable:
    """Register a view that runs under the state lock and saves the state after a change."""

    def decorator(view: Callable) -> Callable:
        def wrapped(**kwargs: Any) -> Any:
            state = _state()
            with state.lock:
                result = view(**kwargs)
                if request.method != "GET":
                    state.save()
                return result

        wrapped.__name__ = view.__name__
        api.add_url_rule(rule, view_func=wrapped, methods=methods)
        return view

    return decorator


# -- domains
@_route("/domain", ["GET"])
def list_domains() -> Any:
    server = _server()
    views = [server.domain_view(n) for n in server.domains]
    return jsonify([{k: v for k, v in view.items() if v is not None} for view in views])  # skip_none


@_route("/domain", ["POST"])
def create_domain() -> Any:
    server = _server()
    data = _payload(("name",), {"name": str, **DOMAIN_FIELDS})
    if not isinstance(data, dict):
        return data
    name = data["name"].lower()
    if not valid_domain(name):
        return _reply(400, f"Domain {data['name']} is not a valid domain")
    if server.fqdn_in_use(name):
        return _reply(409, f"Duplicate domain name {name}")
    alternatives = [a.lower() for a in data.get("alternatives") or []]
    if len(set(alternatives)) != len(alternatives):
        return _reply(409, "Duplicate alternative domain names in request")
    for item in alternatives:
        if server.fqdn_in_use(item):
            return _reply(409, f"Duplicate alternative domain name {item}")
        if not valid_domain(item):
            return _reply(400, f"Alternative domain {item} is not a valid domain")
    server.new_domain(name, **{k: v for k, v in data.items() if k in DOMAIN_FIELDS and k != "alternatives"})
    for item in alternatives:
        server.alternatives[item] = name
    return _reply(200, f"Domain {name} has been created")


@_route("/domain/<domain>", ["GET"])
def get_domain(domain: str) -> Any:
    server = _server()
    if not valid_domain(domain):
        # Quirk of the real server: the error body comes with status 200.
        return jsonify({"code": 400, "message": f"Domain {domain} is not a valid domain"}), 200
    if domain.lower() not in server.domains:
        return _reply(404, f"Domain {domain} does not exist")
    return jsonify(server.domain_view(domain.lower()))


@_route("/domain/<domain>", ["PATCH"])
def update_domain(domain: str) -> Any:
    server = _server()
    if not valid_domain(domain):
        return _reply(400, f"Domain {domain} is not a valid domain")
    name = domain.lower()
    if name not in server.domains:
        return _reply(404, f"Domain {domain} does not exist")
    data = _payload((), DOMAIN_FIELDS)
    if not isinstance(data, dict):
        return data
    alternatives = [a.lower() for a in data.get("alternatives") or []]
    if len(set(alternatives)) != len(alternatives):
        return _reply(409, "Duplicate alternative domain names in request")
    for item in alternatives:
        if server.fqdn_in_use(item):
            return _reply(409, f"Duplicate alternative domain name {item}")
        if not valid_domain(item):
            return _reply(400, f"Alternative domain {item} is not a valid domain")
    for item in alternatives:
        server.alternatives[item] = name
    server.domains[name].update({k: v for k, v in data.items() if k in DOMAIN_FIELDS and k != "alternatives"})
    return _reply(200, f"Domain {name} has been updated")


@_route("/domain/<domain>", ["DELETE"])
def delete_domain(domain: str) -> Any:
    server = _server()
    if not valid_domain(domain):
        return _reply(400, f"Domain {domain} is not a valid domain")
    name = domain.lower()
    if name not in server.domains:
        return _reply(404, f"Domain {domain} does not exist")
    # Users, aliases, alternatives and managers go with it (cascade); maildirs would stay on disk.
    del server.domains[name]
    for table in (server.users, server.aliases):
        for email in [e for e in table if e.rsplit("@", 1)[1] == name]:
            del table[email]
    for alt in [a for a, d in server.alternatives.items() if d == name]:
        del server.alternatives[alt]
    return _reply(200, f"Domain {name} has been deleted")


@_route("/domain/<domain>/dkim", ["POST"])
def generate_dkim(domain: str) -> Any:
    server = _server()
    if not valid_domain(domain):
        return _reply(400, f"Domain {domain} is not a valid domain")
    name = domain.lower()
    if name not in server.domains:
        return _reply(404, f"Domain {domain} does not exist")
    server.domains[name]["dkim_key"] = generate_dkim_key()
    return _reply(200, f"DKIM/DMARC keys have been generated for domain {name}")


@_route("/domain/<domain>/users", ["GET"])
def list_domain_users(domain: str) -> Any:
    server = _server()
    if not valid_domain(domain):
        return _reply(400, f"Domain {domain} is not a valid domain")
    name = domain.lower()
    if name not in server.domains:
        return _reply(404, f"Domain {domain} does not exist")
    return jsonify([server.user_view(e) for e in server.users if e.rsplit("@", 1)[1] == name])


@_route("/domain/<domain>/manager", ["GET", "POST"])
def managers(domain: str) -> Any:
    server = _server()
    if not valid_domain(domain):
        return _reply(400, f"Domain {domain} is not a valid domain")
    name = domain.lower()
    if name not in server.domains:
        return _reply(404, f"Domain {domain} does not exist")
    record = server.domains[name]
    if request.method == "GET":
        return jsonify({"managers": list(record["managers"])})
    data = _payload(("user_email",), {"user_email": str})
    if not isinstance(data, dict):
        return data
    email = data["user_email"].lower()
    if not valid_email(email):
        return _reply(400, f"Invalid email address {email}")
    if email not in server.users:
        return _reply(404, f"User {email} does not exist")
    if email in record["managers"]:
        return _reply(409, f"User {email} is already a manager of the domain {name} ")
    record["managers"].append(email)
    return _reply(200, f"User {email} has been added as manager of the domain {name} ")


@_route("/domain/<domain>/manager/<email>", ["GET", "DELETE"])
def manager(domain: str, email: str) -> Any:
    server = _server()
    if not valid_email(email):
        return _reply(400, f"Invalid email address {email}")
    if not valid_domain(domain):
        return _reply(400, f"Domain {domain} is not a valid domain")
    name, email = domain.lower(), email.lower()
    if name not in server.domains:
        return _reply(404, f"Domain {domain} does not exist")
    if email not in server.users:
        return _reply(404, f"User {email} does not exist")
    record = server.domains[name]
    if email not in record["managers"]:
        return _reply(404, f"User {email} is not a manager of the domain {name}")
    if request.method == "GET":
        return _reply(200, f"User {email} is a manager of the domain {name}")
    record["managers"].remove(email)
    return _reply(200, f"User {email} has been removed as a manager of the domain {name} ")


# -- alternatives
@_route("/alternative", ["GET"])
def list_alternatives() -> Any:
    return jsonify([{"name": a, "domain": d} for a, d in _server().alternatives.items()])


@_route("/alternative", ["POST"])
def create_alternative() -> Any:
    server = _server()
    data = _payload(("name", "domain"), {"name": str, "domain": str})
    if not isinstance(data, dict):
        return data
    name, domain = data["name"].lower(), data["domain"].lower()
    if not valid_domain(name):
        return _reply(400, f"Alternative domain {name} is not a valid domain")
    if not valid_domain(domain):
        return _reply(400, f"Domain {domain} is not a valid domain")
    if domain not in server.domains:
        return _reply(404, f"Domain {domain} does not exist")
    if server.fqdn_in_use(name):
        return _reply(409, f"Duplicate alternative domain name {name}")
    server.alternatives[name] = domain
    return _reply(200, f"Alternative {name} for domain {domain} has been created")


@_route("/alternative/<alt>", ["GET", "DELETE"])
def alternative(alt: str) -> Any:
    server = _server()
    if not valid_domain(alt):
        return _reply(400, f"Alternative domain {alt} is not a valid domain")
    name = alt.lower()
    if name not in server.alternatives:
        return _reply(404, f"Alternative domain {alt} does not exist")
    if request.method == "GET":
        return jsonify({"name": name, "domain": server.alternatives[name]})
    domain = server.alternatives.pop(name)
    return _reply(200, f"Alternative {name} for domain {domain} has been deleted")


# -- users
@_route("/user", ["GET"])
def list_users() -> Any:
    server = _server()
    views = [server.user_view(e) for e in server.users]
    return jsonify([{k: v for k, v in view.items() if v is not None} for view in views])  # skip_none


@_route("/user", ["POST"])
def create_user() -> Any:
    server = _server()
    data = _payload(("email", "raw_password"), {"email": str, **USER_FIELDS})
    if not isinstance(data, dict):
        return data
    if not valid_email(data["email"]):
        return _reply(400, f"Provided email address {data['email']} is not a valid email address")
    for dest in data.get("forward_destination") or []:
        if not valid_email(dest):
            return _reply(400, f"Provided forward destination email address {dest} is not a valid "
                               "email address")
    email = data["email"].lower()
    domain = email.rsplit("@", 1)[1]
    if domain not in server.domains:
        return _reply(404, f"Domain {domain} does not exist")
    # Mailu checks the domain's limit before looking for the user, and looks among users only.
    max_users = server.domains[domain]["max_users"]
    count = sum(1 for e in server.users if e.rsplit("@", 1)[1] == domain)
    if max_users != -1 and count >= max_users:
        return _reply(409, f"Too many users for domain {domain}")
    if email in server.users:
        return _reply(409, f"User {data['email']} already exists")
    if data.get("forward_enabled") is True and not data.get("forward_destination"):
        return _reply(400, "forward_destination is mandatory when forward_enabled is true")
    fields = {k: v for k, v in data.items() if k in USER_FIELDS and k != "raw_password"}
    server.new_user(email, data["raw_password"], **fields)
    return _reply(200, f"User {data['email']} has been created")


@_route("/user/<string:email>", ["GET", "PATCH", "DELETE"])
def user(email: str) -> Any:
    server = _server()
    if not valid_email(email):
        return _reply(400, f"Provided email address {email} is not a valid email address")
    email = email.lower()
    if email not in server.users:
        return _reply(404, f"User {email} cannot be found")
    if request.method == "GET":
        return jsonify(server.user_view(email))
    if request.method == "DELETE":
        del server.users[email]
        return _reply(200, f"User {email} has been deleted")
    data = _payload((), USER_FIELDS)
    if not isinstance(data, dict):
        return data
    record = server.users[email]
    for dest in data.get("forward_destination") or []:
        if not valid_email(dest):
            return _reply(400, f"Provided forward destination email address {dest} is not a valid "
                               "email address")
    forwarding = data.get("forward_enabled", record["forward_enabled"]) is True
    if forwarding and data.get("forward_destination") == []:
        return _reply(400, "forward_destination is mandatory when forward_enabled is true")
    for key, value in data.items():
        if key == "raw_password":
            record["password"] = bcrypt_like_hash(value)
        elif key == "forward_destination" and not value:
            continue  # Mailu keeps the old list when given an empty one
        elif key in USER_FIELDS:
            record[key] = value
    return _reply(200, f"User {email} has been updated")


# -- aliases
@_route("/alias", ["GET"])
def list_aliases() -> Any:
    server = _server()
    return jsonify([server.alias_view(e) for e in server.aliases])


def _check_destinations(server: MailuServer, destinations: list) -> tuple[Any, int] | None:
    for dest in destinations:
        if not valid_email(dest):
            return _reply(400, f"Provided destination email address {dest} is not a valid email address")
        if dest.lower() not in server.users:
            return _reply(404, f"Provided destination email address {dest} does not exist")
    return None


@_route("/alias", ["POST"])
def create_alias() -> Any:
    server = _server()
    data = _payload(("email", "destination"), {"email": str, **ALIAS_FIELDS})
    if not isinstance(data, dict):
        return data
    if not valid_email(data["email"]):
        return _reply(400, f"Provided alias {data['email']} is not a valid email address")
    email = data["email"].lower()
    domain = email.rsplit("@", 1)[1]
    if domain not in server.domains:
        return _reply(404, f"Domain {domain} does not exist ({email})")
    max_aliases = server.domains[domain]["max_aliases"]
    count = sum(1 for e in server.aliases if e.rsplit("@", 1)[1] == domain)
    if max_aliases != -1 and count >= max_aliases:
        return _reply(409, f"Too many aliases for domain {domain}")
    problem = _check_destinations(server, data["destination"])
    if problem:
        return problem
    if email in server.aliases:
        return _reply(409, f"Duplicate alias {email}")
    server.aliases[email] = {
        "destination": [d.lower() for d in data["destination"]],
        "comment": data.get("comment") or "",
        "wildcard": bool(data.get("wildcard", False)),
    }
    return _reply(200, f"Alias {email} to destination(s) {data['destination']} has been created")


@_route("/alias/<string:alias>", ["GET", "PATCH", "DELETE"])
def alias(alias: str) -> Any:
    server = _server()
    if not valid_email(alias):
        return _reply(400, f"Provided alias (email address) {alias} is not a valid email address")
    email = alias.lower()
    if email not in server.aliases:
        return _reply(404, f"Alias {email} cannot be found")
    if request.method == "GET":
        return jsonify(server.alias_view(email))
    if request.method == "DELETE":
        del server.aliases[email]
        return _reply(200, f"Alias {email} has been deleted")
    data = _payload((), ALIAS_FIELDS)
    if not isinstance(data, dict):
        return data
    if "destination" in data:
        problem = _check_destinations(server, data["destination"])
        if problem:
            return problem
        server.aliases[email]["destination"] = [d.lower() for d in data["destination"]]
    for key in ("comment", "wildcard"):
        if key in data:
            server.aliases[email][key] = data[key]
    return _reply(200, f"Alias {email} has been updated")


@_route("/alias/destination/<string:domain>", ["GET"])
def list_domain_aliases(domain: str) -> Any:
    server = _server()
    if not valid_domain(domain):
        return _reply(400, f"Domain {domain} is not a valid domain")
    name = domain.lower()
    if name not in server.domains:
        return _reply(404, f"Domain {domain} cannot be found")
    return jsonify([server.alias_view(e) for e in server.aliases if e.rsplit("@", 1)[1] == name])


# -- relays
@_route("/relay", ["GET"])
def list_relays() -> Any:
    return jsonify([dict(r) for r in _server().relays.values()])


@_route("/relay", ["POST"])
def create_relay() -> Any:
    server = _server()
    data = _payload(("name",), {"name": str, **RELAY_FIELDS})
    if not isinstance(data, dict):
        return data
    name = data["name"].lower()
    if not valid_domain(name):
        return _reply(400, f"Relayed domain {name} is not a valid domain")
    if server.fqdn_in_use(name):
        return _reply(409, f"Duplicate domain {name}")
    server.relays[name] = {"name": name, "smtp": data.get("smtp"), "comment": data.get("comment")}
    return _reply(200, f"Relayed domain {name} has been created")


@_route("/relay/<string:name>", ["GET", "PATCH", "DELETE"])
def relay(name: str) -> Any:
    server = _server()
    if not valid_domain(name):
        return _reply(400, f"Relayed domain {name} is not a valid domain")
    name = name.lower()
    if name not in server.relays:
        return _reply(404, f"Relayed domain {name} cannot be found")
    if request.method == "GET":
        return jsonify(dict(server.relays[name]))
    if request.method == "DELETE":
        del server.relays[name]
        return _reply(200, f"Relayed domain {name} has been deleted")
    data = _payload((), RELAY_FIELDS)
    if not isinstance(data, dict):
        return data
    server.relays[name].update({k: v for k, v in data.items() if k in RELAY_FIELDS})
    return _reply(200, f"Relayed domain {name} has been updated")


# -- tokens
def _create_token(server: MailuServer, email: str, data: dict) -> Any:
    if not valid_email(email):
        return _reply(400, f"Provided email address {email} is not a valid email address")
    email = email.lower()
    if email not in server.users:
        return _reply(404, f"User {email} cannot be found")
    token_id = str(server.next_token_id)
    server.next_token_id += 1
    raw = secrets.token_hex(16)
    now = _now()
    record = server.tokens[token_id] = {
        "email": email, "comment": data.get("comment") or "",
        "AuthorizedIP": list(data.get("AuthorizedIP") or []),
        "password": bcrypt_like_hash(raw), "Created": now, "Last edit": now,
    }
    # The new token is in this answer only; Mailu keeps just its hash.
    return jsonify({"id": token_id, "token": raw, "email": email, "comment": record["comment"],
                    "AuthorizedIP": record["AuthorizedIP"], "Created": now})


@_route("/token", ["GET"])
def list_tokens() -> Any:
    server = _server()
    return jsonify([server.token_view(t) for t in server.tokens])


@_route("/token", ["POST"])
def create_token() -> Any:
    data = _payload(("email",), {"email": str, **TOKEN_FIELDS})
    if not isinstance(data, dict):
        return data
    return _create_token(_server(), data["email"], data)


# Quirk of the real server: the namespace is /token and the route 'user/<email>', no slash between.
@_route("/tokenuser/<string:email>", ["GET", "POST"])
def user_tokens(email: str) -> Any:
    server = _server()
    if request.method == "POST":
        data = _payload((), TOKEN_FIELDS)
        if not isinstance(data, dict):
            return data
        return _create_token(server, email, data)
    if not valid_email(email):
        return _reply(400, f"Provided email address {email} is not a valid email address")
    email = email.lower()
    if email not in server.users:
        return _reply(404, f"User {email} cannot be found")
    return jsonify([server.token_view(t) for t, r in server.tokens.items() if r["email"] == email])


@_route("/token/<string:token_id>", ["GET", "PATCH", "DELETE"])
def token(token_id: str) -> Any:
    server = _server()
    if token_id not in server.tokens:
        return _reply(404, f"Record cannot be found for id {token_id} or invalid id provided")
    if request.method == "GET":
        return jsonify(server.token_view(token_id))
    if request.method == "DELETE":
        del server.tokens[token_id]
        return _reply(200, f"Token with id {token_id} has been deleted")
    data = _payload((), TOKEN_FIELDS)
    if not isinstance(data, dict):
        return data
    server.tokens[token_id].update({k: v for k, v in data.items() if k in TOKEN_FIELDS})
    server.tokens[token_id]["Last edit"] = _now()
    return _reply(200, f"Token with id {token_id} has been updated")


# ---------------------------------------------------------------------------- control (double only)
control = Blueprint("mailu_double_control", __name__, url_prefix="/_double")


@control.get("/servers")
def control_list() -> Any:
    return jsonify(sorted(_state().servers))


@control.put("/servers/<mail_host>")
def control_register(mail_host: str) -> Any:
    state = _state()
    settings = request.get_json(silent=True)
    if not isinstance(settings, dict):
        return _abort(400, "JSON object of server settings expected")
    if not valid_domain(mail_host):
        return _abort(400, f"{mail_host!r} is not a host name")
    with state.lock:
        try:
            state.register(mail_host.lower(), settings)
        except (TypeError, ValueError) as exc:
            return _abort(400, str(exc))
        state.save()
    return _reply(200, f"DOUBLE: Mailu server {mail_host} is up")


@control.delete("/servers/<mail_host>")
def control_remove(mail_host: str) -> Any:
    state = _state()
    with state.lock:
        if state.servers.pop(mail_host.lower(), None) is None:
            return _abort(404, f"no server {mail_host}")
        state.save()
    return _reply(200, f"DOUBLE: Mailu server {mail_host} removed")


@control.put("/servers/<mail_host>/usage/<email>")
def control_usage(mail_host: str, email: str) -> Any:
    state = _state()
    data = request.get_json(silent=True) or {}
    used = data.get("quota_bytes_used")
    if not isinstance(used, int) or isinstance(used, bool) or used < 0:
        return _abort(400, "quota_bytes_used must be a non-negative integer")
    with state.lock:
        server = state.servers.get(mail_host.lower())
        if server is None or email.lower() not in server.users:
            return _abort(404, f"no user {email} on {mail_host}")
        server.users[email.lower()]["quota_bytes_used"] = used
        state.save()
    return _reply(200, "usage set")


@control.post("/reset")
def control_reset() -> Any:
    state = _state()
    with state.lock:
        state.servers.clear()
        state.failures.clear()
        state.counters.clear()
        state.exempt.clear()
        state.save()
    return _reply(200, "DOUBLE: all Mailu servers removed")


def create_app(
    state: MailuDoubleState | None = None,
    *,
    state_file: str | Path | None = None,
    state_dir: str | Path | None = None,
    auth_ratelimit: int = 5,
    auth_window: float = 3600.0,
) -> Flask:
    """The Mailu API double as a WSGI app. Pass ``state`` to share/inspect it from a test;
    ``state_dir`` (testbed/doubles/serve.py) keeps the state in ``<state_dir>/mailu.json``."""
    if state_file is None and state_dir is not None:
        state_file = Path(state_dir) / "mailu.json"
    app = Flask("mailfleet-mailu-double")
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider
    app.extensions["mailu_double"] = state or MailuDoubleState(
        state_file, auth_ratelimit=auth_ratelimit, auth_window=auth_window
    )
    app.register_blueprint(api)
    app.register_blueprint(control)
    from testbed.doubles.mailu_internal import internal  # noqa: PLC0415 - it imports this module

    app.register_blueprint(internal)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        return jsonify({"message": exc.description}), exc.code

    @app.after_request
    def _label(response: Any) -> Any:
        response.headers[DOUBLE_HEADER[0]] = DOUBLE_HEADER[1]
        return response

    return app
