"""Notifications on change: email through the configured SMTP relay, and JSON webhooks signed with
HMAC-SHA256 over `<timestamp>.<body>` (the timestamp is signed so a captured request cannot be
replayed later). Secrets (relay password, webhook key) never appear in repr(), errors or logs."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

import requests

from .alerts import Channel, Notification, NotificationKind
from .errors import MonitoringConfigError, NotificationError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Mailfleet-Signature"
TIMESTAMP_HEADER = "X-Mailfleet-Timestamp"
REPLAY_WINDOW_S = 300
#: Seconds before the one retry of a failed notification (a receiver restarting, an SMTP relay's
#: greylisting); then it is logged and counted.
RETRY_DELAY = 2.0


def payload(n: Notification) -> dict[str, Any]:
    a = n.alert
    return {
        "event": n.kind.value,
        "channel": n.channel.value,
        "at": n.at.isoformat(),
        "alert": {
            "key": a.key, "server": a.server, "check": a.check, "severity": a.severity.value,
            "state": a.state.value, "opened_at": a.opened_at.isoformat(), "detail": a.detail, "link": a.link,
            "acknowledged_by": a.acknowledged_by,
            "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
        },
    }


_VERB = {
    NotificationKind.OPENED: "OPEN",
    NotificationKind.SEVERITY_RAISED: "WORSE",
    NotificationKind.ESCALATED: "ESCALATED",
    NotificationKind.RESOLVED: "RESOLVED",
}


def subject(n: Notification) -> str:
    a = n.alert
    return f"[mailfleet] {_VERB[n.kind]} {a.severity.value}: {a.server} {a.check}"


def body_text(n: Notification) -> str:
    a = n.alert
    lines = [subject(n), "", f"server:   {a.server}", f"check:    {a.check}",
             f"severity: {a.severity.value}", f"state:    {a.state.value}",
             f"opened:   {a.opened_at.isoformat()}", f"detail:   {a.detail}"]
    if a.link:
        lines.append(f"see:      {a.link}")
    lines += ["", "timeline:"]
    lines += [f"  {e.at.isoformat()} {e.kind.value} {e.detail}".rstrip() for e in a.events]
    return "\n".join(lines) + "\n"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    return "v1=" + hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, timestamp: str, body: bytes, signature: str,
                     now: float | None = None, window_s: int = REPLAY_WINDOW_S) -> bool:
    """For receivers: the signature matches and the timestamp is within the replay window."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > window_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


class Notifier(Protocol):
    name: str

    def send(self, notification: Notification) -> None: ...


@dataclass(frozen=True)
class EmailNotifier:
    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    ca_file: str | None = None
    name: str = "email"

    def __post_init__(self) -> None:
        if not self.recipients:
            raise MonitoringConfigError("email notifier needs at least one recipient")
        for addr in (self.sender, *self.recipients):
            if "@" not in addr or any(ch in addr for ch in "\r\n<>, "):
                raise MonitoringConfigError(f"email notifier: {addr!r} is not an email address")
        if (self.username is None) != (self.password is None):
            raise MonitoringConfigError("email notifier: give both username and password, or neither")

    def send(self, notification: Notification) -> None:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Subject"] = subject(notification)
        msg["X-Mailfleet-Alert"] = notification.alert.key
        msg.set_content(body_text(notification))
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=self.ca_file))
                if self.username is not None and self.password is not None:
                    smtp.login(self.username, self.password)
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotificationError(f"email via {self.host}:{self.port} failed: {type(exc).__name__}: "
                                    f"{_safe(exc)}") from None


@dataclass(frozen=True)
class WebhookNotifier:
    url: str
    secret: bytes = field(repr=False)
    timeout: float = 10.0
    name: str = "webhook"

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise MonitoringConfigError("webhook url must be http(s)")
        if len(self.secret) < 16:
            raise MonitoringConfigError("webhook secret must be at least 16 bytes")

    def send(self, notification: Notification) -> None:
        body = json.dumps(payload(notification), sort_keys=True).encode()
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: sign(self.secret, timestamp, body)}
        try:
            response = requests.post(self.url, data=body, headers=headers, timeout=self.timeout,
                                     allow_redirects=False)
        except requests.RequestException as exc:
            raise NotificationError(f"webhook {self.url} failed: {type(exc).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise NotificationError(f"webhook {self.url} answered HTTP {response.status_code}")


def _safe(exc: BaseException) -> str:
    # smtplib errors carry the server's reply, never our credentials; cap the length anyway.
    return str(exc)[:200]


@dataclass(frozen=True)
class Delivery:
    notification: Notification
    notifier: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class NotificationRouter:
    """Primary notifiers get every notification on the primary channel; escalation notifiers get
    the escalation channel. One failing notifier does not stop the others."""

    primary: Sequence[Notifier] = ()
    escalation: Sequence[Notifier] = ()

    def deliver(self, notifications: Sequence[Notification]) -> list[Delivery]:
        out: list[Delivery] = []
        for n in notifications:
            targets = self.primary if n.channel is Channel.PRIMARY else self.escalation
            for notifier in targets:
                try:
                    notifier.send(n)
                except NotificationError as exc:
                    log.warning("notification %s %s via %s failed: %s", n.kind.value, n.alert.key,
                                notifier.name, exc)
                    out.append(Delivery(n, notifier.name, str(exc)))
                else:
                    out.append(Delivery(n, notifier.name))
        return out


def deliver_with_retry(
    router: NotificationRouter, notes: Sequence[Any], delay: float = RETRY_DELAY
) -> list[Delivery]:
    """Deliver; resend each failed (notification, notifier) once after `delay` seconds."""
    deliveries = router.deliver(notes)
    failed = [d for d in deliveries if not d.ok]
    if not failed:
        return deliveries
    time.sleep(delay)
    by_name = {n.name: n for n in (*router.primary, *router.escalation)}
    final = [d for d in deliveries if d.ok]
    for d in failed:
        try:
            by_name[d.notifier].send(d.notification)
        except Exception as exc:  # noqa: BLE001 - NotificationError and anything else: counted, logged
            log.warning("notification retry via %s failed: %s", d.notifier, type(exc).__name__)
            final.append(Delivery(d.notification, d.notifier, str(exc)[:200]))
        else:
            final.append(Delivery(d.notification, d.notifier))
    return final
