"""The one client for Mailu's admin REST API (/api/v1), used by the Ansible modules and the web app.

Follows Mailu 2024.06's admin API: Bearer token, JSON, 200 on every success (creates too),
400/404/409 mapped to typed exceptions, the ``GET /domain/<invalid>`` 200-with-error-body quirk,
``/tokenuser/<email>`` without a slash.

Safety rules:
- 401/403 raise :class:`MailuAuthError` at once and are never retried; the client then refuses
  every further call without sending it, because each wrong token feeds Mailu's per-IP rate
  limiter and a 429 would lock the whole control plane out of that server.
- Only idempotent reads (GET) are retried, and only on connection errors, timeouts and 5xx.
- User ``password`` hashes are stripped from everything returned.
- Names and payloads are validated before any request: bad input raises and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from mailfleet.apiclient import ApiClient, Retry
from mailfleet.mailu.errors import (
    MailuAuthError,
    MailuDuplicateError,
    MailuError,
    MailuLimitReachedError,
    MailuNotFoundError,
    MailuRateLimitedError,
    MailuServerError,
    MailuUnavailableError,
    MailuValidationError,
)
from mailfleet.mailu.passwords import generate_password
from mailfleet.mailu.relays import relay_transport
from mailfleet.redact import without_keys
from mailfleet.validation import ValidationError, normalize_domain, normalize_email

__all__ = ["DNS_RECORD_FIELDS", "BulkCreateResult", "MailuClient"]

# Field name -> accepted Python type(s); anything else is refused before a request is made.
_BOOL = (bool,)
_INT = (int,)
_STR = (str,)
_LIST = (list, tuple)
DOMAIN_FIELDS: dict[str, tuple[type, ...]] = {
    "comment": _STR,
    "max_users": _INT,
    "max_aliases": _INT,
    "max_quota_bytes": _INT,
    "signup_enabled": _BOOL,
    "alternatives": _LIST,
}
USER_FIELDS: dict[str, tuple[type, ...]] = {
    "raw_password": _STR,
    "comment": _STR,
    "quota_bytes": _INT,
    "global_admin": _BOOL,
    "enabled": _BOOL,
    "change_pw_next_login": _BOOL,
    "enable_imap": _BOOL,
    "enable_pop": _BOOL,
    "allow_spoofing": _BOOL,
    "forward_enabled": _BOOL,
    "forward_destination": _LIST,
    "forward_keep": _BOOL,
    "reply_enabled": _BOOL,
    "reply_subject": _STR,
    "reply_body": _STR,
    "reply_startdate": _STR,
    "reply_enddate": _STR,
    "displayed_name": _STR,
    "spam_enabled": _BOOL,
    "spam_mark_as_read": _BOOL,
    "spam_threshold": _INT,
}
ALIAS_FIELDS: dict[str, tuple[type, ...]] = {"comment": _STR, "destination": _LIST, "wildcard": _BOOL}
RELAY_FIELDS: dict[str, tuple[type, ...]] = {"smtp": _STR, "comment": _STR}
TOKEN_FIELDS: dict[str, tuple[type, ...]] = {"comment": _STR, "AuthorizedIP": _LIST}
# What GET /domain/{d} returns for the dns role, exactly these keys.
DNS_RECORD_FIELDS = (
    "dns_mx",
    "dns_spf",
    "dns_dkim",
    "dns_dmarc",
    "dns_dmarc_report",
    "dns_autoconfig",
    "dns_tlsa",
)
_SECRET_KEYS = frozenset({"password", "raw_password"})
_RETRY_STATUSES = frozenset({500, 502, 503, 504})


@dataclass
class BulkCreateResult:
    """Outcome of :meth:`MailuClient.create_users`.

    ``generated_passwords`` holds the passwords the client generated (show once, then drop);
    ``aborted`` is set when an auth, rate-limit or connection error stopped the batch, and
    ``skipped`` lists the addresses never sent. ``seconds``: each address sent, and the time Mailu
    took to answer for it.
    """

    created: list[str] = field(default_factory=list)
    failed: dict[str, MailuError] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    aborted: MailuError | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    generated_passwords: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.failed and self.aborted is None


def strip_secrets(value: Any) -> Any:
    """Return ``value`` with every ``password``/``raw_password`` key removed, recursively."""
    return without_keys(value, _SECRET_KEYS)


def _check_fields(kind: str, fields: Mapping[str, Any], allowed: Mapping[str, tuple[type, ...]]) -> dict:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise MailuValidationError(f"unknown {kind} field(s): {', '.join(unknown)}")
    for name, value in fields.items():
        types = allowed[name]
        # bool is an int subclass: refuse True where a number is expected, and the reverse.
        if not isinstance(value, types) or (types == _INT and isinstance(value, bool)):
            expected = "/".join(t.__name__ for t in types)
            raise MailuValidationError(
                f"{kind} field {name!r} must be {expected}, got {type(value).__name__}"
            )
    return dict(fields)


def _relay_fields(name: str, fields: Mapping[str, Any]) -> dict:
    """A relay's fields; an smtp target Mailu's transport table could not render is refused here
    (Mailu's API stores any text, and Postfix would then defer the domain's mail)."""
    payload = _check_fields("relay", fields, RELAY_FIELDS)
    if "smtp" in payload:
        relay_transport(name, payload["smtp"])
    return payload


def _valid_domain(name: str) -> str:
    try:
        return normalize_domain(name)
    except ValidationError as exc:
        raise MailuValidationError(str(exc)) from None


def _valid_email(address: str) -> str:
    try:
        return normalize_email(address)
    except ValidationError as exc:
        raise MailuValidationError(str(exc)) from None


def _valid_emails(kind: str, addresses: Iterable[str]) -> list[str]:
    if isinstance(addresses, str):
        raise MailuValidationError(f"{kind} must be a list of addresses, not a string")
    return [_valid_email(a) for a in addresses]


class MailuClient(ApiClient):
    """Client for one Mailu server's admin API.

    ``base_url`` is the API root, e.g. ``https://mail.example.com/api/v1``; when it does not end
    in ``/api/v1`` that suffix is added (``https://mail.example.com`` works too). On the testbed
    the Mailu double serves many servers under ``http://<double>/<mail host>/api/v1``.
    """

    service = "Mailu"
    configuration_error = MailuValidationError
    log = logging.getLogger(__name__)

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        verify: bool | str = True,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        retries: int = 2,
        backoff: float = 0.5,
        session: requests.Session | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise MailuValidationError(f"Mailu API URL must be http(s)://host[/...], got {base_url!r}")
        root = base_url.rstrip("/")
        if not root.endswith("/api/v1"):
            root += "/api/v1"
        if not token or not isinstance(token, str) or len(token) < 4:
            raise MailuValidationError("a Mailu API token is required (at least 4 characters)")
        if retries < 0 or retries > 5:
            raise MailuValidationError("retries must be between 0 and 5")
        super().__init__(
            root,
            timeout=timeout,
            attempts=1 + retries,
            backoff=backoff,
            max_backoff=backoff * 2**retries,  # the backoff doubles for each retry, uncapped
            session=session or requests.Session(),
        )
        self.base_url = root
        self._session.verify = verify
        self._session.headers.update(
            {"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": "mailfleet"}
        )
        self._auth_failure: MailuAuthError | None = None

    def __repr__(self) -> str:  # never show the token
        return f"MailuClient({self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> MailuClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- transport
    def _request(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        if self._auth_failure is not None:
            # Refuse without sending: another wrong-token request would count against the limiter.
            raise MailuAuthError(
                f"not sent: this client's token was already rejected ({self._auth_failure.message})",
                status=self._auth_failure.status,
                method=method,
                path=path,
            )
        # Only reads are sent again: a write whose answer was lost may have been done.
        repeat = method == "GET"
        url = self.base_url + path

        def attempt() -> Any:
            started = self._monotonic()
            try:
                response = self._session.request(method, url, json=payload, timeout=self.timeout)
            except requests.exceptions.SSLError as exc:
                raise MailuUnavailableError(
                    f"TLS error talking to Mailu: {exc}", method=method, path=path
                ) from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                unanswered = MailuUnavailableError(
                    f"Mailu did not answer after {self.attempts if repeat else 1} attempt(s): "
                    f"{type(exc).__name__}",
                    method=method,
                    path=path,
                )
                if not repeat:
                    raise unanswered from None
                raise Retry(type(exc).__name__, final=unanswered) from None
            self.log.debug("%s %s -> %s in %.0f ms", method, path, response.status_code,
                      (self._monotonic() - started) * 1000)
            if repeat and response.status_code in _RETRY_STATUSES:
                try:
                    self._parse(response, method, path)
                except MailuError as exc:
                    raise Retry(f"HTTP {response.status_code}", final=exc) from None
            return self._parse(response, method, path)

        return self._retrying(f"{method} {path}", attempt)

    def _gave_up(self, what: str, last: str) -> Exception:
        # Every retried attempt carries its final error; this is only a safety net.
        return MailuUnavailableError(f"Mailu gave no usable answer to {what}: {last}")

    def _parse(self, response: requests.Response, method: str, path: str) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        status = response.status_code
        # Quirk: GET /domain/<invalid> answers 200 with {"code": 400, "message": ...}.
        embedded = body.get("code") if isinstance(body, dict) else None
        if status == 200 and isinstance(embedded, int) and embedded >= 400:
            status = embedded
        if status < 400:
            return strip_secrets(body)
        message = _error_message(body, response)
        if status in (401, 403):
            error = MailuAuthError(
                f"Mailu rejected the API token: {message}. Not retried: every wrong token counts "
                "against Mailu's per-IP rate limit (then 429 locks this client out). Fix the token "
                "in the secrets store.",
                status=status,
                method=method,
                path=path,
            )
            self._auth_failure = error
            raise error
        if status == 429:
            raise MailuRateLimitedError(
                f"rate limited by Mailu: {message}. Too many failed authentications from this IP; "
                "wait for the limit window (AUTH_RATELIMIT_IP) to pass",
                status=status,
                method=method,
                path=path,
            )
        kind: type[MailuError]
        if status == 400:
            kind = MailuValidationError
        elif status == 404:
            kind = MailuNotFoundError
        elif status == 409:
            limit = any(word in message.lower() for word in ("too many", "max_"))
            kind = MailuLimitReachedError if limit else MailuDuplicateError
        elif status >= 500:
            kind = MailuServerError
        else:
            kind = MailuError
        raise kind(message, status=status, method=method, path=path)

    # ------------------------------------------------------------------ general
    def check_auth(self) -> None:
        """One cheap authenticated call; raises :class:`MailuAuthError` for a wrong token."""
        self._request("GET", "/domain")

    # ------------------------------------------------------------------ domains
    def list_domains(self) -> list[dict]:
        return self._request("GET", "/domain")

    def get_domain(self, name: str) -> dict:
        return self._request("GET", f"/domain/{_valid_domain(name)}")

    def domain_dns_records(self, name: str) -> dict:
        """The ready zone lines of ``GET /domain/{d}`` that the dns role publishes."""
        domain = self.get_domain(name)
        return {key: domain.get(key) for key in DNS_RECORD_FIELDS}

    def create_domain(self, name: str, **fields: Any) -> None:
        payload = _check_fields("domain", fields, DOMAIN_FIELDS)
        payload["name"] = _valid_domain(name)
        if "alternatives" in payload:
            payload["alternatives"] = [_valid_domain(a) for a in payload["alternatives"]]
        self._request("POST", "/domain", payload)

    def update_domain(self, name: str, **fields: Any) -> None:
        payload = _check_fields("domain", fields, DOMAIN_FIELDS)
        if "alternatives" in payload:
            payload["alternatives"] = [_valid_domain(a) for a in payload["alternatives"]]
        self._request("PATCH", f"/domain/{_valid_domain(name)}", payload)

    def delete_domain(self, name: str) -> None:
        """Delete a domain. Mailu leaves its maildirs on disk: the caller cleans them up."""
        self._request("DELETE", f"/domain/{_valid_domain(name)}")

    def generate_dkim(self, name: str) -> None:
        """Generate a new DKIM key (replaces the old one: the published record must follow)."""
        self._request("POST", f"/domain/{_valid_domain(name)}/dkim")

    def list_domain_users(self, name: str) -> list[dict]:
        return self._request("GET", f"/domain/{_valid_domain(name)}/users")

    # --------------------------------------------------------------- alternatives
    def get_alternative(self, name: str) -> dict:
        return self._request("GET", f"/alternative/{_valid_domain(name)}")

    def delete_alternative(self, name: str) -> None:
        self._request("DELETE", f"/alternative/{_valid_domain(name)}")

    # -------------------------------------------------------------------- users
    def list_users(self) -> list[dict]:
        return self._request("GET", "/user")

    def get_user(self, email: str) -> dict:
        """The user without its ``password`` hash; includes ``quota_bytes_used``."""
        return self._request("GET", f"/user/{_q(_valid_email(email))}")

    def create_user(self, email: str, password: str, **fields: Any) -> None:
        payload = self._user_payload(email, password, fields)
        self._request("POST", "/user", payload)

    def update_user(self, email: str, **fields: Any) -> None:
        payload = _user_fields(fields)
        self._request("PATCH", f"/user/{_q(_valid_email(email))}", payload)

    def delete_user(self, email: str) -> None:
        self._request("DELETE", f"/user/{_q(_valid_email(email))}")

    def create_users(
        self, users: Iterable[Mapping[str, Any]], *, password_length: int = 20
    ) -> BulkCreateResult:
        """Create many mailboxes over one connection.

        Each item is ``{"email": ..., "password": ... (optional: generated when absent), **user
        fields}``. Every item is validated before the first request (one bad item: nothing sent).
        Per-item 404/409/400 are recorded and the batch goes on; auth, rate-limit and connection
        errors stop it (``aborted``; the rest are ``skipped``).
        """
        prepared: list[tuple[str, dict]] = []
        result = BulkCreateResult()
        seen: set[str] = set()
        for item in users:
            spec = dict(item)
            if "email" not in spec:
                raise MailuValidationError("every mailbox needs an 'email'")
            email = _valid_email(spec.pop("email"))
            if email in seen:
                raise MailuValidationError(f"{email} appears twice in the batch")
            seen.add(email)
            password = spec.pop("password", None)
            if password is None:
                password = generate_password(password_length)
                result.generated_passwords[email] = password
            prepared.append((email, self._user_payload(email, password, spec)))
        for index, (email, payload) in enumerate(prepared):
            started = self._monotonic()
            try:
                self._request("POST", "/user", payload)
            except (MailuAuthError, MailuRateLimitedError, MailuUnavailableError, MailuServerError) as exc:
                result.aborted = exc
                result.skipped = [e for e, _ in prepared[index:]]
                result.seconds[email] = self._monotonic() - started
                break
            except MailuError as exc:
                result.failed[email] = exc
            else:
                result.created.append(email)
            result.seconds[email] = self._monotonic() - started
        for email in list(result.generated_passwords):
            if email not in result.created:
                del result.generated_passwords[email]
        return result

    @staticmethod
    def _user_payload(email: str, password: str, fields: Mapping[str, Any]) -> dict:
        if "raw_password" in fields:
            raise MailuValidationError("pass the password as the 'password' argument, not raw_password")
        payload = _user_fields(fields)
        if not isinstance(password, str) or len(password) < 8:
            raise MailuValidationError("a mailbox password must be a string of at least 8 characters")
        payload["email"] = _valid_email(email)
        payload["raw_password"] = password
        return payload

    # ------------------------------------------------------------------ aliases
    def list_aliases(self) -> list[dict]:
        return self._request("GET", "/alias")

    def list_domain_aliases(self, domain: str) -> list[dict]:
        return self._request("GET", f"/alias/destination/{_valid_domain(domain)}")

    def get_alias(self, email: str) -> dict:
        return self._request("GET", f"/alias/{_q(_valid_email(email))}")

    def create_alias(self, email: str, destination: Iterable[str], **fields: Any) -> None:
        """Destinations must be existing local users (Mailu answers 404 otherwise)."""
        payload = _check_fields("alias", fields, ALIAS_FIELDS)
        payload["email"] = _valid_email(email)
        payload["destination"] = _valid_emails("destination", destination)
        if not payload["destination"]:
            raise MailuValidationError("an alias needs at least one destination")
        self._request("POST", "/alias", payload)

    def update_alias(self, email: str, **fields: Any) -> None:
        payload = _check_fields("alias", fields, ALIAS_FIELDS)
        if "destination" in payload:
            payload["destination"] = _valid_emails("destination", payload["destination"])
        self._request("PATCH", f"/alias/{_q(_valid_email(email))}", payload)

    def delete_alias(self, email: str) -> None:
        self._request("DELETE", f"/alias/{_q(_valid_email(email))}")

    # ------------------------------------------------------------------- relays
    def list_relays(self) -> list[dict]:
        return self._request("GET", "/relay")

    def get_relay(self, name: str) -> dict:
        return self._request("GET", f"/relay/{_valid_domain(name)}")

    def create_relay(self, name: str, **fields: Any) -> None:
        payload = _relay_fields(name, fields)
        payload["name"] = _valid_domain(name)
        self._request("POST", "/relay", payload)

    def update_relay(self, name: str, **fields: Any) -> None:
        payload = _relay_fields(name, fields)
        self._request("PATCH", f"/relay/{_valid_domain(name)}", payload)

    def delete_relay(self, name: str) -> None:
        self._request("DELETE", f"/relay/{_valid_domain(name)}")

    # ------------------------------------------------------------------- tokens
    def list_tokens(self) -> list[dict]:
        return self._request("GET", "/token")

    def get_token(self, token_id: int | str) -> dict:
        return self._request("GET", f"/token/{_token_id(token_id)}")

    def list_user_tokens(self, email: str) -> list[dict]:
        # Quirk of the real server: /tokenuser/<email>, no slash between.
        return self._request("GET", f"/tokenuser/{_q(_valid_email(email))}")

    def create_token(self, email: str, **fields: Any) -> dict:
        """Create a user token. The answer carries the new ``token`` once: store it, never log it."""
        payload = _check_fields("token", fields, TOKEN_FIELDS)
        payload["email"] = _valid_email(email)
        return self._request("POST", "/token", payload)

    def update_token(self, token_id: int | str, **fields: Any) -> None:
        payload = _check_fields("token", fields, TOKEN_FIELDS)
        self._request("PATCH", f"/token/{_token_id(token_id)}", payload)

    def delete_token(self, token_id: int | str) -> None:
        self._request("DELETE", f"/token/{_token_id(token_id)}")


def _user_fields(fields: Mapping[str, Any]) -> dict:
    payload = _check_fields("user", fields, USER_FIELDS)
    if "forward_destination" in payload:
        payload["forward_destination"] = _valid_emails("forward_destination", payload["forward_destination"])
    return payload


def _q(segment: str) -> str:
    return quote(segment, safe="@")


def _token_id(token_id: int | str) -> str:
    text = str(token_id)
    if not text.isdigit():
        raise MailuValidationError(f"token id must be a number, got {token_id!r}")
    return text


def _error_message(body: Any, response: requests.Response) -> str:
    if isinstance(body, dict):
        message = str(body.get("message") or "")
        errors = body.get("errors")
        if isinstance(errors, dict) and errors:
            details = "; ".join(f"{k}: {v}" for k, v in errors.items())
            message = f"{message} ({details})" if message else details
        if message:
            return message
    return response.reason or f"HTTP {response.status_code}"
