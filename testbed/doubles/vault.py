"""A DOUBLE of HashiCorp Vault's HTTP API (not Vault): the parts mailfleet uses, as hvac calls them.

No Vault binary can run on these machines, so tests and the demo talk to this instead. It follows
Vault's documented API for these endpoints (paths, envelopes, status codes, error bodies):

- ``GET|HEAD /v1/sys/health``: 200 active, 429 standby, 501 not initialised, 503 sealed; the
  ``standbyok``, ``activecode``, ``standbycode``, ``sealedcode`` and ``uninitcode`` parameters.
- ``GET /v1/sys/seal-status`` and ``GET /v1/sys/init`` (no token needed).
- ``GET /v1/auth/token/lookup-self`` (what hvac's ``is_authenticated()`` calls).
- ``POST|PUT /v1/auth/token/create`` (``policies``, ``ttl``, ``explicit_max_ttl``, ``num_uses``,
  ``renewable``, ``no_default_policy``, ``display_name``, ``meta``): a child token; a caller that is
  not root and has no ``sudo`` on ``auth/token/create`` may only give policies it holds itself
  (400 ``child policies must be subset of parent``). ``POST|PUT /v1/auth/token/revoke-self``
  revokes the token and its children. Expired and used-up tokens are gone (403).
- ACL policies: ``/v1/sys/policies/acl/<name>`` (GET, POST/PUT ``{"policy": ...}`` in HCL's
  ``path "..." { capabilities = [...] }`` form or as JSON, DELETE; LIST of the folder). Policies
  are enforced as Vault documents: ``*`` at the end is a prefix glob, ``+`` one path segment, the
  most specific matching path wins, ``deny`` wins over everything, and LIST is checked on the path
  with a trailing ``/``. ``default`` (lookup-self, renew-self, revoke-self) is added to tokens
  unless ``no_default_policy``.
- ``POST|PUT /v1/auth/approle/login`` with ``role_id`` and ``secret_id``; 400
  ``invalid role or secret ID`` when wrong. The token carries the role's ``token_policies``.
- AppRoles as an operator makes them: ``POST|PUT /v1/sys/auth/approle`` (``type: approle``;
  enabling it twice is 400 ``path is already in use at approle/``), then
  ``POST|PUT /v1/auth/approle/role/<name>`` (``token_policies`` or ``policies``, a list or a
  comma-separated string), ``GET /v1/auth/approle/role/<name>/role-id`` and
  ``POST|PUT /v1/auth/approle/role/<name>/secret-id``; 404 until the method is enabled or for a
  role that does not exist.
- KV version 2 on each mount: ``/v1/<mount>/data/<path>`` (GET with ``?version=``, POST/PUT with
  ``options.cas``, DELETE = soft delete of the latest version) and ``/v1/<mount>/metadata/<path>``
  (GET, LIST by method or ``?list=true``, DELETE = every version and the metadata); 10 versions
  kept unless ``max_versions`` says otherwise.
- Token in ``X-Vault-Token``; missing, unknown or not allowed: 403 ``{"errors":["permission denied"]}``.
  Missing secret: 404 ``{"errors":[]}``. Sealed: 503 ``{"errors":["Vault is sealed"]}`` on every
  endpoint but health and seal status. Namespaces through ``X-Vault-Namespace``.

Every answer carries ``X-Mailfleet-Double: vault``. The root token may do everything; tokens that
tests add directly may carry inline rules (the same path syntax) instead of named policies.
State lives in memory (`VaultState`), like
`vault server -dev`: a restarted double starts empty (with `state_dir`, only the root token is kept,
in `<state_dir>/root_token`). In-process tests may change the state directly (seal, add tokens and
AppRoles); a test of the double run as a process (`Testbed.start_double("vault")`) makes its
policies and AppRoles through the API above, with the root token, as an operator would.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from werkzeug.serving import make_server

ALL_CAPABILITIES = frozenset({"create", "read", "update", "delete", "list"})
DOUBLE_HEADER = ("X-Mailfleet-Double", "vault")
VERSION = "1.19.0"
Rules = tuple[tuple[str, frozenset[str]], ...]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_token() -> str:
    return "hvs." + secrets.token_urlsafe(18)


@dataclass
class KvVersion:
    data: dict[str, Any]
    created_time: str
    deletion_time: str = ""
    destroyed: bool = False

    def metadata(self, version: int) -> dict[str, Any]:
        return {"created_time": self.created_time, "custom_metadata": None,
                "deletion_time": self.deletion_time, "destroyed": self.destroyed, "version": version}


@dataclass
class KvSecret:
    created_time: str
    updated_time: str
    current_version: int = 0
    oldest_version: int = 0
    max_versions: int = 0
    cas_required: bool = False
    versions: dict[int, KvVersion] = field(default_factory=dict)


@dataclass
class Token:
    namespace: str = ""
    rules: Rules | None = None  # inline rules (tests); None: every capability everywhere
    policies: tuple[str, ...] = ("root",)
    accessor: str = field(default_factory=lambda: str(uuid.uuid4()))
    parent: str | None = None
    display_name: str = "token"
    creation_ttl: int = 0  # seconds; 0: never expires
    explicit_max_ttl: int = 0
    expires_at: float | None = None  # time.monotonic()
    uses_left: int = 0  # 0: unlimited
    renewable: bool = False
    meta: dict[str, str] | None = None

    @property
    def root(self) -> bool:
        return self.rules is None or "root" in self.policies


@dataclass
class AppRole:
    role_name: str
    secret_ids: set[str]
    namespace: str = ""
    rules: Rules | None = None  # inline rules (tests); None and no policies: root
    policies: tuple[str, ...] = ()

    def token(self) -> Token:
        """A token of this role, as its login gives it."""
        if self.rules is None and not self.policies:
            return Token(namespace=self.namespace, rules=None, policies=("default",))
        return Token(namespace=self.namespace, rules=self.rules or (),
                     policies=tuple(sorted({"default", *self.policies})))


class VaultState:
    """Everything the double knows. Thread-safe: the server runs threaded."""

    def __init__(self, root_token: str | None = None, mounts: tuple[str, ...] = ("secret",)) -> None:
        self.lock = threading.RLock()
        self.initialized = True
        self.sealed = False
        self.standby = False
        self.cluster_id = str(uuid.uuid4())
        self.root_token = root_token or new_token()
        self.tokens: dict[str, Token] = {self.root_token: Token()}
        self.policies: dict[tuple[str, str], tuple[str, Rules]] = {}  # (namespace, name): (text, rules)
        self.approles: dict[str, AppRole] = {}  # by role_id
        self.auth_methods: set[tuple[str, str]] = set()  # (namespace, path) enabled through the API
        self.namespaces: set[str] = {""}
        self.kv: dict[tuple[str, str], dict[str, KvSecret]] = {("", mount): {} for mount in mounts}
        self.requests: list[tuple[str, str]] = []  # (method, path) seen, for tests to count calls

    # -- what tests change directly --------------------------------------------------------------
    def seal(self) -> None:
        with self.lock:
            self.sealed = True

    def unseal(self) -> None:
        with self.lock:
            self.sealed = False

    def add_namespace(self, namespace: str, mounts: tuple[str, ...] = ("secret",)) -> None:
        with self.lock:
            self.namespaces.add(namespace)
            for mount in mounts:
                self.kv.setdefault((namespace, mount), {})

    def add_token(self, token: str | None = None, *, namespace: str = "",
                  rules: dict[str, set[str]] | None = None) -> str:
        """A token limited to `rules` ({glob on 'mount/data/path': capabilities}); None: root."""
        token = token or new_token()
        with self.lock:
            self.tokens[token] = Token(namespace=namespace, rules=_rules(rules), policies=("default",))
        return token

    def revoke_token(self, token: str) -> None:
        """Revoke `token` and, as Vault does, every token created from it."""
        with self.lock:
            self.tokens.pop(token, None)
            for child in [t for t, info in self.tokens.items() if info.parent == token]:
                self.revoke_token(child)

    def token(self, presented: str, namespace: str) -> Token | None:
        """The live token presented in `namespace` (expired ones are revoked); counts one use."""
        with self.lock:
            token = self.tokens.get(presented)
            if token is None or (token.namespace and token.namespace != namespace):
                return None
            if token.expires_at is not None and time.monotonic() >= token.expires_at:
                self.revoke_token(presented)
                return None
            if token.uses_left:
                token.uses_left -= 1
                if token.uses_left == 0:  # this request is its last
                    self.revoke_token(presented)
            return token

    def capabilities(self, token: Token, api_path: str) -> frozenset[str]:
        """What `token` may do on `api_path` (no leading /v1/), by Vault's matching rules."""
        if token.root:
            return ALL_CAPABILITIES | {"sudo"}
        rules = list(token.rules)
        with self.lock:
            for name in token.policies:
                rules.extend(DEFAULT_POLICY if name == "default" else
                             self.policies.get((token.namespace, name), ("", ()))[1])
        return _match(rules, api_path)

    def add_approle(self, role_name: str, *, namespace: str = "",
                    rules: dict[str, set[str]] | None = None) -> tuple[str, str]:
        """Create an AppRole; returns (role_id, secret_id)."""
        role_id, secret_id = str(uuid.uuid4()), str(uuid.uuid4())
        with self.lock:
            self.approles[role_id] = AppRole(role_name, {secret_id}, namespace, _rules(rules))
        return role_id, secret_id

    def approle_named(self, namespace: str, role_name: str) -> tuple[str, AppRole] | None:
        """(role_id, role) of the AppRole `role_name` in `namespace`."""
        with self.lock:
            return next(((role_id, role) for role_id, role in self.approles.items()
                         if role.namespace == namespace and role.role_name == role_name), None)

    def kv_store(self, namespace: str, mount: str) -> dict[str, KvSecret] | None:
        return self.kv.get((namespace, mount))


def _rules(rules: dict[str, set[str]] | None) -> Rules | None:
    if rules is None:
        return None
    return tuple((pattern, frozenset(caps)) for pattern, caps in rules.items())


# -- policies --------------------------------------------------------------------------------------
CAPABILITIES = ALL_CAPABILITIES | {"sudo", "deny", "patch", "subscribe"}
# Vault's built-in "default" policy, the parts a token uses on itself.
DEFAULT_POLICY: Rules = (
    ("auth/token/lookup-self", frozenset({"read"})),
    ("auth/token/renew-self", frozenset({"update"})),
    ("auth/token/revoke-self", frozenset({"update"})),
    ("sys/capabilities-self", frozenset({"update"})),
)
_HCL_RULE = re.compile(r'\s*path\s+"([^"]+)"\s*\{\s*capabilities\s*=\s*\[([^\]]*)\]\s*\}\s*')
_HCL_COMMENT = re.compile(r"(?m)^\s*#.*$")


def parse_policy(text: str) -> Rules:
    """A policy in HCL (``path "p" { capabilities = [...] }`` blocks) or JSON; ValueError if not."""
    if text.lstrip().startswith("{"):
        doc = json.loads(text)
        paths = doc.get("path") if isinstance(doc, dict) else None
        if not isinstance(paths, dict):
            raise ValueError("no path rules")
        rules = [(p, (v or {}).get("capabilities")) for p, v in paths.items()]
    else:
        body, rules, at = _HCL_COMMENT.sub("", text), [], 0
        while at < len(body.rstrip()):
            match = _HCL_RULE.match(body, at)
            if match is None:
                raise ValueError(f"unexpected input at offset {at}")
            rules.append((match[1], json.loads(f"[{match[2]}]")))
            at = match.end()
    out = []
    for path, caps in rules:
        if not isinstance(caps, list) or not set(caps) <= CAPABILITIES:
            raise ValueError(f"invalid capabilities for path {path!r}")
        out.append((path, frozenset(caps)))
    return tuple(out)


def _pattern_matches(pattern: str, path: str) -> bool:
    regex = "/".join("[^/]+" if part == "+" else re.escape(part) for part in pattern.rstrip("*").split("/"))
    return re.fullmatch(regex + (".*" if pattern.endswith("*") else ""), path, re.DOTALL) is not None


def _priority(pattern: str) -> tuple[int, bool, int, int, str]:
    """Vault's order between matching paths (higher wins): later first wildcard, no trailing glob,
    fewer '+' segments, longer, then lexicographically larger."""
    wild = [i for i, c in enumerate(pattern) if c in "+*"]
    return (wild[0] if wild else len(pattern), not pattern.endswith("*"), -pattern.count("+"),
            len(pattern), pattern)


def _match(rules: list[tuple[str, frozenset[str]]], path: str) -> frozenset[str]:
    matching = [(pattern, caps) for pattern, caps in rules if _pattern_matches(pattern, path)]
    if not matching:
        return frozenset()
    best = max(_priority(pattern) for pattern, _ in matching)[-1]
    caps = frozenset().union(*(caps for pattern, caps in matching if pattern == best))
    return frozenset() if "deny" in caps else caps


def _duration(value: Any) -> int:
    """Vault's durations: seconds as a number or string, or a Go duration like 90s, 15m, 2h."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = re.fullmatch(r"(\d+)([smh]?)", str(value).strip())
    if match is None:
        raise ValueError(f"invalid duration {value!r}")
    return int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


# -- responses -----------------------------------------------------------------------------------
def _json(body: Any, status: int = 200) -> Response:
    response = Response(json.dumps(body) + "\n", status=status, mimetype="application/json")
    response.headers[DOUBLE_HEADER[0]] = DOUBLE_HEADER[1]
    return response


def _errors(status: int, *messages: str) -> Response:
    return _json({"errors": list(messages)}, status)


def _envelope(data: Any, mount_type: str = "kv", auth: Any = None) -> dict[str, Any]:
    return {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False, "lease_duration": 0,
            "data": data, "wrap_info": None, "warnings": None, "auth": auth, "mount_type": mount_type}


def _no_content() -> Response:
    response = Response(status=204)
    response.headers[DOUBLE_HEADER[0]] = DOUBLE_HEADER[1]
    return response


def _body() -> dict[str, Any] | None:
    if not request.data:
        return {}
    try:
        body = json.loads(request.data)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _namespace() -> str:
    return request.headers.get("X-Vault-Namespace", "").strip("/")


# -- the app -------------------------------------------------------------------------------------
def create_app(state: VaultState | None = None, state_dir: Path | None = None) -> Flask:
    """The double's WSGI app. With `state_dir`, the root token is kept in `state_dir/root_token`
    (mode 0600; created if missing) so a process started by the testbed can be used by others."""
    if state is None:
        state = VaultState(root_token=_root_token_from(state_dir) if state_dir else None)
    app = Flask(__name__)
    app.config["VAULT_STATE"] = state

    @app.before_request
    def record() -> None:
        with state.lock:
            state.requests.append((request.method, request.path))

    @app.errorhandler(404)
    def not_found(_: Exception) -> Response:
        return _errors(404)

    @app.errorhandler(405)
    def not_allowed(_: Exception) -> Response:
        return _errors(405, "1 error occurred:\n\t* unsupported operation\n\n")

    @app.route("/v1/sys/health", methods=["GET", "HEAD"])
    def health() -> Response:
        status, body = _health(state)
        if request.method == "HEAD":
            response = _json({}, status)
            response.set_data(b"")
            return response
        return _json(body, status)

    @app.get("/v1/sys/seal-status")
    def seal_status() -> Response:
        with state.lock:
            body = {"type": "shamir", "initialized": state.initialized, "sealed": state.sealed,
                    "t": 1, "n": 1, "progress": 0, "nonce": "", "version": VERSION,
                    "build_date": "2025-01-01T00:00:00Z", "migration": False, "recovery_seal": False,
                    "storage_type": "inmem", "removed_from_cluster": False}
            if not state.sealed:
                body.update(cluster_name="mailfleet-vault-double", cluster_id=state.cluster_id)
        return _json(body)

    @app.get("/v1/sys/init")
    def init_status() -> Response:
        return _json({"initialized": state.initialized})

    def caller(api_path: str, capability: str) -> Token | Response:
        """The token of this request if it may do `capability` on `api_path`, else the error."""
        if state.sealed:
            return _errors(503, "Vault is sealed")
        token = state.token(request.headers.get("X-Vault-Token", ""), _namespace())
        if token is None or capability not in state.capabilities(token, api_path):
            return _errors(403, "permission denied")
        return token

    @app.get("/v1/auth/token/lookup-self")
    def lookup_self() -> Response:
        token = caller("auth/token/lookup-self", "read")
        if isinstance(token, Response):
            return token
        presented = request.headers["X-Vault-Token"]
        left = None if token.expires_at is None else max(0, int(token.expires_at - time.monotonic()))
        expire = None if left is None else datetime.fromtimestamp(time.time() + left, UTC).isoformat()
        data = {"accessor": token.accessor, "creation_ttl": token.creation_ttl,
                "display_name": token.display_name, "entity_id": "", "expire_time": expire,
                "explicit_max_ttl": token.explicit_max_ttl, "id": presented, "meta": token.meta,
                "num_uses": token.uses_left, "orphan": token.parent is None,
                "path": "auth/token/create", "policies": list(token.policies), "renewable": token.renewable,
                "ttl": left or 0, "type": "service",
                "namespace_path": f"{token.namespace}/" if token.namespace else ""}
        return _json(_envelope(data, mount_type="token"))

    @app.route("/v1/auth/token/create", methods=["POST", "PUT"])
    def token_create() -> Response:
        parent = caller("auth/token/create", "update")
        if isinstance(parent, Response):
            return parent
        body = _body()
        if body is None:
            return _errors(400, "failed to parse JSON input")
        try:
            ttl = _duration(body.get("ttl") or 0)
            max_ttl = _duration(body.get("explicit_max_ttl") or 0)
            uses = int(body.get("num_uses") or 0)
        except ValueError as exc:
            return _errors(400, str(exc))
        if uses < 0:
            return _errors(400, "number of uses cannot be negative")
        asked = sorted({str(p).strip().lower() for p in body.get("policies") or [] if str(p).strip()})
        with state.lock:
            sudo = parent.root or "sudo" in state.capabilities(parent, "auth/token/create")
            if not sudo and not set(asked) - {"default"} <= set(parent.policies):
                return _errors(400, "child policies must be subset of parent")
            if not asked:
                asked = [p for p in parent.policies if p != "root"] or ["root"]
            if "root" in asked and not parent.root:
                return _errors(400, "root tokens may not be created by a non-root token")
            bare = body.get("no_default_policy") or "root" in asked
            policies = asked if bare else sorted({*asked, "default"})
            lifetime = min(t for t in (ttl, max_ttl) if t) if (ttl or max_ttl) else 0
            presented = new_token()
            child = Token(
                namespace=parent.namespace, rules=() if "root" not in policies else None,
                policies=tuple(policies), parent=request.headers["X-Vault-Token"],
                display_name="token" + (f"-{body['display_name']}" if body.get("display_name") else ""),
                creation_ttl=lifetime, explicit_max_ttl=max_ttl,
                expires_at=time.monotonic() + lifetime if lifetime else None, uses_left=uses,
                renewable=bool(body.get("renewable", True)) and lifetime > 0, meta=body.get("meta") or None,
            )
            state.tokens[presented] = child
        auth = {"client_token": presented, "accessor": child.accessor, "policies": policies,
                "token_policies": policies, "metadata": child.meta, "lease_duration": lifetime,
                "renewable": child.renewable, "entity_id": "", "token_type": "service", "orphan": False,
                "mfa_requirement": None, "num_uses": uses}
        return _json(_envelope(None, mount_type="token", auth=auth))

    @app.route("/v1/auth/token/revoke-self", methods=["POST", "PUT"])
    def revoke_self() -> Response:
        token = caller("auth/token/revoke-self", "update")
        if isinstance(token, Response):
            return token
        state.revoke_token(request.headers["X-Vault-Token"])
        return _no_content()

    @app.route("/v1/sys/policies/acl", methods=["GET", "LIST"])
    def list_policies() -> Response:
        if request.method == "GET" and request.args.get("list") != "true":
            return _errors(405, "1 error occurred:\n\t* unsupported operation\n\n")
        token = caller("sys/policies/acl/", "list")
        if isinstance(token, Response):
            return token
        with state.lock:
            names = sorted({"default", "root"} | {n for ns, n in state.policies if ns == token.namespace})
        return _json(_envelope({"keys": names, "policies": names}, mount_type="system"))

    @app.route("/v1/sys/policies/acl/<name>", methods=["GET", "POST", "PUT", "DELETE"])
    def policy(name: str) -> Response:
        name = name.lower()
        key = (_namespace(), name)
        if request.method == "GET":
            token = caller(f"sys/policies/acl/{name}", "read")
            if isinstance(token, Response):
                return token
            with state.lock:
                found = state.policies.get(key)
            if found is None:
                return _errors(404)
            return _json(_envelope({"name": name, "policy": found[0]}, mount_type="system"))
        if request.method == "DELETE":
            token = caller(f"sys/policies/acl/{name}", "delete")
            if isinstance(token, Response):
                return token
            if name in ("default", "root"):
                return _errors(400, f'cannot delete "{name}" policy')
            with state.lock:
                state.policies.pop(key, None)
            return _no_content()
        with state.lock:
            capability = "update" if key in state.policies else "create"
        token = caller(f"sys/policies/acl/{name}", capability)
        if isinstance(token, Response):
            return token
        if name == "root":
            return _errors(400, 'cannot update "root" policy')
        body = _body()
        text = (body or {}).get("policy")
        if not isinstance(text, str) or not text.strip():
            return _errors(400, "'policy' parameter not supplied or empty")
        try:
            rules = parse_policy(text)
        except ValueError as exc:
            return _errors(400, f"failed to parse policy: {exc}")
        with state.lock:
            state.policies[key] = (text, rules)
        return _no_content()

    @app.route("/v1/auth/approle/login", methods=["POST", "PUT"])
    def approle_login() -> Response:
        if state.sealed:
            return _errors(503, "Vault is sealed")
        body = _body()
        if body is None:
            return _errors(400, "failed to parse JSON input")
        role_id = body.get("role_id") or ""
        if not role_id:
            return _errors(400, "missing role_id")
        with state.lock:
            role = state.approles.get(role_id)
            if role is None or role.namespace != _namespace() or body.get("secret_id") not in role.secret_ids:
                return _errors(400, "invalid role or secret ID")
            token, issued = new_token(), role.token()
            state.tokens[token] = issued
        policies = list(issued.policies)
        auth = {"client_token": token, "accessor": issued.accessor, "policies": policies,
                "token_policies": policies, "metadata": {"role_name": role.role_name},
                "lease_duration": 2764800, "renewable": True, "entity_id": str(uuid.uuid4()),
                "token_type": "service", "orphan": True, "mfa_requirement": None, "num_uses": 0}
        return _json(_envelope(None, mount_type="", auth=auth))

    @app.route("/v1/sys/auth/<path:mount>", methods=["POST", "PUT"])
    def enable_auth(mount: str) -> Response:
        mount = mount.strip("/")
        token = caller(f"sys/auth/{mount}", "update")
        if isinstance(token, Response):
            return token
        if "sudo" not in state.capabilities(token, f"sys/auth/{mount}"):
            return _errors(403, "permission denied")
        body = _body()
        if body is None or body.get("type") != "approle":
            return _errors(400, "the double enables the approle auth method alone")
        with state.lock:
            if (token.namespace, mount) in state.auth_methods:
                return _errors(400, f"path is already in use at {mount}/")
            state.auth_methods.add((token.namespace, mount))
        return _no_content()

    def approle_caller(name: str, tail: str, capability: str) -> Token | Response:
        token = caller(f"auth/approle/role/{name}{tail}", capability)
        if isinstance(token, Response):
            return token
        if (token.namespace, "approle") not in state.auth_methods:
            route = f"auth/approle/role/{name}{tail}"
            return _errors(404, f'no handler for route "{route}". route entry not found.')
        return token

    @app.route("/v1/auth/approle/role/<name>", methods=["POST", "PUT"])
    def approle_role(name: str) -> Response:
        token = approle_caller(name, "", "update")
        if isinstance(token, Response):
            return token
        body = _body()
        if body is None:
            return _errors(400, "failed to parse JSON input")
        asked = body.get("token_policies", body.get("policies")) or []
        if isinstance(asked, str):
            asked = asked.split(",")
        if not isinstance(asked, list):
            return _errors(400, "token_policies must be a list or a comma-separated string")
        policies = tuple(sorted({str(p).strip().lower() for p in asked if str(p).strip()}))
        with state.lock:
            found = state.approle_named(token.namespace, name)
            if found is None:
                state.approles[str(uuid.uuid4())] = AppRole(name, set(), token.namespace, (), policies)
            else:
                found[1].policies, found[1].rules = policies, ()
        return _no_content()

    @app.get("/v1/auth/approle/role/<name>/role-id")
    def approle_role_id(name: str) -> Response:
        token = approle_caller(name, "/role-id", "read")
        if isinstance(token, Response):
            return token
        found = state.approle_named(token.namespace, name)
        if found is None:
            return _errors(404)
        return _json(_envelope({"role_id": found[0]}, mount_type="approle"))

    @app.route("/v1/auth/approle/role/<name>/secret-id", methods=["POST", "PUT"])
    def approle_secret_id(name: str) -> Response:
        token = approle_caller(name, "/secret-id", "update")
        if isinstance(token, Response):
            return token
        secret_id = str(uuid.uuid4())
        with state.lock:
            found = state.approle_named(token.namespace, name)
            if found is None:
                return _errors(400, f'role "{name}" does not exist')
            found[1].secret_ids.add(secret_id)
        data = {"secret_id": secret_id, "secret_id_accessor": str(uuid.uuid4()), "secret_id_ttl": 0,
                "secret_id_num_uses": 0}
        return _json(_envelope(data, mount_type="approle"))

    @app.route("/v1/<path:api_path>", methods=["GET", "POST", "PUT", "DELETE", "LIST"])
    def kv(api_path: str) -> Response:
        if state.sealed:
            return _errors(503, "Vault is sealed")
        namespace = _namespace()
        token = state.token(request.headers.get("X-Vault-Token", ""), namespace)
        if token is None:
            return _errors(403, "permission denied")
        method = request.method
        if method == "GET" and request.args.get("list") == "true":
            method = "LIST"
        mount, _, rest = api_path.partition("/")
        kind, _, path = rest.partition("/")
        with state.lock:
            store = state.kv_store(namespace, mount) if namespace in state.namespaces else None
            if store is None:
                return _errors(404, f'no handler for route "{api_path}". route entry not found.')
            handler = _HANDLERS.get((kind, method))
            if handler is None:
                return _errors(405, "1 error occurred:\n\t* unsupported operation\n\n")
            capability = _capability(kind, method, store, path)
            checked = f"{mount}/{kind}/{path}"
            if method == "LIST" and not checked.endswith("/"):
                checked += "/"  # Vault checks a LIST against the folder path
            if capability not in state.capabilities(token, checked):
                return _errors(403, "permission denied")
            return handler(store, path.rstrip("/") if method != "LIST" else path)

    return app


@contextmanager
def serve(state: VaultState) -> Iterator[str]:
    """The double on 127.0.0.1 (a free port) in a thread, for in-process tests: yields its address."""
    server = make_server("127.0.0.1", 0, create_app(state), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def _root_token_from(state_dir: Path) -> str:
    token_file = state_dir / "root_token"
    if token_file.exists():
        return token_file.read_text().strip()
    token = new_token()
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def _health(state: VaultState) -> tuple[int, dict[str, Any]]:
    args = request.args

    def code(name: str, default: int) -> int:
        try:
            return int(args.get(name, default))
        except ValueError:
            return default

    with state.lock:
        body = {"initialized": state.initialized, "sealed": state.sealed, "standby": state.standby,
                "performance_standby": False, "replication_performance_mode": "disabled",
                "replication_dr_mode": "disabled", "server_time_utc": int(datetime.now(UTC).timestamp()),
                "version": VERSION, "enterprise": False, "echo_duration_ms": 0,
                "clock_skew_ms": 0, "replication_primary_canary_age_ms": 0, "removed_from_cluster": False}
        if not state.sealed:
            body.update(cluster_name="mailfleet-vault-double", cluster_id=state.cluster_id)
        if not state.initialized:
            return code("uninitcode", 501), body
        if state.sealed:
            return code("sealedcode", 503), body
        if state.standby and "standbyok" not in args:
            return code("standbycode", 429), body
        return code("activecode", 200), body


def _capability(kind: str, method: str, store: dict[str, KvSecret], path: str) -> str:
    if method == "LIST":
        return "list"
    if method == "GET":
        return "read"
    if method == "DELETE":
        return "delete"
    return "update" if path.rstrip("/") in store else "create"


# -- KV v2 handlers (called with the state lock held) ---------------------------------------------
def _read_data(store: dict[str, KvSecret], path: str) -> Response:
    secret = store.get(path)
    if secret is None:
        return _errors(404)
    try:
        number = int(request.args.get("version", 0)) or secret.current_version
    except ValueError:
        return _errors(400, "invalid version")
    version = secret.versions.get(number)
    if version is None:
        return _errors(404)
    if version.deletion_time or version.destroyed:  # Vault answers 404 with the metadata only
        return _json(_envelope({"data": None, "metadata": version.metadata(number)}), 404)
    return _json(_envelope({"data": version.data, "metadata": version.metadata(number)}))


def _write_data(store: dict[str, KvSecret], path: str) -> Response:
    body = _body()
    if body is None:
        return _errors(400, "failed to parse JSON input")
    data = body.get("data")
    if not isinstance(data, dict):
        return _errors(400, "no data provided")
    options = body.get("options") or {}
    secret = store.get(path)
    current = secret.current_version if secret else 0
    cas = options.get("cas")
    if cas is None and secret is not None and secret.cas_required:
        return _errors(400, "check-and-set parameter required for this call")
    if cas is not None and int(cas) != current:
        return _errors(400, "check-and-set parameter did not match the current version")
    now = _now()
    if secret is None:
        secret = store[path] = KvSecret(created_time=now, updated_time=now)
    number = current + 1
    secret.versions[number] = KvVersion(data=dict(data), created_time=now)
    secret.current_version, secret.updated_time = number, now
    keep = secret.max_versions or 10
    for old in sorted(secret.versions)[:-keep]:
        del secret.versions[old]
    secret.oldest_version = min(secret.versions) if number > keep else 0
    return _json(_envelope(secret.versions[number].metadata(number)))


def _soft_delete(store: dict[str, KvSecret], path: str) -> Response:
    secret = store.get(path)
    if secret is not None and secret.current_version in secret.versions:
        secret.versions[secret.current_version].deletion_time = _now()
    return _no_content()


def _read_metadata(store: dict[str, KvSecret], path: str) -> Response:
    secret = store.get(path)
    if secret is None:
        return _errors(404)
    versions = {
        str(number): {"created_time": ver.created_time, "deletion_time": ver.deletion_time,
                      "destroyed": ver.destroyed}
        for number, ver in sorted(secret.versions.items())
    }
    return _json(_envelope({
        "cas_required": secret.cas_required, "created_time": secret.created_time,
        "current_version": secret.current_version, "custom_metadata": None, "delete_version_after": "0s",
        "max_versions": secret.max_versions, "oldest_version": secret.oldest_version,
        "updated_time": secret.updated_time, "versions": versions,
    }))


def _list_metadata(store: dict[str, KvSecret], path: str) -> Response:
    prefix = path if path == "" or path.endswith("/") else path + "/"
    keys: set[str] = set()
    for name in store:
        if name.startswith(prefix):
            head, slash, _ = name[len(prefix):].partition("/")
            keys.add(head + slash)
    if not keys:
        return _errors(404)
    return _json(_envelope({"keys": sorted(keys)}))


def _delete_metadata(store: dict[str, KvSecret], path: str) -> Response:
    store.pop(path, None)
    return _no_content()


_HANDLERS = {
    ("data", "GET"): _read_data,
    ("data", "POST"): _write_data,
    ("data", "PUT"): _write_data,
    ("data", "DELETE"): _soft_delete,
    ("metadata", "GET"): _read_metadata,
    ("metadata", "LIST"): _list_metadata,
    ("metadata", "DELETE"): _delete_metadata,
}
