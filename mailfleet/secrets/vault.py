"""The Vault backend: KV version 2 through hvac, token or AppRole auth, TLS verification always on.

Settings: VAULT_ADDR (https; http only for loopback addresses), token auth (VAULT_TOKEN) or
AppRole auth (VAULT_ROLE_ID, VAULT_SECRET_ID), and the others of the "secrets store" group in
mailfleet.settings, read by `VaultSettings.from_env` at call time.

Every failure becomes one of the typed exceptions in `errors` with a message that says what to do.
There is no fallback: when Vault is sealed, unreachable or refuses the token, nothing is read from
or written to anywhere else.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import hvac  # type: ignore[import-untyped]
import hvac.exceptions  # type: ignore[import-untyped]
import requests

from ..settings import Settings
from .base import SecretStore, SecretVersion, VersionInfo
from .errors import (
    SecretNotFound,
    SecretsAccessDenied,
    SecretsBackendError,
    SecretsConfigError,
    SecretsConflict,
    SecretsSealed,
)
from .paths import SEGMENT_RE
from .scope import RUN_GLOBAL_PATHS, RunScope, write_private

log = logging.getLogger("mailfleet.secrets")
T = TypeVar("T")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class VaultSettings:
    addr: str
    mount: str = "secret"
    prefix: str = "mailfleet"
    namespace: str | None = None
    ca_file: str | None = None
    timeout: float = 10.0
    auth: str = "token"
    approle_mount: str = "approle"
    token: str | None = field(default=None, repr=False)
    role_id: str | None = field(default=None, repr=False)
    secret_id: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VaultSettings:
        env_settings = Settings(env, error=SecretsConfigError)
        addr = (env_settings["VAULT_ADDR"] or "").rstrip("/")
        if not addr:
            raise SecretsConfigError("MAILFLEET_SECRETS_BACKEND=vault needs VAULT_ADDR (https://host:8200)")
        parts = urlsplit(addr)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise SecretsConfigError(f"VAULT_ADDR={addr!r} is not an http(s) URL")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise SecretsConfigError(
                f"VAULT_ADDR={addr!r} uses plain http to a non-loopback host; use https://"
            )
        role_id = env_settings["VAULT_ROLE_ID"]
        auth = (env_settings["MAILFLEET_VAULT_AUTH"] or ("approle" if role_id else "token")).strip().lower()
        settings = cls(
            addr=addr,
            mount=env_settings["MAILFLEET_VAULT_MOUNT"].strip("/"),
            prefix=env_settings["MAILFLEET_VAULT_PREFIX"].strip("/"),
            namespace=env_settings["VAULT_NAMESPACE"],
            ca_file=env_settings["VAULT_CACERT"],
            timeout=env_settings["MAILFLEET_VAULT_TIMEOUT"],
            auth=auth,
            approle_mount=env_settings["MAILFLEET_VAULT_APPROLE_MOUNT"].strip("/"),
            token=env_settings["VAULT_TOKEN"] if auth == "token" else None,
            role_id=role_id,
            secret_id=env_settings["VAULT_SECRET_ID"] if auth == "approle" else None,
        )
        settings.check()
        return settings

    def check(self) -> None:
        if self.auth == "token" and not self.token:
            raise SecretsConfigError("Vault token auth needs VAULT_TOKEN or VAULT_TOKEN_FILE")
        if self.auth == "approle" and not (self.role_id and self.secret_id):
            raise SecretsConfigError(
                "Vault AppRole auth needs VAULT_ROLE_ID(_FILE) and VAULT_SECRET_ID(_FILE)"
            )
        if self.auth not in ("token", "approle"):
            raise SecretsConfigError(f"MAILFLEET_VAULT_AUTH={self.auth!r}: use token or approle")
        for name, value in (("MAILFLEET_VAULT_MOUNT", self.mount), ("MAILFLEET_VAULT_PREFIX", self.prefix)):
            if value and not all(SEGMENT_RE.fullmatch(part) for part in value.split("/")):
                raise SecretsConfigError(f"{name}={value!r}: use lower-case path segments")
        if self.ca_file and not Path(self.ca_file).is_file():
            raise SecretsConfigError(f"VAULT_CACERT={self.ca_file} is not a file")


class VaultStore(SecretStore):
    backend = "vault"

    def __init__(self, settings: VaultSettings) -> None:
        self.settings = settings
        self._client: hvac.Client | None = None

    def __repr__(self) -> str:
        return f"<VaultStore addr={self.settings.addr} mount={self.settings.mount} auth={self.settings.auth}>"

    # -- connection and error mapping -----------------------------------------------------------
    def _where(self) -> str:
        namespace = f" (namespace {self.settings.namespace})" if self.settings.namespace else ""
        return f"Vault at {self.settings.addr}{namespace}"

    def _connect(self) -> hvac.Client:
        if self._client is not None:
            return self._client
        settings = self.settings
        client = hvac.Client(
            url=settings.addr,
            token=settings.token if settings.auth == "token" else "",
            verify=settings.ca_file or True,
            timeout=settings.timeout,
            namespace=settings.namespace,
        )
        if settings.auth == "approle":
            self._guard(
                "AppRole login",
                lambda: client.auth.approle.login(
                    role_id=settings.role_id, secret_id=settings.secret_id, mount_point=settings.approle_mount
                ),
                login=True,
            )
        self._client = client
        return client

    def _call(self, action: str, operation: Callable[[hvac.Client], T]) -> T:
        """Run `operation` on a connected client; map every failure to a typed error.

        An AppRole token that stops working (expired, revoked) is replaced by one fresh login."""
        client = self._connect()
        try:
            return self._guard(action, lambda: operation(client))
        except SecretsAccessDenied:
            if self.settings.auth != "approle":
                raise
            log.info("vault: %s denied, logging in with AppRole again once", action)
            self._client = None
            client = self._connect()
            return self._guard(action, lambda: operation(client))

    def _guard(self, action: str, operation: Callable[[], T], login: bool = False) -> T:
        where = self._where()
        try:
            return operation()
        except hvac.exceptions.Forbidden:
            raise SecretsAccessDenied(
                f"{where} denied {action} (HTTP 403 permission denied): the token is wrong, expired or "
                "revoked, or its policy does not allow this path"
            ) from None
        except hvac.exceptions.InvalidRequest as exc:
            message = _vault_errors(exc)
            if login:
                raise SecretsAccessDenied(
                    f"{where} refused the AppRole login ({message}): check VAULT_ROLE_ID and VAULT_SECRET_ID"
                ) from None
            if "check-and-set" in message:
                raise SecretsConflict(f"{where}: {action} lost a check-and-set race ({message})") from None
            raise SecretsBackendError(f"{where} rejected {action} (HTTP 400: {message})") from None
        except hvac.exceptions.InvalidPath as exc:
            message = _vault_errors(exc)
            if "no handler for route" in message:
                raise SecretsConfigError(
                    f"{where} has no such mount for {action}: is MAILFLEET_VAULT_MOUNT="
                    f"{self.settings.mount!r} a KV v2 mount (in this namespace)?"
                ) from None
            raise SecretNotFound(f"{where}: nothing at {action}") from None
        except hvac.exceptions.VaultDown as exc:
            if "sealed" in _vault_errors(exc).lower():
                raise SecretsSealed(
                    f"{where} is sealed: nothing can be read or written until an operator unseals it "
                    "(no fallback store is used)"
                ) from None
            raise SecretsBackendError(f"{where} is unavailable (HTTP 503) during {action}") from None
        except hvac.exceptions.VaultNotInitialized:
            raise SecretsBackendError(f"{where} is not initialised (HTTP 501)") from None
        except hvac.exceptions.RateLimitExceeded:
            raise SecretsBackendError(
                f"{where} is rate limiting or a standby (HTTP 429) during {action}"
            ) from None
        except hvac.exceptions.VaultError as exc:
            raise SecretsBackendError(
                f"{where} failed {action} ({type(exc).__name__}: {_vault_errors(exc)})"
            ) from None
        except requests.exceptions.SSLError:
            raise SecretsBackendError(
                f"TLS verification of {where} failed: set VAULT_CACERT to the CA that signed its certificate "
                "(verification cannot be turned off)"
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            reason = "timed out" if isinstance(exc, requests.exceptions.Timeout) else "connection failed"
            raise SecretsBackendError(
                f"cannot reach {where} ({reason}) during {action}; nothing was read or written and no "
                "fallback store is used"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise SecretsBackendError(f"request to {where} failed: {type(exc).__name__}") from None

    def _vault_path(self, path: str) -> str:
        return f"{self.settings.prefix}/{path}" if self.settings.prefix else path

    def _label(self, verb: str, path: str) -> str:
        return f"{verb} {self.settings.mount}/{self._vault_path(path)}"

    # -- primitives -----------------------------------------------------------------------------
    def _read(self, path: str, version: int | None) -> SecretVersion:
        response = self._call(
            self._label("read", path),
            lambda c: c.secrets.kv.v2.read_secret_version(
                path=self._vault_path(path), version=version, mount_point=self.settings.mount,
                raise_on_deleted_version=True,
            ),
        )
        payload = response.get("data") or {}
        data, metadata = payload.get("data"), payload.get("metadata") or {}
        if data is None:
            raise SecretNotFound(f"{self._where()}: version at {path!r} is deleted")
        for name, value in data.items():
            if not isinstance(value, str):
                raise SecretsBackendError(
                    f"{self._where()}: field {name!r} of {path!r} is a {type(value).__name__}, not a string"
                )
        return SecretVersion(version=int(metadata.get("version", 0)), data=dict(data))

    def _write(self, path: str, data: dict[str, str], cas: int | None) -> int:
        response = self._call(
            self._label("write", path),
            lambda c: c.secrets.kv.v2.create_or_update_secret(
                path=self._vault_path(path), secret=data, cas=cas, mount_point=self.settings.mount
            ),
        )
        return int(response["data"]["version"])

    def _list(self, prefix: str) -> list[str]:
        found: list[str] = []
        pending = [prefix]
        while pending:
            folder = pending.pop()
            vault_folder = self._vault_path(folder) if folder else self.settings.prefix

            def list_folder(client: hvac.Client, vault_folder: str = vault_folder) -> dict[str, Any]:
                return client.secrets.kv.v2.list_secrets(path=vault_folder, mount_point=self.settings.mount)

            try:
                response = self._call(self._label("list", folder or "."), list_folder)
            except SecretNotFound:
                continue
            for key in response.get("data", {}).get("keys", []):
                child = f"{folder}/{key}" if folder else key
                if key.endswith("/"):
                    pending.append(child.rstrip("/"))
                else:
                    found.append(child)
        return found

    def _delete(self, path: str) -> None:
        self._versions(path)  # SecretNotFound when absent, as the local store does
        self._call(
            self._label("delete", path),
            lambda c: c.secrets.kv.v2.delete_metadata_and_all_versions(
                path=self._vault_path(path), mount_point=self.settings.mount
            ),
        )

    def _versions(self, path: str) -> list[VersionInfo]:
        response = self._call(
            self._label("read metadata of", path),
            lambda c: c.secrets.kv.v2.read_secret_metadata(
                path=self._vault_path(path), mount_point=self.settings.mount
            ),
        )
        versions: dict[str, Any] = response["data"].get("versions") or {}
        return [
            VersionInfo(
                version=int(number),
                created_time=meta.get("created_time", ""),
                deleted=bool(meta.get("deletion_time")),
                destroyed=bool(meta.get("destroyed")),
            )
            for number, meta in sorted(versions.items(), key=lambda item: int(item[0]))
        ]


    # -- a tenant's run -------------------------------------------------------------------------
    def run_policy(self, scope: RunScope) -> str:
        """The ACL policy of a run's token: its tenant's folder, the globals it needs (read only)."""
        mount = self.settings.mount
        tenant = self._vault_path(scope.prefix)
        rules = [
            (f"{mount}/data/{tenant}/*", '"create", "read", "update"'),
            (f"{mount}/metadata/{tenant}/*", '"read", "list", "delete"'),
            *((f"{mount}/data/{self._vault_path(path)}", '"read"') for path in RUN_GLOBAL_PATHS),
        ]
        return "".join(f'path "{path}" {{\n  capabilities = [{caps}]\n}}\n' for path, caps in rules)

    @contextlib.contextmanager
    def run_credentials(self, scope: RunScope, directory: Path, ttl: int) -> Iterator[dict[str, str]]:
        """A child token of ours whose only policy is `run_policy(scope)`, revoked on exit (and
        expiring after `ttl` seconds, should the worker die before).

        Our token needs `update` on sys/policies/acl/mailfleet-run-* and on auth/token/create (with
        `sudo` unless it holds the run policies itself: Vault lets a token give its children only its
        own policies otherwise)."""
        name = f"mailfleet-run-{scope.tenant}"
        policy = self.run_policy(scope)
        self._call(
            f"write policy {name}", lambda c: c.sys.create_or_update_acl_policy(name=name, policy=policy)
        )
        answer = self._call(
            "create a run token",
            lambda c: c.auth.token.create(
                policies=[name], ttl=f"{ttl}s", explicit_max_ttl=f"{ttl}s", renewable=False,
                display_name=name,
            ),
        )
        token = answer["auth"]["client_token"]
        token_file = directory / "vault-token"
        try:
            write_private(token_file, token + "\n")
            env = {
                "MAILFLEET_SECRETS_BACKEND": "vault",
                "MAILFLEET_VAULT_AUTH": "token",
                "VAULT_ADDR": self.settings.addr,
                "VAULT_TOKEN_FILE": str(token_file),
                "MAILFLEET_VAULT_MOUNT": self.settings.mount,
                "MAILFLEET_VAULT_PREFIX": self.settings.prefix,
                "MAILFLEET_VAULT_TIMEOUT": str(self.settings.timeout),
            }
            if self.settings.namespace:
                env["VAULT_NAMESPACE"] = self.settings.namespace
            if self.settings.ca_file:
                env["VAULT_CACERT"] = self.settings.ca_file
            yield env
        finally:
            token_file.unlink(missing_ok=True)
            _revoke(VaultStore(replace(self.settings, auth="token", token=token)), name, ttl)


def _revoke(run_store: VaultStore, name: str, ttl: int) -> None:
    """Revoke a run's token, trying twice. The run is over whatever happens here, so a Vault that
    cannot be reached does not turn its result into a failure: the token then lapses with its TTL."""
    for attempt in (1, 2):
        try:
            run_store._call("revoke the run token", lambda c: c.auth.token.revoke_self())
            return
        except SecretsAccessDenied:
            return  # gone already (revoked, or expired)
        except SecretsBackendError as exc:
            if attempt == 2:
                log.warning(
                    "vault: the token of %s was not revoked (%s); it expires within %d s", name, exc, ttl
                )


def _vault_errors(exc: hvac.exceptions.VaultError) -> str:
    """Vault's own error strings (server-generated: they never echo request data), shortened."""
    errors = exc.errors if isinstance(exc.errors, list) else []
    text = ", ".join(str(error) for error in errors) or "no detail"
    return text[:200]


def vault_store_from_env(env: Mapping[str, str] | None = None) -> VaultStore:
    return VaultStore(VaultSettings.from_env(env))
